//! TCP peers that misbehave by being slow or many: a member that stops reading (dropped
//! as too slow, or kept with its oldest messages dropped and counted), slowloris peers
//! holding an incomplete line, preamble or frame (timed out with the reason), a flood of
//! connections beyond the cap (each refused with a line), and a shutdown that a stalled
//! reader cannot hold past the grace period. The well-behaved members get every message.

use crate::harness;

use futures_util::{SinkExt, StreamExt};
use harness::{Member, Peer, TcpText, TestServer, WAIT};
use nettool::chat::client::Incoming;
use nettool::chat::ServerConfig;
use nettool::tcp::SlowPolicy;
use nettool::wire::binary::{self, FrameCodec, PREAMBLE};
use nettool::wire::{ClientMsg, Proto, ServerMsg};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_util::codec::FramedRead;

/// Messages sent before the fast member reads them: well inside the 64-message queue.
const W: u64 = 20;

/// Chat text per load message: about 1 KB, so that socket buffers fill in a few
/// thousand messages.
fn pad() -> String {
    "x".repeat(1000)
}

/// A text peer that reads its welcome, renames itself `nick`, reads the rename, and
/// from then on reads nothing (its receive buffer kept small).
async fn non_reader(addr: SocketAddr, nick: &str) -> BufReader<TcpStream> {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let s = timeout(WAIT, sock.connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let mut s = BufReader::new(s);
    s.get_mut()
        .write_all(format!("/nick {nick}\n").as_bytes())
        .await
        .expect("write");
    loop {
        let l = read_line(&mut s).await.expect("a line before the rename");
        if l.ends_with(&format!(" is now {nick}")) {
            return s;
        }
    }
}

/// The next line, or `None` at EOF or on an error (a reset after close).
async fn read_line(s: &mut BufReader<TcpStream>) -> Option<String> {
    let mut l = String::new();
    match timeout(WAIT, s.read_line(&mut l))
        .await
        .expect("a line in time")
    {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(l.trim_end_matches('\n').to_string()),
    }
}

/// `from` sends chat messages `lo..=hi` ("I xxx…"), as one batch.
async fn say_range(from: &mut Member, lo: u64, hi: u64, pad: &str) {
    for i in lo..=hi {
        let msg = ClientMsg::Say {
            seq: i,
            sent_us: 0,
            text: format!("{i} {pad}"),
        };
        from.conn.tx.feed(msg).await.expect("send");
    }
    from.conn.tx.flush().await.expect("flush");
}

/// The next message `m` gets (no keepalive pings: a TCP member needs none).
async fn next(m: &mut Member) -> ServerMsg {
    match timeout(WAIT, m.conn.rx.next())
        .await
        .expect("a message in time")
    {
        Some(Ok(Incoming::Msg(msg))) => msg,
        other => panic!("{}: expected a message, got {other:?}", m.nick),
    }
}

/// Read chat messages `lo..=hi` from `sender`, in order; other messages are returned.
async fn expect_range(m: &mut Member, sender: &str, lo: u64, hi: u64) -> Vec<ServerMsg> {
    let mut others = Vec::new();
    let mut want = lo;
    while want <= hi {
        match next(m).await {
            ServerMsg::Chat { from, text, .. } if from == sender => {
                let n: u64 = text
                    .split(' ')
                    .next()
                    .and_then(|w| w.parse().ok())
                    .expect("numbered");
                assert_eq!(n, want, "{}: messages out of order or lost", m.nick);
                want += 1;
            }
            other => others.push(other),
        }
    }
    others
}

fn left(nick: &str, why: &str) -> ServerMsg {
    ServerMsg::Left {
        nick: nick.into(),
        reason: match why {
            "too slow" => nettool::wire::LeaveReason::TooSlow,
            "timed out" => nettool::wire::LeaveReason::TimedOut,
            _ => unreachable!(),
        },
    }
}

#[tokio::test]
async fn a_reader_that_stops_is_dropped_and_the_others_get_everything() {
    let mut cfg = ServerConfig::default();
    cfg.tcp.queue = 64;
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let _slow = non_reader(server.addr, "slow").await;
    bob.wait_for("* guest1 is now slow").await;

    // Windows of W messages, each read in full by bob before the next (so bob, whose
    // queue is as short, is never the slow one), until the room drops the non-reader
    // (bounded: 50 000 messages).
    let pad = pad();
    let (mut sent, mut dropped_at) = (0, None);
    while dropped_at.is_none() && sent < 50_000 {
        say_range(&mut alice, sent + 1, sent + W, &pad).await;
        let others = expect_range(&mut bob, "alice", sent + 1, sent + W).await;
        sent += W;
        for o in others {
            assert_eq!(o, left("slow", "too slow"), "bob got something unexpected");
            dropped_at = Some(sent);
        }
    }
    let at = dropped_at.expect("the non-reader was dropped within 50 000 messages");
    eprintln!("dropped after {at} messages of 1 KB");
    // Bob has had every message in order; the room carries on.
    alice.say("after").await;
    bob.expect("alice: after").await;
    let stats = server.stop().await;
    assert_eq!(stats.dropped_slow, 1);
}

#[tokio::test]
async fn drop_oldest_keeps_a_slow_reader_and_counts_what_it_missed() {
    let mut cfg = ServerConfig::default();
    cfg.tcp.queue = 64;
    cfg.tcp.slow = SlowPolicy::DropOldest;
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut slow = non_reader(server.addr, "slow").await;
    bob.wait_for("* guest1 is now slow").await;

    // More than the socket buffers and the queue hold (measured: the disconnect policy
    // drops such a reader after about 2 900 messages of 1 KB).
    const N: u64 = 8_000;
    relay_exactly(&mut alice, &mut bob, N).await;

    // Now the slow reader catches up: every message is either received, in order, or
    // counted in a notice.
    let (mut got, mut missed, mut last) = (0u64, 0u64, 0u64);
    while last < N {
        let l = read_line(&mut slow).await.expect("the slow reader stays");
        if let Some(rest) = l.strip_prefix("alice: ") {
            let n: u64 = rest
                .split(' ')
                .next()
                .and_then(|w| w.parse().ok())
                .expect("numbered");
            assert!(n > last, "out of order: {n} after {last}");
            last = n;
            got += 1;
        } else if let Some(rest) = l.strip_prefix("! ") {
            let (count, why) = rest.split_once(' ').expect("a notice");
            assert!(
                why == "messages dropped: you are reading too slowly"
                    || why == "message dropped: you are reading too slowly",
                "{l}"
            );
            missed += count.parse::<u64>().expect("a count");
        } else {
            panic!("unexpected line {l:?}");
        }
    }
    eprintln!("received {got}, missed {missed}");
    assert!(
        missed > 0,
        "nothing was dropped: the test did not fill the queue"
    );
    assert_eq!(got + missed, N);
    // Still a member.
    alice.say("after").await;
    assert_eq!(read_line(&mut slow).await.as_deref(), Some("alice: after"));
    let stats = server.stop().await;
    assert_eq!(stats.dropped_slow, 0);
}

/// A raw TCP connection with the banner read.
async fn raw(addr: SocketAddr) -> TcpStream {
    let mut s = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let mut banner = Vec::new();
    while !banner.ends_with(b"\n") {
        let b = timeout(WAIT, s.read_u8())
            .await
            .expect("banner")
            .expect("banner");
        banner.push(b);
    }
    assert!(String::from_utf8_lossy(&banner).contains("(nettool/1)"));
    s
}

/// Everything until the server closes, as text.
async fn read_all(mut s: TcpStream) -> String {
    let mut buf = Vec::new();
    let _ = timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("closed in time");
    String::from_utf8_lossy(&buf).into_owned()
}

/// Every message the server sends on `s` until it closes.
async fn frames_to_close(s: TcpStream) -> Vec<ServerMsg> {
    let mut frames = FramedRead::new(s, FrameCodec::<ServerMsg, ()>::new(1 << 16));
    let mut got = Vec::new();
    while let Some(item) = timeout(WAIT, frames.next()).await.expect("close in time") {
        match item {
            Ok(Ok(m)) => got.push(m),
            Ok(Err(e)) => panic!("server sent a malformed frame: {e}"),
            Err(_) => break,
        }
    }
    got
}

/// A text peer that sends `bytes` and then stalls until the server closes it: its nick
/// (from the welcome) and every line it was told after the welcome.
async fn stalled_text_peer(addr: SocketAddr, bytes: &[u8]) -> (String, Vec<String>) {
    let mut p = raw(addr).await;
    p.write_all(bytes).await.expect("write");
    let got = read_all(p).await;
    let mut lines = got.lines();
    let nick = welcomed(lines.next().expect("welcome"));
    (nick, lines.map(str::to_string).collect())
}

/// The nick in a text peer's welcome line.
fn welcomed(line: &str) -> String {
    line.strip_prefix("* you are ")
        .and_then(|r| r.split(';').next())
        .unwrap_or_else(|| panic!("not a welcome: {line:?}"))
        .to_string()
}

#[tokio::test]
async fn slowloris_peers_are_timed_out_and_idle_members_are_not() {
    // The detection window stays at its default (500 ms), so that a loaded machine
    // cannot make the partial preamble below look like a text peer's first bytes.
    let mut cfg = ServerConfig::default();
    cfg.tcp.handshake_timeout = Duration::from_millis(300);
    cfg.tcp.line_timeout = Duration::from_millis(400);
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let mut alice = Member::join(server.addr, Proto::Tcp, "alice").await;
    // A person who only reads: joins after the detection window and stays throughout.
    let mut idle = TcpText::connect(server.addr).await;
    let idle_nick = welcomed(&idle.line().await);
    alice.expect(&format!("* {idle_nick} joined (tcp)")).await;

    // A first line that never ends: timed out by the handshake deadline.
    let (nick, told) = stalled_text_peer(server.addr, b"GET / HTTP/1.1").await;
    assert_eq!(told, ["! timed out: incomplete line"]);
    alice.expect(&format!("* {nick} joined (tcp)")).await;
    alice.expect(&format!("* {nick} left (timed out)")).await;

    // A complete line, then one that never ends: timed out by the line deadline.
    let (nick, told) = stalled_text_peer(server.addr, b"hi\nand then").await;
    assert_eq!(told, ["! timed out: incomplete line"]);
    alice.expect(&format!("* {nick} joined (tcp)")).await;
    alice.expect(&format!("{nick}: hi")).await;
    alice.expect(&format!("* {nick} left (timed out)")).await;

    // Half a preamble: refused before joining.
    let mut p = raw(server.addr).await;
    p.write_all(&PREAMBLE[..2]).await.expect("write");
    assert_eq!(
        read_all(p).await,
        "! timed out: incomplete nettool preamble\n"
    );

    // A preamble and half a Hello: refused before joining, in frames.
    let hello = binary::encode_frame(&ClientMsg::Hello {
        nick: Some("loris".into()),
    })
    .expect("encode");
    let mut p = raw(server.addr).await;
    p.write_all(PREAMBLE).await.expect("write");
    p.write_all(&hello[..3]).await.expect("write");
    assert_eq!(
        frames_to_close(p).await,
        [ServerMsg::Error("timed out: incomplete frame".into())]
    );

    // A member that sends half a frame: timed out, the room told.
    let say = binary::encode_frame(&ClientMsg::Say {
        seq: 1,
        sent_us: 0,
        text: "never finished".into(),
    })
    .expect("encode");
    let mut p = raw(server.addr).await;
    p.write_all(PREAMBLE).await.expect("write");
    p.write_all(&hello).await.expect("write");
    p.write_all(&say[..6]).await.expect("write");
    let got = frames_to_close(p).await;
    assert!(
        matches!(got.first(), Some(ServerMsg::Welcome { .. })),
        "{got:?}"
    );
    assert_eq!(
        got.last(),
        Some(&ServerMsg::Error("timed out: incomplete frame".into()))
    );
    alice.expect("* loris joined (tcp)").await;
    alice.expect("* loris left (timed out)").await;

    // The idle reader saw it all and is still a member.
    alice.say("still here").await;
    idle.wait_for("* loris left (timed out)").await;
    idle.expect("alice: still here").await;
    server.stop().await;
}

#[tokio::test]
async fn a_connection_flood_beyond_the_cap_is_refused_and_members_carry_on() {
    let mut cfg = ServerConfig::default();
    cfg.tcp.max_conns = 4;
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let idle1 = TcpText::connect(server.addr).await;
    let _idle2 = TcpText::connect(server.addr).await;
    alice.wait_for("* guest2 joined (tcp)").await;
    bob.wait_for("* guest2 joined (tcp)").await;

    // 200 connections beyond the cap, 50 at a time, while alice and bob chat.
    let addr = server.addr;
    let flood = tokio::spawn(async move {
        let mut refused = Vec::new();
        for _ in 0..4 {
            let wave = (0..50).map(|_| async move {
                let s = TcpStream::connect(addr).await.expect("connect");
                read_all(s).await
            });
            refused.extend(futures_util::future::join_all(wave).await);
        }
        refused
    });
    for i in 1..=100 {
        alice.say(&format!("during flood {i}")).await;
        bob.expect(&format!("alice: during flood {i}")).await;
        bob.say(&format!("reply {i}")).await;
        alice.expect(&format!("bob: reply {i}")).await;
    }
    let refused = timeout(WAIT * 2, flood)
        .await
        .expect("flood done in time")
        .expect("flood task");
    assert_eq!(refused.len(), 200);
    for r in &refused {
        assert_eq!(r, "! server full (4 connections); try again later\n");
    }

    // The refusals held no slot: once a member leaves, a newcomer gets in.
    drop(idle1);
    alice.wait_for("* guest1 left (closed)").await;
    let _newcomer = TcpText::connect(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_is_not_held_past_the_grace_by_a_stalled_reader() {
    let mut cfg = ServerConfig::default();
    // Big enough that the non-reader is never dropped: its writer blocks instead.
    cfg.tcp.queue = 1 << 20;
    cfg.tcp.queue_bytes = 1 << 30;
    cfg.tcp.grace = Duration::from_millis(300);
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut slow = non_reader(server.addr, "slow").await;
    bob.wait_for("* guest1 is now slow").await;

    // 8 MB: more than the kernel buffers between the server and the non-reader.
    const N: u64 = 8_000;
    relay_exactly(&mut alice, &mut bob, N).await;
    // The grace is 300 ms; the server must be done well within this.
    timeout(Duration::from_secs(3), server.stop())
        .await
        .expect("shutdown held by a stalled reader");
    bob.wait_for("* disconnected: server shutdown").await;

    // The non-reader got what the kernel held, then the close; its queue (with the
    // goodbye at the end) was abandoned.
    let (mut got, mut bye) = (0, false);
    while let Some(l) = read_line(&mut slow).await {
        got += 1;
        bye |= l == "* disconnected: server shutdown";
    }
    eprintln!("the non-reader got {got} of {N} lines");
    assert!(
        got < N,
        "the writer was never stalled: the test proves nothing"
    );
    assert!(!bye);
}

/// alice says `n` numbered 1 KB lines, `W` at a time; bob must get each window exactly,
/// in order, and nothing else.
async fn relay_exactly(alice: &mut Member, bob: &mut Member, n: u64) {
    let pad = pad();
    let mut sent = 0;
    while sent < n {
        say_range(alice, sent + 1, sent + W, &pad).await;
        let others = expect_range(bob, "alice", sent + 1, sent + W).await;
        assert!(others.is_empty(), "bob got {others:?}");
        sent += W;
    }
}
