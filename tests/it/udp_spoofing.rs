//! The UDP side against forged sources, floods and reflection, on real loopback
//! sockets: strangers get at most 3× their bytes and no broadcasts, cannot fill the
//! registry, a flooding member is throttled while others chat on, the nettool client
//! answers a Retry, and the echo server limits each source and never answers loop ports.

use crate::harness;

use harness::{
    assert_nothing_before_sentinel, challenge_code, skip, Member, Peer, TestServer, WAIT,
};
use nettool::chat::client::{self, ClientConfig, Incoming, Mode};
use nettool::chat::ServerConfig;
use nettool::echo;
use nettool::udp::budget::Rate;
use nettool::wire::binary;
use nettool::wire::{ClientMsg, Handshake, Proto, Refusal, ServerMsg};
use std::net::UdpSocket as StdSocket;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// Everything queued on a non-blocking socket now.
fn drain(sock: &StdSocket) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 65_536];
    let mut got = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(buf[..n].to_vec());
    }
    got
}

fn stranger(server: std::net::SocketAddr) -> StdSocket {
    let s = StdSocket::bind("127.0.0.1:0").unwrap();
    s.connect(server).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

/// What a forged source might send: text, a Hello, a member's message, forged proofs,
/// junk, a reflected server line.
fn probes() -> Vec<Vec<u8>> {
    vec![
        b"hello there\n".to_vec(),
        b"hi\n".to_vec(),
        b"x".to_vec(),
        binary::encode_datagram(&ClientMsg::Hello { nick: None })
            .unwrap()
            .to_vec(),
        binary::encode_datagram(&ClientMsg::Ping { t_us: 1 })
            .unwrap()
            .to_vec(),
        binary::encode_handshake(&Handshake::Hello {
            token: [7; 8],
            nick: Some("mallory".into()),
        })
        .unwrap()
        .to_vec(),
        b"/ok ABCDEF\n".to_vec(),
        b"* you are guest1; 3 online\n".to_vec(),
        vec![0, 1, 0xff, 0xff, 0xff],
    ]
}

#[tokio::test]
async fn an_unverified_source_gets_at_most_three_times_its_bytes_and_no_broadcasts() {
    let server = TestServer::start(&[Proto::Udp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Udp).await;
    let spoof = stranger(server.addr);
    let mut sent = 0;
    for p in probes() {
        sent += spoof.send(&p).unwrap();
    }
    for i in 0..5 {
        alice.say(&format!("m{i}")).await;
        bob.expect(&format!("alice: m{i}")).await;
    }
    // Nobody joined: bob's next line is alice's sentinel. By then anything the server
    // sent the stranger is queued on its socket (loopback delivers at once).
    assert_nothing_before_sentinel(&mut bob, &mut alice).await;
    let got = drain(&spoof);
    let back: usize = got.iter().map(Vec::len).sum();
    assert!(back <= 3 * sent, "{back} bytes back for {sent} sent");
    assert!(
        got.len() <= probes().len(),
        "one answer per datagram at most"
    );
    for d in &got {
        let chat = binary::decode_datagram::<ServerMsg>(d)
            .is_ok_and(|m| matches!(m, ServerMsg::Chat { .. } | ServerMsg::Welcome { .. }))
            || String::from_utf8_lossy(d).contains("alice: m");
        assert!(!chat, "a broadcast reached an unverified source: {d:?}");
    }
    assert!(!got.is_empty(), "the stranger was challenged");
    server.stop().await;
}

#[tokio::test]
async fn many_forged_sources_do_not_fill_the_registry() {
    let mut cfg = ServerConfig::default();
    cfg.udp.max_peers = 3;
    let server = TestServer::start(&[Proto::Udp], cfg).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Udp).await;
    // 300 sources × 7 datagrams, none of which ever proves its address. Each source
    // waits for its challenge before the next one starts: that proves its datagrams
    // reached the gate (none was lost to a full socket buffer) and were refused there.
    let sources: Vec<UdpSocket> = (0..300)
        .map(|_| UdpSocket::from_std(stranger(server.addr)).expect("tokio socket"))
        .collect();
    let (mut sent, mut challenged) = (0, 0);
    let mut buf = [0u8; 2048];
    for s in &sources {
        for p in probes().iter().take(7) {
            if s.send(p).await.expect("send") == p.len() {
                sent += 1;
            }
        }
        let n = timeout(WAIT, s.recv(&mut buf))
            .await
            .expect("a forged source is challenged in time")
            .expect("recv");
        // The answer to its first datagram (`hello there`): a challenge, not a welcome.
        challenge_code(std::str::from_utf8(&buf[..n]).expect("a text line"));
        challenged += 1;
    }
    assert_eq!((sent, challenged), (2100, 300));
    alice.say("still here").await;
    bob.expect("alice: still here").await;
    // The one free slot is still free: carol joins...
    let mut carol = Member::join(server.addr, Proto::Udp, "carol").await;
    alice.expect("* carol joined (udp)").await;
    carol.say("hi all").await;
    bob.wait_for("carol: hi all").await;
    // ...and the cap holds after her.
    let cfg = ClientConfig {
        addr: server.addr,
        proto: Proto::Udp,
        nick: Some("dave".into()),
        ..Default::default()
    };
    let mut dave = timeout(WAIT, client::connect(&cfg)).await.unwrap().unwrap();
    let first = timeout(WAIT, futures_util::StreamExt::next(&mut dave.rx))
        .await
        .unwrap();
    assert!(
        matches!(
            &first,
            Some(Ok(Incoming::Msg(ServerMsg::Refused(Refusal::RoomFull))))
        ),
        "{first:?}"
    );
    drop(sources);
    server.stop().await;
}

#[tokio::test]
async fn a_flooding_member_is_throttled_and_the_others_carry_on() {
    let (rate, burst) = (20u32, 20u32);
    let mut cfg = ServerConfig::default();
    cfg.udp.rate = Rate::new(rate, burst);
    let server = TestServer::start(&[Proto::Udp], cfg).await;
    let mut alice = Member::join(server.addr, Proto::Udp, "alice").await;
    let mut bob = Member::join(server.addr, Proto::Udp, "bob").await;
    let mut flood = Member::join(server.addr, Proto::Udp, "flood").await;
    alice.wait_for("* flood joined (udp)").await;
    bob.wait_for("* flood joined (udp)").await;
    let start = Instant::now();
    for i in 0..200 {
        flood.say(&format!("f{i}")).await;
    }
    bob.say("sentinel").await;
    let mut relayed = 0u64;
    loop {
        let line = alice.line().await;
        if line == "bob: sentinel" {
            break;
        }
        assert!(line.starts_with("flood: f"), "{line}");
        relayed += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let most = u64::from(burst) + (f64::from(rate) * secs).ceil() as u64 + 1;
    assert!(
        relayed >= u64::from(burst) && relayed <= most,
        "{relayed} relayed, at most {most}"
    );
    let notice = flood
        .next_msg(|m| matches!(m, ServerMsg::Error(e) if e.starts_with("slow down: ")))
        .await;
    assert!(
        matches!(&notice, ServerMsg::Error(e) if e.ends_with("(limit 20/s, burst 20)")),
        "{notice:?}"
    );
    // bob was never throttled: his line arrived, and he still talks.
    bob.say("and again").await;
    alice.expect("bob: and again").await;
    server.stop().await;
}

#[tokio::test]
async fn the_client_answers_a_retry_with_its_token() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cfg = ClientConfig {
        addr: server.local_addr().unwrap(),
        proto: Proto::Udp,
        nick: Some("zoe".into()),
        ..Default::default()
    };
    let conn = tokio::spawn(async move { client::connect(&cfg).await });
    let mut buf = [0u8; 2048];
    let (n, client) = timeout(WAIT, server.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let hello: ClientMsg = binary::decode_datagram(&buf[..n]).unwrap();
    assert_eq!(
        hello,
        ClientMsg::Hello {
            nick: Some("zoe".into())
        }
    );
    let token = [1, 2, 3, 4, 5, 6, 7, 8];
    let retry = binary::encode_handshake(&Handshake::Retry { token }).unwrap();
    server.send_to(&retry, client).await.unwrap();
    let (n, _) = timeout(WAIT, server.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        binary::decode_handshake(&buf[..n]),
        Some(Handshake::Hello {
            token,
            nick: Some("zoe".into())
        })
    );
    let welcome = ServerMsg::Welcome {
        nick: "zoe".into(),
        proto: Proto::Udp,
        members: 1,
        keepalive_ms: 10_000,
    };
    let w = binary::encode_datagram(&welcome).unwrap();
    server.send_to(&w, client).await.unwrap();
    let mut conn = timeout(WAIT, conn).await.unwrap().unwrap().unwrap();
    assert_eq!(conn.mode, Mode::Binary);
    let first = timeout(WAIT, futures_util::StreamExt::next(&mut conn.rx))
        .await
        .unwrap();
    assert!(matches!(first, Some(Ok(Incoming::Msg(m))) if m == welcome));
}

async fn echo_server(cfg: echo::ServerConfig) -> (std::net::SocketAddr, CancellationToken) {
    let server = echo::Server::bind("127.0.0.1:0".parse().unwrap(), &[Proto::Udp], cfg)
        .await
        .unwrap();
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone()));
    (addr, stop)
}

