//! The echo service on real loopback sockets: RFC 862 over TCP (1 MiB with half-close)
//! and UDP (1, 1200 and 65 507 bytes; oversize dropped), the ping client's summary, loss
//! reported as timeouts, and the stream sink beside echo.

use crate::harness::per_proto;
use nettool::echo::{self, PingConfig, Server, ServerConfig};
use nettool::wire::Proto;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

async fn start(cfg: ServerConfig) -> (SocketAddr, CancellationToken) {
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        &[Proto::Tcp, Proto::Udp],
        cfg,
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let token = CancellationToken::new();
    tokio::spawn(server.run(token.clone()));
    (addr, token)
}

#[tokio::test]
async fn tcp_echoes_a_mebibyte_and_honours_half_close() {
    let (addr, _stop) = start(ServerConfig::default()).await;
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    // Write concurrently with reading (the server echoes as it goes), then half-close.
    let writer = tokio::spawn(async move {
        wr.write_all(&sent).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    timeout(WAIT, rd.read_to_end(&mut back))
        .await
        .expect("the server closes after echoing everything")
        .unwrap();
    writer.await.unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "echo differs");
}

#[tokio::test]
async fn udp_echoes_each_datagram_and_drops_oversize_ones() {
    let (addr, _stop) = start(ServerConfig {
        max_datagram: 2000,
        ..Default::default()
    })
    .await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(addr).await.unwrap();
    let mut buf = vec![0u8; 65_536];
    for size in [1usize, 1200, 2000] {
        let d: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        sock.send(&d).await.unwrap();
        let n = timeout(WAIT, sock.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], &d[..], "{size} bytes");
    }
    // Over the limit: no answer; the next small one is answered (and is the next reply).
    sock.send(&vec![1u8; 2001]).await.unwrap();
    sock.send(b"after").await.unwrap();
    let n = timeout(WAIT, sock.recv(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"after");
}

#[tokio::test]
async fn udp_echoes_the_largest_datagram() {
    let (addr, _stop) = start(ServerConfig::default()).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(addr).await.unwrap();
    let d = vec![0xa5u8; 65_507];
    sock.send(&d).await.unwrap();
    let mut buf = vec![0u8; 65_536];
    let n = timeout(WAIT, sock.recv(&mut buf)).await.unwrap().unwrap();
    assert_eq!(n, 65_507);
    assert!(buf[..n] == d[..]);
}

async fn ping(
    addr: SocketAddr,
    proto: Proto,
    count: u64,
    wait: Duration,
) -> (echo::PingSummary, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let cfg = PingConfig {
        addr,
        proto,
        count,
        size: 64,
        interval: Duration::ZERO,
        timeout: wait,
        secure: Default::default(),
        datagrams: false,
    };
    let summary = timeout(
        WAIT,
        echo::ping(&cfg, move |r| l.lock().unwrap().push(r.to_string())),
    )
    .await
    .unwrap()
    .unwrap();
    let lines = lines.lock().unwrap().clone();
    (summary, lines)
}

/// Five pings, five replies, percentiles in order, the summary line.
async fn ping_summary_against_a_live_server(proto: Proto) {
    let (addr, _stop) = start(ServerConfig::default()).await;
    let (s, lines) = ping(addr, proto, 5, Duration::from_secs(2)).await;
    assert_eq!(
        (s.sent, s.received, s.lost, s.late),
        (5, 5, 0, 0),
        "{proto}"
    );
    assert_eq!(s.loss_pct, 0.0);
    let (min, p50, p99, max) = (
        s.min_us.unwrap(),
        s.p50_us.unwrap(),
        s.p99_us.unwrap(),
        s.max_us.unwrap(),
    );
    assert!(0.0 < min && min <= p50 && p50 <= p99 && p99 <= max, "{s:?}");
    assert_eq!(lines.len(), 5);
    assert!(
        lines[0].starts_with(&format!("64 bytes from {addr}: seq=1 time=")),
        "{}",
        lines[0]
    );
    assert!(
        s.to_string().contains("5 sent, 5 received, 0.0% loss"),
        "{s}"
    );
}

per_proto!(ping_summary_against_a_live_server);

#[tokio::test]
async fn lost_udp_replies_are_timeouts() {
    // A socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let (s, lines) = ping(addr, Proto::Udp, 3, Duration::from_millis(50)).await;
    assert_eq!((s.sent, s.received, s.lost), (3, 0, 3));
    assert_eq!(s.loss_pct, 100.0);
    assert_eq!(s.p50_us, None);
    assert_eq!(
        lines,
        (1..=3)
            .map(|i| format!("seq={i}: no reply within 50 ms"))
            .collect::<Vec<_>>()
    );
    // Each ping was really sent.
    let mut buf = [0u8; 128];
    for _ in 0..3 {
        let n = timeout(WAIT, silent.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(n, 64);
    }
}

/// The stream sink beside echo counts what it gets instead of echoing it.
async fn the_stream_sink_counts_instead_of_echoing(proto: Proto) {
    use nettool::bench::stream::{self, StreamConfig};
    let (addr, _stop) = start(ServerConfig::default()).await;
    let cfg = StreamConfig {
        addr,
        proto,
        duration: Duration::from_millis(200),
        size: 1200,
        rate_bps: 10_000_000, // paced: 10 Mbit/s, about 1 000 datagrams/s
        secure: Default::default(),
        intervals: Default::default(),
    };
    let r = tokio::task::spawn_blocking(move || stream::run(&cfg))
        .await
        .unwrap()
        .unwrap();
    assert!(r.recv_bytes > 0, "{r:?}");
    match proto {
        Proto::Udp => {
            let sent = r.sent_datagrams.unwrap();
            let recv = r.recv_datagrams.unwrap();
            // Paced to ~200 in 200 ms (unpaced would be ~100 000). Only the upper bound is
            // asserted: a slow machine sends fewer, never more.
            assert!(sent > 0 && sent <= 400, "paced: {sent}");
            assert!(recv <= sent && recv > 0, "{r:?}");
            assert_eq!(r.duplicates, Some(0));
        }
        Proto::Tcp => assert_eq!(r.recv_bytes, r.sent_bytes, "TCP delivers every byte"),
        other => unreachable!("no stream test over {other}"),
    }
}

per_proto!(the_stream_sink_counts_instead_of_echoing);

/// The state letter (`R`, `S`, `T`...) of `pid`'s thread named `name`, if there is one.
fn thread_state(pid: u32, name: &str) -> Option<char> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        if comm.trim_end() != name {
            return None;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
        stat.rsplit_once(") ")?.1.chars().next()
    })
}

