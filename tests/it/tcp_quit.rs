//! After `/quit` the server ends the connection itself: the goodbye, a FIN, and, if the
//! peer keeps its side open (netcat does, while its stdin is open), a reset a moment
//! later, so the peer notices without typing another line. A peer that closes its side
//! in answer is not reset.

use crate::harness::{Member, Peer, TcpText, TestServer, WAIT};
use crate::process::require_tool;
use nettool::chat::ServerConfig;
use nettool::wire::Proto;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Interest};
use tokio::process::Command;
use tokio::time::timeout;

/// A text peer that said `/quit` and read the goodbye: its stream, the server still up.
async fn quit_text_peer() -> (TestServer, tokio::net::TcpStream) {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let mut t = TcpText::connect(server.addr).await;
    t.send_line("/quit").await;
    t.wait_for("* disconnected: quit").await;
    (server, t.into_stream())
}

#[tokio::test]
async fn a_text_peer_that_keeps_its_side_open_after_quit_is_reset() {
    let (server, mut s) = quit_text_peer().await;
    let mut rest = Vec::new();
    let eof = timeout(WAIT, s.read_to_end(&mut rest)).await;
    assert!(
        matches!(eof, Ok(Ok(0))),
        "FIN after the goodbye: {eof:?} {rest:?}"
    );
    // We keep our side open, as netcat does: the server resets the connection.
    let ready = timeout(WAIT, s.ready(Interest::ERROR))
        .await
        .expect("a reset in time")
        .expect("ready");
    assert!(ready.is_error(), "{ready:?}");
    let write = s.write_all(b"still here?\n").await;
    assert!(write.is_err(), "writing to a reset connection fails");
    server.stop().await;
}

#[tokio::test]
async fn a_peer_that_closes_in_answer_is_not_reset() {
    // A linger far longer than this test: the server may reset only a peer that has not
    // closed its side within it, so a reset seen here is one the server should not have
    // sent, however slowly a busy machine runs the steps below.
    let mut cfg = ServerConfig::default();
    cfg.tcp.close_linger = Duration::from_secs(60);
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut t = TcpText::connect(server.addr).await;
    t.send_line("/quit").await;
    t.wait_for("* disconnected: quit").await;
    let mut s = t.into_stream();
    let mut rest = Vec::new();
    let eof = timeout(WAIT, s.read_to_end(&mut rest)).await;
    assert!(matches!(eof, Ok(Ok(0))), "FIN after the goodbye: {eof:?}");
    // Before answering, give the server its turn: a line through the room needs the
    // server's tasks to run, and a server that resets without waiting for the answer
    // (at its FIN, or when the room forgets the peer) has done so by then.
    alice.wait_for("* guest1 left (quit)").await;
    alice.say("after the quit").await;
    bob.wait_for("alice: after the quit").await;
    // Our FIN in answer: both sides closed in order, nothing more, no error (a reset
    // would leave EPIPE or ECONNRESET here).
    s.shutdown().await.expect("our FIN");
    let r = timeout(WAIT, s.read(&mut [0u8; 16])).await;
    assert!(matches!(r, Ok(Ok(0))), "{r:?}");
    assert!(s.take_error().expect("SO_ERROR").is_none());
    server.stop().await;
}

/// The case of the report: `nc` with its stdin still open exits by itself after
/// `/quit`, without another line typed.
#[tokio::test]
async fn netcat_exits_after_quit_with_its_stdin_open() {
    if !require_tool("nc") {
        return;
    }
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let mut nc = Command::new("nc")
        .args(["127.0.0.1", &server.addr.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start nc");
    let mut stdin = nc.stdin.take().expect("stdin");
    let mut out = BufReader::new(nc.stdout.take().expect("stdout")).lines();
    stdin.write_all(b"/quit\n").await.expect("type /quit");
    let mut seen = Vec::new();
    loop {
        match timeout(WAIT, out.next_line()).await {
            Ok(Ok(Some(l))) => seen.push(l),
            other => panic!("nc output ended early ({other:?}): {seen:?}"),
        }
        if seen.last().map(String::as_str) == Some("* disconnected: quit") {
            break;
        }
    }
    let status = timeout(WAIT, nc.wait())
        .await
        .expect("nc exits with its stdin still open")
        .expect("wait");
    drop(stdin);
    assert!(status.code().is_some(), "{status:?}");
    server.stop().await;
}
