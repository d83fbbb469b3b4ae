//! The UDP transport's defences, driven datagram by datagram on tokio's paused clock:
//! answers to strangers within 3×, no state before validation, tokens that expire,
//! budgets per member.

use super::*;
use crate::wire::{text, ClientMsg, Handshake, Refusal};
use std::net::UdpSocket as StdSocket;

/// A transport on loopback and a peer socket whose answers can be read at once
/// (loopback delivers synchronously, so a non-blocking read sees what was sent).
async fn setup(cfg: UdpConfig) -> (UdpTransport, StdSocket) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer = StdSocket::bind("127.0.0.1:0").unwrap();
    peer.set_nonblocking(true).unwrap();
    // The runtime learns the socket is writable on its first poll; `try_send_to` needs that.
    sock.writable().await.unwrap();
    (UdpTransport::new(sock, cfg), peer)
}

fn answers(peer: &StdSocket) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 65_536];
    let mut got = Vec::new();
    while let Ok(n) = peer.recv(&mut buf) {
        got.push(buf[..n].to_vec());
    }
    got
}

fn hello() -> Vec<u8> {
    binary::encode_datagram(&ClientMsg::Hello { nick: None })
        .unwrap()
        .to_vec()
}

fn token_hello(token: [u8; 8]) -> Vec<u8> {
    binary::encode_handshake(&Handshake::Hello {
        token,
        nick: Some("bob".into()),
    })
    .unwrap()
    .to_vec()
}

fn retry_token(d: &[u8]) -> [u8; 8] {
    match binary::decode_handshake(d) {
        Some(Handshake::Retry { token }) => token,
        other => panic!("not a Retry: {other:?}"),
    }
}

fn joined(out: &[Event]) -> usize {
    out.iter()
        .filter(|e| matches!(e, Event::Joined { .. }))
        .count()
}

#[tokio::test(start_paused = true)]
async fn strangers_get_at_most_three_times_their_bytes_and_leave_no_state() {
    let (mut t, peer) = setup(UdpConfig::default()).await;
    let from = peer.local_addr().unwrap();
    let mut out = Vec::new();
    for len in [1usize, 2, 3, 4, 5, 8, 13, 20, 40, 200, 1200] {
        let mut d = vec![b'x'; len - 1];
        d.push(b'\n');
        t.on_datagram(&d, from, &mut out);
        let got = answers(&peer);
        assert!(got.len() <= 1, "one answer per datagram at most");
        for a in &got {
            assert!(a.len() <= 3 * len, "{} bytes answered to {len}", a.len());
            let line = std::str::from_utf8(a).unwrap();
            assert!(text::is_server_line(line), "{line}");
            if len >= 5 {
                assert!(line.contains("/ok "), "{line}");
            }
        }
        if len >= 3 {
            assert_eq!(got.len(), 1, "an answer fits 3 x {len} bytes");
        }
    }
    // Binary: Hello → Retry within 3×; anything else → a short Bye; junk → nothing.
    t.on_datagram(&hello(), from, &mut out);
    let got = answers(&peer);
    assert_eq!(got.len(), 1);
    assert!(got[0].len() <= 3 * hello().len());
    retry_token(&got[0]);
    t.on_datagram(&[0, 1, 0xff, 0xff], from, &mut out);
    t.on_datagram(&[0, 2, 0xff], from, &mut out);
    assert!(answers(&peer).is_empty());
    // Text that looks like a server's (a reflected challenge) is never answered.
    let challenge = ServerMsg::Challenge {
        code: "ABCDEF".into(),
    };
    let refusal = ServerMsg::Refused(Refusal::RoomFull);
    for reflected in [challenge, refusal] {
        let line = text::line_within(&reflected, 100).unwrap();
        t.on_datagram(line.as_bytes(), from, &mut out);
    }
    assert!(answers(&peer).is_empty());
    assert!(out.is_empty(), "no events for strangers");
    assert_eq!(t.registered(), 0, "no state for strangers");
}