#[tokio::test]
async fn echo_answers_each_source_within_its_budget_but_counts_all_sink_data() {
    let cfg = echo::ServerConfig {
        udp_rate: Rate::new(1, 5),
        ..Default::default()
    };
    let (addr, stop) = echo_server(cfg).await;
    let sock = stranger(addr);
    let start = Instant::now();
    for i in 0..30u8 {
        assert_eq!(sock.send(&[i; 16]).unwrap(), 16);
    }
    // The budget is per source address: a sentinel from another one (127.0.0.2) is
    // answered, and the server takes datagrams in order, so once its echo is back every
    // answer to the 30 is queued on `sock` already (no waiting for silence).
    let other = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    other.connect(addr).await.unwrap();
    other.send(b"sentinel").await.unwrap();
    let mut buf = [0u8; 2048];
    let n = timeout(WAIT, other.recv(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"sentinel");
    let answers = drain(&sock);
    assert!(answers.iter().all(|a| a.len() == 16), "{answers:?}");
    let answered = answers.len() as u64;
    // The burst, plus at most one token per second since the first datagram.
    let most = 5 + start.elapsed().as_secs_f64().ceil() as u64;
    assert!(
        (5..=most).contains(&answered),
        "{answered} answered, at most {most}"
    );
    let sock = UdpSocket::from_std(sock).unwrap();
    // Stream-sink data is counted, never answered, so it is not budgeted...
    let session = 42;
    for seq in 1..=50u64 {
        let mut d = [0u8; 64];
        nettool::echo::sink::stamp_data(&mut d, session, seq);
        sock.send(&d).await.unwrap();
    }
    // ...and its report is answered on the source's budget (retried until a token is due,
    // one a second; a report that comes after its try's 300 ms is read by the next try).
    let req = nettool::echo::sink::report_request(session);
    let deadline = Instant::now() + WAIT * 2;
    let report = loop {
        assert!(Instant::now() < deadline, "no report");
        sock.send(&req).await.unwrap();
        if let Ok(Ok(n)) = timeout(Duration::from_millis(300), sock.recv(&mut buf)).await {
            if let Some(r) = nettool::echo::sink::UdpReport::decode(&buf[..n]) {
                break r;
            }
        }
    };
    assert_eq!(report.received, 50);
    stop.cancel();
}

#[tokio::test]
async fn echo_never_answers_loop_ports() {
    let (addr, stop) = echo_server(echo::ServerConfig::default()).await;
    // chargen and echo need root; nettool's own and well-known responder ports do not.
    let ports = [19u16, 7, 7007, 7070, 5683, 3702, 1900, 11211];
    let looper = ports
        .into_iter()
        .find_map(|p| StdSocket::bind(("127.0.0.1", p)).ok());
    let free = looper
        .as_ref()
        .map(|_| ())
        .ok_or_else(|| format!("none of {ports:?} is free to bind here (19 and 7 need root)"));
    if !skip::require("a free well-known UDP port", free) {
        stop.cancel();
        return;
    }
    let looper = looper.expect("checked");
    looper.connect(addr).unwrap();
    looper.set_nonblocking(true).unwrap();
    looper.send(b"are you a reflector?").unwrap();
    // A normal source sent afterwards is answered: by then any answer to the loop port
    // would be queued already.
    let ok = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ok.connect(addr).await.unwrap();
    ok.send(b"sentinel").await.unwrap();
    let mut buf = [0u8; 64];
    let n = timeout(WAIT, ok.recv(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"sentinel");
    assert!(
        drain(&looper).is_empty(),
        "answered port {}",
        looper.local_addr().unwrap().port()
    );
    stop.cancel();
}
