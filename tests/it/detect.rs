//! How a TCP server tells a nettool client from a text peer, at the edge: a nettool
//! client whose preamble comes after the detect window (a path slower than the window,
//! or a stalled host) has been welcomed as a text peer that listens first. Its preamble
//! and frames must not reach the room as lines of garbage: it is told why, and closed.

use crate::harness;

use harness::{assert_nothing_before_sentinel, Member, Peer, TcpText, TestServer};
use nettool::chat::ServerConfig;
use nettool::wire::binary::{self, PREAMBLE};
use nettool::wire::{ClientMsg, Proto};

#[tokio::test]
async fn a_preamble_after_the_detect_window_is_refused_and_reaches_no_one() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut late = TcpText::connect(server.addr).await;
    // Silent through the window: welcomed as a text peer (the event that shows the
    // window has passed), and announced.
    let welcome = late.line().await;
    let nick = welcome
        .strip_prefix("* you are ")
        .and_then(|r| r.split(';').next())
        .unwrap_or_else(|| panic!("not a welcome: {welcome:?}"))
        .to_string();
    alice.expect(&format!("* {nick} joined (tcp)")).await;
    // Now what a nettool client sends after the banner: the preamble, then its Hello.
    let hello = binary::encode_frame(&ClientMsg::Hello {
        nick: Some("carol".into()),
    })
    .expect("encode");
    late.send(PREAMBLE).await;
    late.send(&hello).await;
    let told = late.line().await;
    assert!(
        told.starts_with("! a nettool preamble after the server's detect window"),
        "{told:?}"
    );
    late.expect_eof().await;
    let left = alice.line().await;
    assert!(
        left.starts_with(&format!("* {nick} left (bad input: a nettool preamble")),
        "{left:?}"
    );
    // Nothing it sent became a line in the room.
    assert_nothing_before_sentinel(&mut alice, &mut bob).await;
    server.stop().await;
}