#[tokio::test(start_paused = true)]
async fn binary_join_needs_a_fresh_token_for_this_address() {
    let (mut t, peer) = setup(UdpConfig::default()).await;
    let from = peer.local_addr().unwrap();
    let mut out = Vec::new();
    // Forged token: another Retry, no join.
    t.on_datagram(&token_hello([9; 8]), from, &mut out);
    let forged_reply = answers(&peer);
    assert_eq!(forged_reply.len(), 1);
    let token = retry_token(&forged_reply[0]);
    assert_eq!((joined(&out), t.registered()), (0, 0));
    // A token made for another address does not pass for this one.
    let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    let stolen = t.gate.jar.token(other, Instant::now());
    t.on_datagram(&token_hello(stolen), from, &mut out);
    answers(&peer);
    assert_eq!(joined(&out), 0);
    // Expired: two periods later the token no longer passes.
    tokio::time::advance(t.cfg.cookie_period * 2).await;
    t.on_datagram(&token_hello(token), from, &mut out);
    let fresh = retry_token(&answers(&peer)[0]);
    assert_ne!(fresh, token);
    assert_eq!((joined(&out), t.registered()), (0, 0));
    assert_eq!(t.guard.bad_tokens.load(Ordering::Relaxed), 3);
    // The fresh one joins, with the nick it carries.
    t.on_datagram(&token_hello(fresh), from, &mut out);
    assert_eq!(joined(&out), 1);
    assert!(matches!(&out[0], Event::Joined { nick: Some(n), .. } if n == "bob"));
    assert_eq!(t.registered(), 1);
    // Repeated (its Welcome was lost): a Hello to the room, not a second member.
    out.clear();
    t.on_datagram(&token_hello(fresh), from, &mut out);
    assert!(matches!(
        &out[..],
        [Event::Message(_, ClientMsg::Hello { .. })]
    ));
}

