//! QUIC and TLS: mixed rooms, per-sender streams, and trusting certificates (pins, trust
//! on first use, a restarted server's kept certificate, a changed one refused); TLS with
//! openssl and socat as text peers.

use crate::harness::{test_identity, Member, Peer, TcpText, TestServer, WAIT};
use crate::process::{nettool, require_tool, Proc};
use futures_util::StreamExt;
use nettool::cert::{self, Identity, SessionLog, Trust};
use nettool::chat::client::{self, ClientConfig};
use nettool::chat::ServerConfig;
use nettool::wire::binary::{self, FrameCodec, PREAMBLE};
use nettool::wire::{ClientMsg, Proto, ServerMsg};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::time::timeout;
use tokio_util::codec::FramedRead;

/// Members over QUIC, TCP, UDP and TLS and a netcat-like text peer in one room: each
/// line reaches every other member exactly, and `/who` names each one's protocol.
#[tokio::test]
async fn mixed_members_exchange_exact_lines() {
    let protos = [Proto::Tcp, Proto::Udp, Proto::Quic, Proto::Tls];
    let server = TestServer::start(&protos, ServerConfig::default()).await;
    let mut q = Member::join(server.addr_of(Proto::Quic), Proto::Quic, "q").await;
    let mut t = Member::join(server.addr_of(Proto::Tcp), Proto::Tcp, "t").await;
    let mut u = Member::join(server.addr_of(Proto::Udp), Proto::Udp, "u").await;
    let mut s = Member::join(server.addr_of(Proto::Tls), Proto::Tls, "s").await;
    let mut nc = TcpText::connect(server.addr_of(Proto::Tcp)).await;
    nc.send_line("/nick nc").await;
    nc.wait_for("* guest1 is now nc").await;
    for m in [&mut q, &mut t, &mut u, &mut s] {
        m.wait_for("* guest1 is now nc").await;
    }
    q.say("over quic").await;
    for m in [&mut t, &mut u, &mut s] {
        m.wait_for("q: over quic").await;
    }
    nc.wait_for("q: over quic").await;
    nc.send_line("from netcat").await;
    for m in [&mut q, &mut t, &mut u, &mut s] {
        m.wait_for("nc: from netcat").await;
    }
    s.say("over tls").await;
    t.say("over tcp").await;
    u.say("over udp").await;
    // Each sender has its own stream to q: their lines may come in any order.
    let mut want = vec!["s: over tls", "t: over tcp", "u: over udp"];
    while !want.is_empty() {
        let l = q.line().await;
        want.retain(|w| *w != l);
    }
    nc.send_line("/who").await;
    let mut who = Vec::new();
    for _ in 0..5 {
        who.push(nc.line().await);
    }
    for (nick, proto) in [
        ("q", "quic"),
        ("t", "tcp"),
        ("u", "udp"),
        ("s", "tls"),
        ("nc", "tcp"),
    ] {
        assert!(
            who.iter().any(|l| l.contains(nick) && l.contains(proto)),
            "{nick} over {proto} in {who:#?}"
        );
    }
    server.stop().await;
}

