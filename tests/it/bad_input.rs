//! Bad input on the chat paths: each offender gets its error (or is dropped with a
//! reason), and the other members carry on.

use crate::harness;

use futures_util::StreamExt;
use harness::{raw_binary, Member, Peer, TcpText, TestServer, UdpText, WAIT};
use nettool::chat::ServerConfig;
use nettool::wire::binary::{self, FrameCodec};
use nettool::wire::{ClientMsg, Proto, ServerMsg};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::FramedRead;

fn small_lines() -> ServerConfig {
    let mut cfg = ServerConfig::default();
    cfg.tcp.max_line = 64;
    cfg
}

#[tokio::test]
async fn oversize_lines_are_refused_and_the_peer_carries_on() {
    let server = TestServer::start(&[Proto::Tcp], small_lines()).await;
    let mut alice = Member::join(server.addr, Proto::Tcp, "alice").await;
    let mut t = TcpText::connect(server.addr).await;
    t.send_line("first").await;
    t.expect("* you are guest1; 2 online").await;
    alice.expect("* guest1 joined (tcp)").await;
    alice.expect("guest1: first").await;

    t.send_line(&"x".repeat(100)).await;
    t.expect("! input longer than 64 bytes refused").await;
    // A 1 MiB line with no newline: refused once, discarded, never buffered whole.
    t.send(&vec![b'y'; 1 << 20]).await;
    t.send(b"\nstill here\n").await;
    t.expect("! input longer than 64 bytes refused").await;
    alice.expect("guest1: still here").await;
    let stats = server.stop().await;
    assert_eq!(stats.invalid, 2);
}

#[tokio::test]
async fn invalid_utf8_is_refused_and_the_peer_carries_on() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let mut alice = Member::join(server.addr, Proto::Tcp, "alice").await;
    let mut t = TcpText::connect(server.addr).await;
    t.send(b"\xff\xfe not utf-8\n").await;
    t.expect("* you are guest1; 2 online").await;
    t.expect("! invalid UTF-8 refused").await;
    t.send_line("fine").await;
    alice.expect("* guest1 joined (tcp)").await;
    alice.expect("guest1: fine").await;
    server.stop().await;
}

/// Every message the server sends on `s` until it closes.
async fn read_to_close(s: TcpStream) -> Vec<ServerMsg> {
    let mut frames = FramedRead::new(s, FrameCodec::<ServerMsg, ()>::new(1 << 16));
    let mut got = Vec::new();
    while let Some(item) = timeout(WAIT, frames.next()).await.expect("close in time") {
        match item {
            Ok(Ok(m)) => got.push(m),
            Ok(Err(e)) => panic!("server sent a malformed frame: {e}"),
            Err(_) => break, // reset after close is fine
        }
    }
    got
}

#[tokio::test]
async fn a_4_gib_length_prefix_drops_only_the_offender() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut m = raw_binary(server.addr, "mallory").await;
    alice.expect("* mallory joined (tcp)").await;
    m.write_all(&u32::MAX.to_be_bytes()).await.expect("write");
    m.write_all(b"and then some").await.expect("write");
    let why = "bad input: input longer than 65536 bytes refused";
    alice.expect(&format!("* mallory left ({why})")).await;
    let got = read_to_close(m).await;
    assert!(
        got.contains(&ServerMsg::Error(
            "input longer than 65536 bytes refused".into()
        )),
        "{got:?}"
    );
    // The others carry on.
    alice.say("still chatting").await;
    bob.wait_for("alice: still chatting").await;
    server.stop().await;
}

#[tokio::test]
async fn garbage_frames_after_the_preamble_get_errors_then_a_drop() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let mut alice = Member::join(server.addr, Proto::Tcp, "alice").await;
    let mut m = raw_binary(server.addr, "mallory").await;
    alice.expect("* mallory joined (tcp)").await;
    // Well-framed nonsense: an error each, and the connection stays...
    m.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .expect("write");
    let say = binary::encode_frame(&ClientMsg::Say {
        seq: 1,
        sent_us: 0,
        text: "after garbage".into(),
    })
    .expect("encode");
    m.write_all(&say).await.expect("write");
    alice.expect("mallory: after garbage").await;
    // ...until too many: then it is dropped.
    for _ in 0..9 {
        m.write_all(&[0, 0, 0, 2, 0xfe, 0xfe]).await.expect("write");
    }
    alice
        .expect("* mallory left (bad input: too many malformed frames)")
        .await;
    let got = read_to_close(m).await;
    let errors = got
        .iter()
        .filter(|m| matches!(m, ServerMsg::Error(e) if e.starts_with("malformed message refused")))
        .count();
    assert_eq!(errors, 8, "eight tolerated: {got:?}");
    assert!(
        got.contains(&ServerMsg::Error("too many malformed frames".into())),
        "the offender is told why: {got:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_datagrams_are_refused_and_the_peer_carries_on() {
    let server = TestServer::start(&[Proto::Udp], ServerConfig::default()).await;
    let mut alice = Member::join(server.addr, Proto::Udp, "alice").await;
    let mut t = UdpText::join(server.addr).await;
    t.send_line("hi").await;
    t.expect("* you are guest1; 2 online").await;
    alice.expect("* guest1 joined (udp)").await;
    alice.expect("guest1: hi").await;

    t.send(&vec![b'z'; 2000]).await;
    t.expect("! datagram of 2000 bytes refused: the maximum is 1200")
        .await;
    t.send(b"\xc3\x28 broken\n").await;
    t.expect("! invalid UTF-8 refused").await;
    t.send(&[0, 1, 0xff, 0xff, 0xff]).await;
    let line = t.line().await;
    assert!(line.starts_with("! malformed message refused"), "{line}");
    t.send(&[0, 9, 1, 2]).await;
    let line = t.line().await;
    assert!(line.starts_with("! malformed message refused"), "{line}");
    t.send(b"").await; // empty: a keepalive, nothing to relay
    t.send_line("still here").await;
    alice.expect("guest1: still here").await;
    let stats = server.stop().await;
    assert_eq!(stats.invalid, 4);
}

#[tokio::test]
async fn unknown_binary_sources_get_no_more_bytes_than_they_sent() {
    let server = TestServer::start(&[Proto::Udp], ServerConfig::default()).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(server.addr).await.unwrap();
    // A Ping from an address that never said Hello: told it is not a member, in a reply
    // no larger than the datagram.
    let ping = binary::encode_datagram(&ClientMsg::Ping { t_us: 1 }).unwrap();
    sock.send(&ping).await.unwrap();
    let mut buf = [0u8; 2048];
    let n = timeout(WAIT, sock.recv(&mut buf)).await.unwrap().unwrap();
    assert!(n <= ping.len(), "reply {n} > request {}", ping.len());
    let reply: ServerMsg = binary::decode_datagram(&buf[..n]).unwrap();
    assert!(matches!(reply, ServerMsg::Bye { .. }), "{reply:?}");
    server.stop().await;
}
