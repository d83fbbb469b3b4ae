//! A room's server against what its broker does to it: a flood that makes it a slow
//! consumer (counted, logged, memory bounded, chat going on), a token it is refused,
//! and a broker that serves TLS (joined with the CA from `NETTOOL_NATS_CA`).

use crate::cluster::cluster_server;
use crate::cluster_faults::refused;
use crate::harness::{Member, Peer};
use crate::process::broker::Broker;
use crate::process::{nettool, proc_status, Proc};
use futures_util::StreamExt;
use nettool::cluster::bus::{self, Header, Kind};
use nettool::wire::Proto;
use std::time::Duration;
use tokio::time::timeout;

/// Publications per burst of the flood.
const BURST: u64 = 50_000;
/// Bursts: 300 000 publications, ~25 MB on the wire, well over 64 MiB held as messages.
const BURSTS: u64 = 6;

/// A connected plain client of `broker` (with `token`, if given), subscribed to room
/// `main`'s subject.
async fn peer(
    broker: &Broker,
    token: Option<&str>,
) -> (async_nats::Client, async_nats::Subscriber) {
    let opts = match token {
        Some(t) => async_nats::ConnectOptions::with_token(t.to_string()),
        None => async_nats::ConnectOptions::new(),
    };
    let client = opts
        .no_echo()
        .connect(broker.url())
        .await
        .expect("a test client connects");
    let sub = client
        .subscribe("nettool.chat.main")
        .await
        .expect("subscribe");
    (client, sub)
}

#[tokio::test]
async fn a_flood_that_outruns_the_server_is_a_slow_consumer_counted_with_memory_bounded() {
    let Some(broker) = Broker::start(&[]).await else {
        return;
    };
    let url = broker.url();
    let (mut s1, a1) = cluster_server(&url, "s1").await;
    let (client, mut sub) = peer(&broker, None).await;
    // s1 is on the bus (subscribed before its first publication) once it is heard.
    timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("s1 publishes within 10 s")
        .expect("subscription open");
    drop(sub);
    let rss_before = proc_status(s1.pid(), "VmRSS:");
    // Heartbeats of a server that does not exist, as fast as the client can publish:
    // the broker passes them on faster than s1 takes them off its connection. All of
    // them, whenever s1 first reports: an unbounded queue would hold far more than the
    // bound below allows.
    let mut seq = 0u64;
    for _ in 0..BURSTS {
        for _ in 0..BURST {
            seq += 1;
            let header = Header {
                server: "flood".into(),
                boot: 1,
                seq,
                kind: Kind::Heartbeat { members: 0 },
            };
            let p = bus::start(&header).freeze();
            client
                .publish("nettool.chat.main", p)
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    }
    s1.stderr_containing("cluster: slow consumer").await;
    // Bounded: the client's queue holds at most 1 024 publications, whatever came in.
    let peak = proc_status(s1.pid(), "VmHWM:");
    assert!(
        peak < rss_before + 64 * 1024,
        "s1 grew from {rss_before} KiB to a peak of {peak} KiB under the flood"
    );
    // The room goes on.
    let (mut a, mut b) = Member::pair(a1, Proto::Tcp).await;
    a.say("after the flood").await;
    b.wait_for("alice: after the flood").await;
    // Counted: the count is in the closing summary.
    s1.signal("TERM").await;
    let line = s1.stderr_containing("cluster closed").await;
    let count: u64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("slow_consumer="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no slow_consumer count in {line:?}"));
    assert!(count >= 1, "{line}");
}

#[tokio::test]
async fn a_refused_token_is_one_line_and_the_right_one_joins() {
    let Some(broker) = Broker::start(&["--auth", "t0ken"]).await else {
        return;
    };
    let url = broker.url();
    let creds = "refused this server's credentials";
    refused(&url, &[], creds).await;
    refused(&url, &[("NETTOOL_NATS_TOKEN", "wrong")], creds).await;
    let both = [("NETTOOL_NATS_TOKEN", "t0ken"), ("NETTOOL_NATS_USER", "u")];
    refused(&url, &both, "go together").await;
    let mut p = Proc::spawn_env(
        "s1",
        nettool(),
        &[
            "chat",
            "-l",
            "127.0.0.1:0",
            "--cluster",
            &url,
            "--name",
            "s1",
        ],
        &[("NETTOOL_NATS_TOKEN", "t0ken")],
    );
    p.stderr_containing("serving tcp on").await;
    let (_client, mut sub) = peer(&broker, Some("t0ken")).await;
    timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("s1 publishes on the broker within 10 s")
        .expect("subscription open");
}

#[tokio::test]
async fn a_broker_serving_tls_is_joined_with_the_ca_from_the_environment() {
    let dir = std::env::temp_dir().join(format!(
        "nettool-nats-tls-{}-{}",
        std::process::id(),
        nettool::wire::now_us()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("a certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key");
    let (c, k) = (cert.to_str().expect("UTF-8"), key.to_str().expect("UTF-8"));
    let Some(broker) = Broker::start(&["--tls", "--tlscert", c, "--tlskey", k]).await else {
        return;
    };
    let tls = format!("tls://127.0.0.1:{}", broker.port);
    // Without the CA the broker's certificate is not trusted, whether the URL asked for
    // TLS or the broker did: one line each, exit 1.
    let untrusted = "its certificate is not trusted (NETTOOL_NATS_CA";
    refused(&tls, &[], untrusted).await;
    refused(&broker.url(), &[], untrusted).await;
    // With it, two servers make one room over TLS.
    let env = [("NETTOOL_NATS_CA", c)];
    let mut addrs = Vec::new();
    let mut procs = Vec::new();
    for name in ["s1", "s2"] {
        let args = [
            "chat",
            "-l",
            "127.0.0.1:0",
            "--proto",
            "both",
            "--cluster",
            &tls,
            "--name",
            name,
        ];
        let mut p = Proc::spawn_env(name, nettool(), &args, &env);
        let line = p.stderr_containing("serving tcp+udp on").await;
        let addr: std::net::SocketAddr = (line.rsplit(' ').next())
            .and_then(|a| a.parse().ok())
            .expect("address");
        addrs.push(addr);
        procs.push(p);
    }
    crate::process::broker::linked(&mut procs[0], &["s2"]).await;
    let mut t = Member::join(addrs[0], Proto::Tcp, "t").await;
    let mut u = Member::join(addrs[1], Proto::Udp, "u").await;
    t.wait_for("* u joined (udp)").await;
    u.say("over tls").await;
    t.wait_for("u: over tls").await;
    let _ = std::fs::remove_dir_all(&dir);
}