/// A raw QUIC member whose stream window is tiny stops reading alice's stream: alice's
/// lines stall there (the server cannot send past the window), and bob's still arrive
/// on bob's own stream. Afterwards all of alice's lines are there, in order.
#[tokio::test]
async fn a_stalled_senders_stream_does_not_hold_up_another_sender() {
    let server = TestServer::start(&[Proto::Tcp, Proto::Quic], ServerConfig::default()).await;
    let quic = server.addr_of(Proto::Quic);
    let (_ep, conn) = raw_quic(quic, 2_000).await;
    let (mut send, recv) = conn.open_bi().await.expect("stream");
    send.write_all(PREAMBLE).await.expect("preamble");
    let hello = binary::encode_frame(&ClientMsg::Hello {
        nick: Some("watcher".into()),
    })
    .expect("encode");
    send.write_all(&hello).await.expect("hello");
    let mut control = FramedRead::new(recv, FrameCodec::<ServerMsg, ()>::new(1 << 16));
    let welcome = timeout(WAIT, control.next()).await.expect("in time");
    assert!(
        matches!(welcome, Some(Ok(Ok(ServerMsg::Welcome { .. })))),
        "{welcome:?}"
    );

    let mut alice = Member::join(server.addr_of(Proto::Tcp), Proto::Tcp, "alice").await;
    let alice_stream = timeout(WAIT, conn.accept_uni())
        .await
        .expect("in time")
        .expect("alice's stream");
    let mut alice_frames = FramedRead::new(alice_stream, FrameCodec::<ServerMsg, ()>::new(1 << 16));
    let first = timeout(WAIT, alice_frames.next()).await.expect("in time");
    assert!(
        matches!(&first, Some(Ok(Ok(ServerMsg::Joined { nick, .. }))) if nick == "alice"),
        "{first:?}"
    );
    // From here on alice's stream is not read: 200 lines of ~110 bytes is ten windows.
    let line = "a".repeat(100);
    for _ in 0..200 {
        alice.say(&line).await;
    }
    let mut bob = Member::join(server.addr_of(Proto::Tcp), Proto::Tcp, "bob").await;
    bob.say("bob gets through").await;
    let bob_stream = timeout(WAIT, conn.accept_uni())
        .await
        .expect("in time")
        .expect("bob's stream");
    let mut bob_frames = FramedRead::new(bob_stream, FrameCodec::<ServerMsg, ()>::new(1 << 16));
    let mut got = Vec::new();
    while got.len() < 2 {
        match timeout(WAIT, bob_frames.next())
            .await
            .expect("bob's lines in time")
        {
            Some(Ok(Ok(m))) => got.push(m),
            other => panic!("bob's stream: {other:?}"),
        }
    }
    assert!(
        matches!(&got[1], ServerMsg::Chat { from, text, .. } if from == "bob" && text == "bob gets through"),
        "{got:?}"
    );
    // Alice's lines were held back, not lost: all 200 follow, in order.
    for want in 1..=200u64 {
        match timeout(WAIT, alice_frames.next())
            .await
            .expect("alice's lines in time")
        {
            Some(Ok(Ok(ServerMsg::Chat { seq, .. }))) => assert_eq!(seq, want),
            other => panic!("alice's stream: {other:?}"),
        }
    }
    server.stop().await;
}

/// A QUIC client endpoint pinned to the test certificate, with `window` bytes of
/// receive window per stream.
async fn raw_quic(addr: SocketAddr, window: u32) -> (quinn::Endpoint, quinn::Connection) {
    let trust = Trust::Pin(test_identity().fingerprint.clone());
    let verifier =
        cert::trust::Verifier::new(trust, addr.to_string(), cert::provider(Default::default()));
    let tls = cert::config::client(
        verifier,
        Default::default(),
        &[nettool::wire::ALPN_CHAT],
        SessionLog::new(false),
    )
    .expect("tls");
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic crypto");
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    let mut t = quinn::TransportConfig::default();
    t.stream_receive_window(window.into());
    t.max_concurrent_uni_streams(64u32.into());
    cfg.transport_config(Arc::new(t));
    let ep = nettool::quic::endpoint::client_endpoint(addr).expect("endpoint");
    let conn = ep
        .connect_with(cfg, addr, "localhost")
        .expect("connect")
        .await
        .expect("handshake");
    (ep, conn)
}

/// Join over `proto` trusting as `trust`; the error text if refused.
async fn join_with(addr: SocketAddr, proto: Proto, trust: Trust) -> Result<(), String> {
    let cfg = ClientConfig {
        addr,
        proto,
        nick: Some("x".into()),
        trust,
        ..Default::default()
    };
    match timeout(WAIT, client::connect(&cfg))
        .await
        .expect("an answer in time")
    {
        Ok(mut c) => {
            let m = timeout(WAIT, c.rx.next()).await.expect("welcome in time");
            assert!(
                matches!(
                    m,
                    Some(Ok(client::Incoming::Msg(ServerMsg::Welcome { .. })))
                ),
                "{m:?}"
            );
            Ok(())
        }
        Err(e) => Err(format!("{e:#}")),
    }
}

