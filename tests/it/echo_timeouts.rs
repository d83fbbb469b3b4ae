//! TCP echo replies that come late or wrong, against scripted servers on loopback: a
//! late echo is a lost ping and is skipped (counted late) when it finally arrives ahead
//! of the next one; bytes that are not the echo reconnect; `bench rtt` over TCP counts
//! lost round trips instead of failing.

use nettool::echo::{self, PingConfig};
use nettool::wire::Proto;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// The ping timeout where a ping must be lost: long, so that the replies that must come in
/// time still do when the machine stalls this process (the lost ping costs the test
/// this long).
const LOST_AFTER: Duration = Duration::from_secs(2);
/// The ping timeout where no ping may time out.
const NEVER: Duration = WAIT;

async fn ping(
    addr: SocketAddr,
    count: u64,
    reply_wait: Duration,
) -> (echo::PingSummary, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let cfg = PingConfig {
        addr,
        proto: Proto::Tcp,
        count,
        size: 64,
        interval: Duration::ZERO,
        timeout: reply_wait,
        secure: Default::default(),
        datagrams: false,
    };
    let summary = timeout(
        WAIT + reply_wait * count as u32,
        echo::ping(&cfg, move |r| l.lock().unwrap().push(r.to_string())),
    )
    .await
    .expect("in time")
    .expect("ping");
    let lines = lines.lock().unwrap().clone();
    (summary, lines)
}

#[tokio::test]
async fn a_late_tcp_echo_is_a_lost_ping_then_skipped() {
    // Holds the first echo until the second ping has arrived (so the first has timed
    // out at the client), then echoes both, then echoes promptly.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut two = [0u8; 128];
        s.read_exact(&mut two).await.unwrap();
        s.write_all(&two).await.unwrap();
        let mut buf = [0u8; 64];
        while s.read_exact(&mut buf).await.is_ok() {
            s.write_all(&buf).await.unwrap();
        }
    });
    let (s, lines) = ping(addr, 3, LOST_AFTER).await;
    assert_eq!(lines[0], "seq=1: no reply within 2000 ms");
    for (i, l) in lines[1..].iter().enumerate() {
        let want = format!("64 bytes from {addr}: seq={} time=", i + 2);
        assert!(l.starts_with(&want), "{l}");
    }
    assert_eq!((s.sent, s.received, s.lost, s.late), (3, 2, 1, 1));
    assert_eq!(s.error, None);
}

#[tokio::test]
async fn a_reply_that_is_not_the_echo_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            *a.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while s.read_exact(&mut buf).await.is_ok() {
                    let _ = s.write_all(&[b'x'; 64]).await;
                }
            });
        }
    });
    let (s, lines) = ping(addr, 3, NEVER).await;
    assert_eq!(
        lines,
        (1..=3)
            .map(|i| format!("seq={i}: the reply differs from what was sent (not an echo server?)"))
            .collect::<Vec<_>>()
    );
    assert_eq!((s.sent, s.received, s.lost), (3, 0, 3));
    assert_eq!(*accepted.lock().unwrap(), 3, "one connection per ping");
}

#[tokio::test]
async fn a_server_that_closes_mid_run_ends_it_with_the_summary_so_far() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        // Closes instead of answering the second.
    });
    let (s, lines) = ping(addr, 5, NEVER).await;
    assert_eq!(lines.len(), 1);
    assert_eq!((s.sent, s.received), (1, 1));
    assert_eq!(
        s.error.as_deref(),
        Some(format!("tcp {addr} closed the connection").as_str())
    );
}

#[tokio::test]
async fn bench_rtt_over_tcp_counts_lost_round_trips() {
    use nettool::bench::rtt::{self, RttConfig};
    // Accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let held = listener.accept().await;
        std::future::pending::<()>().await;
        drop(held);
    });
    let cfg = RttConfig {
        addr,
        proto: Proto::Tcp,
        size: 64,
        warmup: 0,
        count: 3,
        duration: WAIT,
        timeout: Duration::from_millis(50),
        secure: Default::default(),
        datagrams: false,
        intervals: Default::default(),
    };
    let r = tokio::task::spawn_blocking(move || rtt::run(&cfg))
        .await
        .unwrap()
        .expect("a lost TCP round trip is not an error");
    assert_eq!((r.sent, r.received, r.lost), (3, 0, 3));
}
