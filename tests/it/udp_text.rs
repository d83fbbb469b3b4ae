//! A person with `nc -u`, as a raw UDP socket: whatever the length of the first line,
//! the answer says what to do (within 3× of it); the challenge reads as the README
//! shows it; an idle member is warned before it is dropped, and told it was dropped
//! when it speaks again. Idle timing runs on tokio's paused clock.

use crate::harness::{Member, Peer, TestServer};
use nettool::chat::ServerConfig;
use nettool::wire::Proto;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// Longer than any timer here, on the paused clock too.
const LONG: Duration = Duration::from_secs(120);

async fn peer(server: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    s.connect(server).await.expect("connect");
    s
}

/// Send `line` and its newline; the one datagram that answers it, as text.
async fn ask(s: &UdpSocket, line: &str) -> String {
    let sent = format!("{line}\n");
    s.send(sent.as_bytes()).await.expect("send");
    next(s).await
}

async fn next(s: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65_536];
    let n = timeout(LONG, s.recv(&mut buf))
        .await
        .expect("an answer in time")
        .expect("recv");
    String::from_utf8(buf[..n].to_vec()).expect("utf-8")
}

/// The code at the end of an answer (`… /ok K7Q2MX\n`).
fn code_of(answer: &str) -> String {
    let (_, code) = answer
        .trim_end()
        .rsplit_once("/ok ")
        .unwrap_or_else(|| panic!("no code in {answer:?}"));
    assert_eq!(code.len(), 6, "{answer:?}");
    code.to_string()
}

#[tokio::test]
async fn a_short_first_line_is_told_to_send_a_longer_one_and_can_join() {
    let server = TestServer::start(&[Proto::Udp], ServerConfig::default()).await;
    let s = peer(server.addr).await;
    // `hi` and its newline: 3 bytes, so at most 9 back.
    let hint = ask(&s, "hi").await;
    assert_eq!(hint, "* /join\n");
    assert!(hint.len() <= 9);
    let challenge = ask(&s, "/join").await;
    let code = code_of(&challenge);
    assert_eq!(challenge, format!("* type /ok {code}\n"));
    assert!(challenge.len() <= 3 * "/join\n".len());
    assert_eq!(
        ask(&s, &format!("/ok {code}")).await,
        "* you are guest1; 1 online\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_challenge_reads_as_documented_and_shortens_only_to_fit() {
    let server = TestServer::start(&[Proto::Udp], ServerConfig::default()).await;
    let s = peer(server.addr).await;
    let long = ask(&s, "hello, anyone?").await;
    let code = code_of(&long);
    assert_eq!(long, format!("* to join, send the line: /ok {code}\n"));
    assert_eq!(ask(&s, "hello").await, format!("* type /ok {code}\n"));
    assert_eq!(ask(&s, "hey!").await, format!("* /ok {code}\n"));
    // One character and its newline: nothing fits 6 bytes.
    s.send(b"x\n").await.expect("send");
    assert_eq!(ask(&s, "anyone there?").await, long, "x got no answer");
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_text_member_is_warned_then_dropped_then_told_so() {
    let server = TestServer::start(&[Proto::Tcp, Proto::Udp], ServerConfig::default()).await;
    let mut watcher = Member::join(server.addr, Proto::Tcp, "watcher").await;
    let s = peer(server.addr).await;
    let code = code_of(&ask(&s, "hello, anyone?").await);
    assert_eq!(
        ask(&s, &format!("/ok {code}")).await,
        "* you are guest1; 2 online\n"
    );
    watcher.expect("* guest1 joined (udp)").await;
    // Silent: warned at two thirds of the 30 s idle timeout, a third before the drop.
    let start = tokio::time::Instant::now();
    assert_eq!(
        next(&s).await,
        "* you will be dropped in 10 s unless you send something\n"
    );
    let warned_after = start.elapsed();
    assert!(
        (Duration::from_secs(20)..Duration::from_secs(24)).contains(&warned_after),
        "{warned_after:?}"
    );
    // Still a member until the 10 s have passed.
    tokio::time::sleep(Duration::from_secs(9)).await;
    watcher.say("ping").await;
    assert_eq!(next(&s).await, "watcher: ping\n");
    tokio::time::sleep(Duration::from_secs(5)).await;
    watcher.expect("* guest1 left (timed out)").await;
    // Its next line is not relayed: it is told it was dropped, with a code to rejoin.
    let told = ask(&s, "sorry, I was away. did I miss anything?").await;
    let code = code_of(&told);
    assert_eq!(
        told,
        format!("* you were dropped after 30 s of silence; to rejoin, send the line: /ok {code}\n")
    );
    assert!(told.len() <= 3 * "sorry, I was away. did I miss anything?\n".len());
    assert_eq!(ask(&s, "hi").await, "* /join\n");
    s.send(format!("/ok {code}\nI am back\n").as_bytes())
        .await
        .expect("send");
    assert_eq!(next(&s).await, "* you are guest2; 2 online\n");
    watcher.expect("* guest2 joined (udp)").await;
    watcher.expect("guest2: I am back").await;
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_warned_member_that_speaks_stays() {
    let server = TestServer::start(&[Proto::Tcp, Proto::Udp], ServerConfig::default()).await;
    let mut watcher = Member::join(server.addr, Proto::Tcp, "watcher").await;
    let s = peer(server.addr).await;
    let code = code_of(&ask(&s, "hello, anyone?").await);
    ask(&s, &format!("/ok {code}")).await;
    watcher.expect("* guest1 joined (udp)").await;
    assert_eq!(
        next(&s).await,
        "* you will be dropped in 10 s unless you send something\n"
    );
    s.send(b"still here\n").await.expect("send");
    watcher.expect("guest1: still here").await;
    // A full idle period later it is warned again (not dropped in between).
    assert_eq!(
        next(&s).await,
        "* you will be dropped in 10 s unless you send something\n"
    );
    watcher.say("are you?").await;
    assert_eq!(next(&s).await, "watcher: are you?\n");
    server.stop().await;
}
