//! The fuzz targets' seed corpus, written from one sample of each message.

use super::strategies::{client_variant, frames_of, server_variant};
use nettool::wire::binary;
use nettool::wire::{ClientMsg, LeaveReason, MemberInfo, Proto, Refusal, ServerMsg};

// ---- Fuzz seed corpus -----------------------------------------------------------------

/// One of each message, small: the seeds the fuzz targets start from.
fn samples() -> (Vec<ClientMsg>, Vec<ServerMsg>) {
    let client = vec![
        ClientMsg::Hello {
            nick: Some("alice".into()),
        },
        ClientMsg::Hello { nick: None },
        ClientMsg::Say {
            seq: 1,
            sent_us: 1_700_000_000_000_000,
            text: "hi é\n".into(),
        },
        ClientMsg::Nick("bob".into()),
        ClientMsg::Who,
        ClientMsg::Ping { t_us: 300 },
        ClientMsg::Bye,
    ];
    let server = vec![
        ServerMsg::Welcome {
            nick: "alice".into(),
            proto: Proto::Udp,
            members: 2,
            keepalive_ms: 5000,
        },
        ServerMsg::Chat {
            from: "bob".into(),
            seq: u64::MAX,
            sent_us: 7,
            text: "x\r\u{1b}".into(),
        },
        ServerMsg::Joined {
            nick: "c".into(),
            proto: Proto::Tcp,
        },
        ServerMsg::Left {
            nick: "c".into(),
            reason: LeaveReason::BadInput("big".into()),
        },
        ServerMsg::Renamed {
            old: "a".into(),
            new: "b".into(),
        },
        ServerMsg::Members(vec![MemberInfo {
            nick: "a".into(),
            proto: Proto::Tcp,
            online_s: 3,
            server: None,
        }]),
        ServerMsg::Pong { t_us: 1 },
        ServerMsg::Error("no".into()),
        ServerMsg::Bye {
            reason: LeaveReason::TimedOut,
        },
        ServerMsg::Refused(Refusal::ServerFull { max: 4 }),
        ServerMsg::Dropped { count: 37 },
        ServerMsg::Challenge {
            code: "K7Q2MX".into(),
        },
        ServerMsg::Expired {
            idle_ms: 30_000,
            code: "K7Q2MX".into(),
        },
        ServerMsg::IdleWarning { in_ms: 10_000 },
        ServerMsg::Notice("cluster link lost".into()),
    ];
    (client, server)
}

/// Writes `fuzz/corpus/<target>/seed-*`. Run after changing the messages:
/// `cargo test --test it wire_props:: -- --ignored write_fuzz_seed_corpus`.
#[test]
#[ignore = "writes the fuzz seed corpus into the source tree"]
fn write_fuzz_seed_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
    };
    let (client, server) = samples();
    // frame: a chunk-size byte, then frames.
    let mut stream = vec![6u8];
    stream.extend(frames_of(&client));
    write("frame", "client", &stream);
    let mut stream = vec![0u8];
    stream.extend(frames_of(&server));
    write("frame", "server", &stream);
    write(
        "frame",
        "huge-length",
        &[3, 0xff, 0xff, 0xff, 0xff, 1, 2, 3],
    );
    for m in &client {
        let name = format!("client-{}", client_variant(m).to_lowercase());
        write(
            "datagram",
            &name,
            &binary::encode_datagram(m).expect("encode"),
        );
    }
    for m in &server {
        let name = format!("server-{}", server_variant(m).to_lowercase());
        write(
            "datagram",
            &name,
            &binary::encode_datagram(m).expect("encode"),
        );
        write("render", &name, &binary::encode(m).expect("encode"));
    }
    write(
        "line",
        "commands",
        b"\x05hello\n/nick bob\r\n/who\n/quit\n/x y\n",
    );
    write("line", "bad-utf8", b"\x00\xff\xfe\nok\n\xc3\x28\n");
    write("line", "long", &[b'y'; 300]);
}