/// The right pin joins; a wrong one is refused in one line naming both fingerprints.
#[tokio::test]
async fn a_pin_accepts_the_right_certificate_and_refuses_another() {
    let server = TestServer::start(&[Proto::Tls, Proto::Quic], ServerConfig::default()).await;
    let right = Trust::Pin(test_identity().fingerprint.clone());
    let wrong = Trust::Pin(format!("SHA256:{}", "0".repeat(64)));
    for proto in [Proto::Tls, Proto::Quic] {
        let addr = server.addr_of(proto);
        join_with(addr, proto, right.clone())
            .await
            .expect("the right pin joins");
        let why = join_with(addr, proto, wrong.clone())
            .await
            .expect_err("a wrong pin is refused");
        assert!(
            why.contains("not the pinned SHA256:0000") && !why.contains('\n'),
            "{proto}: {why}"
        );
    }
    server.stop().await;
}

/// Trust on first use: a new server is accepted and recorded, accepted again, and a
/// different certificate at the same address is refused, saying how to remove the entry.
#[tokio::test]
async fn tofu_records_accepts_again_and_refuses_a_changed_certificate() {
    let dir = tempdir("tofu");
    let known = dir.path().join("known_hosts");
    let tofu = Trust::Tofu {
        known_hosts: known.clone(),
    };
    for proto in [Proto::Quic, Proto::Tls] {
        let _ = std::fs::remove_file(&known);
        let server = TestServer::start(&[proto], ServerConfig::default()).await;
        let addr = server.addr;
        join_with(addr, proto, tofu.clone())
            .await
            .expect("a new server is trusted");
        let recorded = std::fs::read_to_string(&known).expect("recorded");
        assert_eq!(
            recorded,
            format!("{addr} {}\n", test_identity().fingerprint)
        );
        join_with(addr, proto, tofu.clone())
            .await
            .expect("and trusted again");
        assert_eq!(
            std::fs::read_to_string(&known).expect("file"),
            recorded,
            "recorded once"
        );
        server.stop().await;
        // Another certificate on the same port.
        let cfg = ServerConfig {
            identity: Some(Arc::new(Identity::ephemeral().expect("cert"))),
            ..Default::default()
        };
        let other = nettool::chat::Server::bind(addr, &[proto], cfg)
            .await
            .expect("same port");
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(other.run(stop.clone()));
        let why = join_with(addr, proto, tofu.clone())
            .await
            .expect_err("a changed certificate is refused");
        assert!(
            why.contains("CHANGED") && why.contains(&format!("sed -i '1d' {}", known.display())),
            "{why}"
        );
        assert!(!why.contains('\n'), "one line: {why}");
        stop.cancel();
        let _ = timeout(WAIT * 2, task).await;
    }
}

/// A directory of this test's own, removed when dropped.
fn tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("nettool-{what}-"))
        .tempdir()
        .expect("temp dir")
}

/// The certificate in a `nettool chat -l` start-up line.
async fn served_fingerprint(p: &mut Proc) -> String {
    let line = p.stderr_containing("certificate SHA256:").await;
    let fp = line
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .expect("a fingerprint");
    fp.to_string()
}

/// A restarted server keeps its certificate (kept in its data directory), so a client
/// that trusted it on first use joins again.
#[tokio::test]
async fn a_restarted_server_keeps_its_fingerprint() {
    let dir = tempdir("restart");
    let d = dir.path().to_string_lossy().into_owned();
    let env = [(cert::DATA_DIR_ENV, d.as_str())];
    let port = crate::process::free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let args = ["chat", "-l", &addr, "--proto", "quic"];
    let mut first = Proc::spawn_env("server 1", nettool(), &args, &env);
    let fp1 = served_fingerprint(&mut first).await;
    first.stderr_containing("serving").await;
    let tofu = Trust::Tofu {
        known_hosts: dir.path().join("client_known_hosts"),
    };
    let sa: SocketAddr = addr.parse().expect("addr");
    join_with(sa, Proto::Quic, tofu.clone())
        .await
        .expect("first use");
    first.signal("TERM").await;
    first.exit().await;
    let mut second = Proc::spawn_env("server 2", nettool(), &args, &env);
    assert_eq!(
        served_fingerprint(&mut second).await,
        fp1,
        "the same certificate"
    );
    second.stderr_containing("serving").await;
    join_with(sa, Proto::Quic, tofu)
        .await
        .expect("trusted again after the restart");
}