/// Ctrl-Z, then `fg`: in a process stopped and continued, a blocking receive with a
/// timeout fails with EINTR (signal(7)), even with no signal handler. `nettool echo` must
/// wait on for its reply, not end on "Interrupted system call".
async fn a_ping_client_stopped_and_continued_waits_on(proto: Proto) {
    use crate::harness::Peer;
    use crate::process::{nettool, Proc};
    // A peer that takes every ping and never answers.
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = match proto {
        Proto::Udp => udp.local_addr().unwrap(),
        _ => tcp.local_addr().unwrap(),
    }
    .to_string();
    let p = proto.to_string();
    let args = [
        "echo", &addr, "--proto", &p, "-c", "2", "-W", "1s", "-i", "0",
    ];
    let mut ping = Proc::spawn("ping", nettool(), &args);
    // The first ping has arrived...
    let mut buf = [0u8; 64];
    let _held = match proto {
        Proto::Udp => {
            timeout(WAIT, udp.recv(&mut buf)).await.unwrap().unwrap();
            None
        }
        _ => {
            let (mut s, _) = timeout(WAIT, tcp.accept()).await.unwrap().unwrap();
            timeout(WAIT, s.read_exact(&mut buf))
                .await
                .unwrap()
                .unwrap();
            Some(s)
        }
    };
    // ...and the ping thread sleeps in its receive (bounded wait for that, polling /proc).
    let deadline = tokio::time::Instant::now() + WAIT;
    while thread_state(ping.pid(), "ping") != Some('S') {
        assert!(tokio::time::Instant::now() < deadline, "never waiting");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ping.signal("STOP").await;
    ping.signal("CONT").await;
    for seq in 1..=2 {
        ping.expect(&format!("seq={seq}: no reply within 1000 ms"))
            .await;
    }
    ping.expect(&format!("--- {addr} {proto} echo ---")).await;
    ping.expect("2 sent, 0 received, 100.0% loss (0 late)")
        .await;
    let said = ping.stderr_containing("nettool: ").await;
    assert_eq!(
        said,
        format!("nettool: no reply from {proto} {addr} (2 sent)")
    );
    assert_eq!(ping.exit().await.code(), Some(1));
}

// The blocking sockets of the TCP and UDP pings (QUIC's waits are the runtime's).
per_proto!(a_ping_client_stopped_and_continued_waits_on: tcp, udp);