#[tokio::test(start_paused = true)]
async fn a_text_peer_joins_with_its_code_and_may_talk_in_the_same_datagram() {
    let (mut t, peer) = setup(UdpConfig::default()).await;
    let from = peer.local_addr().unwrap();
    let mut out = Vec::new();
    t.on_datagram(b"/ok ZZZZZZ\n", from, &mut out);
    let challenge = String::from_utf8(answers(&peer).remove(0)).unwrap();
    let code = challenge
        .trim_end()
        .rsplit_once("/ok ")
        .unwrap()
        .1
        .to_string();
    assert_eq!(t.registered(), 0);
    t.on_datagram(
        format!("/ok {code}\r\nhi there\n/nick ann\n").as_bytes(),
        from,
        &mut out,
    );
    assert_eq!(t.registered(), 1);
    assert_eq!(joined(&out), 1);
    let msgs: Vec<&ClientMsg> = out
        .iter()
        .filter_map(|e| match e {
            Event::Message(_, m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(matches!(msgs[0], ClientMsg::Say { text, .. } if text == "hi there"));
    assert_eq!(msgs[1], &ClientMsg::Nick("ann".into()));
    // A repeated proof from a member is swallowed, not an unknown command.
    out.clear();
    t.on_datagram(format!("/ok {code}\n").as_bytes(), from, &mut out);
    assert!(out.is_empty(), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn a_full_registry_refuses_within_the_rule_and_guarded_ports_get_nothing() {
    let cfg = UdpConfig {
        max_peers: 1,
        ..Default::default()
    };
    let (mut t, peer) = setup(cfg).await;
    let first = StdSocket::bind("127.0.0.1:0").unwrap();
    let mut out = Vec::new();
    let now = Instant::now();
    let a = first.local_addr().unwrap();
    t.on_datagram(&token_hello(t.gate.jar.token(a, now)), a, &mut out);
    assert_eq!(t.registered(), 1);
    let from = peer.local_addr().unwrap();
    let d = token_hello(t.gate.jar.token(from, now));
    t.on_datagram(&d, from, &mut out);
    let got = answers(&peer);
    assert_eq!(got.len(), 1);
    assert!(got[0].len() <= 3 * d.len());
    let refusal: ServerMsg = binary::decode_datagram(&got[0]).unwrap();
    assert_eq!(refusal, ServerMsg::Refused(Refusal::RoomFull));
    assert_eq!((t.registered(), joined(&out)), (1, 1));
    // Sources on guarded ports are never answered (nothing is sent; only counted).
    let before = t.guard.challenges.load(Ordering::Relaxed);
    for port in [7, 19, 123, 7007, 7070, t.gate.own_port] {
        let src: SocketAddr = ([127, 0, 0, 1], port).into();
        t.on_datagram(b"hello there\n", src, &mut out);
        t.on_datagram(&hello(), src, &mut out);
    }
    assert_eq!(t.guard.challenges.load(Ordering::Relaxed), before);
}

#[tokio::test(start_paused = true)]
async fn strangers_share_one_handshake_budget() {
    let cfg = UdpConfig {
        handshake_rate: Rate::new(10, 5),
        ..Default::default()
    };
    let (mut t, peer) = setup(cfg).await;
    let from = peer.local_addr().unwrap();
    let mut out = Vec::new();
    for _ in 0..50 {
        t.on_datagram(&hello(), from, &mut out);
    }
    assert_eq!(answers(&peer).len(), 5, "the burst");
    tokio::time::advance(Duration::from_millis(500)).await;
    for _ in 0..50 {
        t.on_datagram(&hello(), from, &mut out);
    }
    assert_eq!(answers(&peer).len(), 5, "10/s for half a second");
}

#[tokio::test(start_paused = true)]
async fn a_member_over_its_budget_is_throttled_and_told_once() {
    let cfg = UdpConfig {
        rate: Rate::new(10, 5),
        ..Default::default()
    };
    let (mut t, peer) = setup(cfg).await;
    let from = peer.local_addr().unwrap();
    let mut out = Vec::new();
    t.on_datagram(
        &token_hello(t.gate.jar.token(from, Instant::now())),
        from,
        &mut out,
    );
    out.clear();
    let says = |out: &[Event]| {
        out.iter()
            .filter(|e| matches!(e, Event::Message(_, ClientMsg::Say { .. })))
            .count()
    };
    let notices = |out: &[Event]| {
        out.iter()
            .filter(|e| matches!(e, Event::Invalid(_, why) if why.starts_with("slow down")))
            .count()
    };
    // 20 lines in one datagram: the burst of 5 passes, 15 are dropped, one notice.
    let lines: String = (0..20).map(|i| format!("line {i}\n")).collect();
    t.on_datagram(lines.as_bytes(), from, &mut out);
    assert_eq!((says(&out), notices(&out)), (5, 1));
    assert!(out.iter().any(|e| matches!(e, Event::Invalid(_, why)
        if why == "slow down: 15 messages dropped (limit 10/s, burst 5)")));
    // One second later: 10 more (capped at the burst of 5); no second notice yet.
    out.clear();
    tokio::time::advance(Duration::from_secs(1)).await;
    t.on_datagram(lines.as_bytes(), from, &mut out);
    assert_eq!((says(&out), notices(&out)), (5, 0));
    // After the notice period, told again; Bye always passes.
    out.clear();
    tokio::time::advance(NOTICE_EVERY).await;
    t.on_datagram(lines.as_bytes(), from, &mut out);
    t.on_datagram(b"/quit\n", from, &mut out);
    assert_eq!(notices(&out), 1);
    assert!(matches!(
        out.last(),
        Some(Event::Message(_, ClientMsg::Bye))
    ));
    assert_eq!(t.registered(), 0);
    assert_eq!(t.guard.throttled.load(Ordering::Relaxed), 45);
}

#[test]
fn a_retry_fits_three_times_the_smallest_hello() {
    let retry = binary::encode_handshake(&Handshake::Retry { token: [0xff; 8] }).unwrap();
    assert!(
        retry.len() <= AMPLIFICATION * hello().len(),
        "{}",
        retry.len()
    );
}