/// TLS on TCP with real TLS tools as text peers: `openssl s_client` and `socat
/// OPENSSL:` join and talk both ways with a nettool member.
#[tokio::test]
async fn openssl_and_socat_chat_over_tls() {
    if !require_tool("openssl") || !require_tool("socat") {
        return;
    }
    let server = TestServer::start(&[Proto::Tls], ServerConfig::default()).await;
    let addr = server.addr.to_string();
    let mut alice = Member::join(server.addr, Proto::Tls, "alice").await;
    let peers = [
        (
            "openssl",
            Proc::spawn(
                "openssl",
                "openssl",
                &["s_client", "-quiet", "-connect", &addr],
            ),
        ),
        (
            "socat",
            Proc::spawn(
                "socat",
                "socat",
                &["-", &format!("OPENSSL:{addr},verify=0")],
            ),
        ),
    ];
    for (i, (nick, mut p)) in peers.into_iter().enumerate() {
        p.wait_for("* nettool chat (nettool/1): type to talk; /nick NAME, /who, /quit")
            .await;
        p.send_line(&format!("/nick {nick}")).await;
        alice
            .wait_for(&format!("* guest{} is now {nick}", i + 1))
            .await;
        p.send_line(&format!("hello from {nick}")).await;
        alice.wait_for(&format!("{nick}: hello from {nick}")).await;
        alice.say(&format!("hi {nick}")).await;
        p.wait_for(&format!("alice: hi {nick}")).await;
        p.send_line("/quit").await;
        alice.wait_for(&format!("* {nick} left (quit)")).await;
    }
    server.stop().await;
}

/// `nettool echo` over TLS, a QUIC stream and QUIC DATAGRAM frames: every ping answered
/// with its own bytes; and the chat port's ALPN is not echo's: refused in one line.
#[tokio::test]
async fn echo_over_tls_and_quic_streams_and_datagrams() {
    use nettool::echo::{self, PingConfig};
    let cfg = echo::ServerConfig {
        identity: Some(test_identity()),
        ..Default::default()
    };
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = echo::Server::bind(any, &[Proto::Tls, Proto::Quic], cfg)
        .await
        .expect("bind");
    let bound = server.bound();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone()));
    let secure = nettool::quic::endpoint::ClientOptions {
        trust: Trust::Pin(test_identity().fingerprint.clone()),
        ..Default::default()
    };
    for (proto, datagrams) in [
        (Proto::Tls, false),
        (Proto::Quic, false),
        (Proto::Quic, true),
    ] {
        let addr = bound.iter().find(|b| b.0 == proto).expect("bound").1;
        let cfg = PingConfig {
            addr,
            proto,
            count: 3,
            size: 100,
            interval: std::time::Duration::ZERO,
            timeout: WAIT,
            secure: secure.clone(),
            datagrams,
        };
        let s = timeout(WAIT * 2, echo::ping(&cfg, |_| {}))
            .await
            .expect("in time")
            .expect("pings");
        assert_eq!(
            (s.sent, s.received),
            (3, 3),
            "{proto} datagrams={datagrams}: {s:?}"
        );
    }
    stop.cancel();
    let _ = timeout(WAIT, task).await;
    // A chat server's QUIC port does not speak nettool-echo.
    let chat = TestServer::start(&[Proto::Quic], ServerConfig::default()).await;
    let cfg = PingConfig {
        addr: chat.addr,
        proto: Proto::Quic,
        count: 1,
        size: 10,
        interval: std::time::Duration::ZERO,
        timeout: WAIT,
        secure,
        datagrams: false,
    };
    let err = timeout(WAIT * 2, echo::ping(&cfg, |_| {}))
        .await
        .expect("in time")
        .expect_err("refused");
    let err = format!("{err:#}");
    assert!(
        err.contains("does not speak this service") && !err.contains('\n'),
        "{err}"
    );
    chat.stop().await;
}
