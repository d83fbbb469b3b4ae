//! Per-interval reports on loopback (a perfect link): TCP's `TCP_INFO` view reports no
//! retransmission that was needed, and every protocol's intervals add up to the run's totals; the
//! binary prints a line per interval, or puts them in `--json`. (Retransmissions
//! against the lab's drops are in `lab_capture`.)

use nettool::bench::interval::IntervalConfig;
use nettool::bench::rtt::{self, RttConfig};
use nettool::bench::stream::{self, StreamConfig};
use nettool::echo::{Server, ServerConfig};
use nettool::wire::Proto;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the kernel counted, machine-wide (this network namespace), that explains a
/// retransmission on loopback: packets dropped for a full input backlog
/// (`/proc/net/softnet_stat`), and duplicates receivers answered with a D-SACK
/// (`TCPDSACKOldSent`, `TCPDSACKOfoSent`: the retransmission was not needed, though its
/// sender may not learn so; a loss probe after a stall on a busy machine, say).
fn kernel_counts() -> u64 {
    let t = std::fs::read_to_string("/proc/net/softnet_stat").expect("softnet_stat");
    let drops: u64 = t
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|h| u64::from_str_radix(h, 16).expect("hex"))
        .sum();
    let t = std::fs::read_to_string("/proc/net/netstat").expect("netstat");
    let mut lines = t.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next().expect("names"), lines.next().expect("values"));
    let dups: u64 = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter(|(n, _)| matches!(*n, "TCPDSACKOldSent" | "TCPDSACKOfoSent"))
        .map(|(_, v)| v.parse::<u64>().expect("count"))
        .sum();
    drops + dups
}

/// Loopback loses nothing, but on a busy machine a stall can fire a tail-loss probe, a
/// retransmission that was not needed. Every retransmission must be explained by what
/// the kernel counted since `before` (see [`kernel_counts`]): none on a quiet machine.
fn assert_no_needed_retransmission(cc: &nettool::bench::interval::CcSummary, before: u64) {
    let explained = kernel_counts() - before;
    assert!(
        cc.retransmits <= explained,
        "a perfect link: {} retransmissions, {explained} explained by the kernel: {cc:?}",
        cc.retransmits
    );
}

async fn echo() -> (SocketAddr, CancellationToken) {
    let any = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(any, &[Proto::Tcp, Proto::Udp], ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone()));
    (addr, stop)
}

fn every(ms: u64, samples: bool) -> IntervalConfig {
    IntervalConfig {
        every: Some(Duration::from_millis(ms)),
        samples,
        lines: None,
    }
}

async fn stream(addr: SocketAddr, proto: Proto, rate_bps: u64) -> stream::StreamResult {
    let cfg = StreamConfig {
        addr,
        proto,
        duration: Duration::from_millis(800),
        size: 1200,
        rate_bps,
        secure: Default::default(),
        intervals: every(200, true),
    };
    tokio::task::spawn_blocking(move || stream::run(&cfg))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_tcp_stream_on_loopback_retransmits_nothing_and_its_intervals_add_up() {
    let (addr, _stop) = echo().await;
    let drops = kernel_counts();
    let r = stream(addr, Proto::Tcp, 0).await;
    let cc = r.cc.expect("TCP_INFO at the end");
    assert_eq!(cc.source, "TCP_INFO");
    assert_no_needed_retransmission(&cc, drops);
    assert!(
        cc.segments_sent > 0 && cc.snd_cwnd > 0 && cc.rtt > 0,
        "{cc:?}"
    );
    assert!(r.intervals.len() >= 4, "{:?}", r.intervals);
    let retr: u64 = r.intervals.iter().map(|i| i.cc.unwrap().retransmits).sum();
    let segs: u64 = r
        .intervals
        .iter()
        .map(|i| i.cc.unwrap().segments_sent)
        .sum();
    assert_eq!((retr, segs), (cc.retransmits, cc.segments_sent));
    // Acknowledged bytes: the preamble, the data and the FIN's one.
    let bytes: u64 = r.intervals.iter().map(|i| i.bytes).sum();
    let preamble = nettool::echo::sink::TCP_PREAMBLE.len() as u64;
    assert_eq!(bytes, r.recv_bytes + preamble + 1, "{:?}", r.intervals);
    // Intervals tile the run; samples (every 100 ms) add up the same.
    for w in r.intervals.windows(2) {
        assert_eq!(w[0].end, w[1].start);
    }
    assert_eq!(r.samples.iter().map(|i| i.bytes).sum::<u64>(), bytes);
    assert!(r.samples.len() >= 2 * (r.intervals.len() - 1));
}

#[tokio::test]
async fn a_udp_streams_intervals_add_up_to_what_the_receiver_counted() {
    let (addr, _stop) = echo().await;
    let r = stream(addr, Proto::Udp, 100_000_000).await;
    assert!(r.cc.is_none());
    let d: Vec<_> = r.intervals.iter().map(|i| i.datagrams.unwrap()).collect();
    assert!(d.len() >= 4, "{:?}", r.intervals);
    let sent = r.sent_datagrams.unwrap();
    let recv = r.recv_datagrams.unwrap();
    let lost: i64 = d.iter().map(|d| d.lost_packets).sum();
    assert_eq!(lost, (sent - recv) as i64);
    let expected: u64 = d.iter().map(|d| d.packets).sum();
    assert_eq!(expected, sent);
    assert_eq!(
        r.intervals.iter().map(|i| i.bytes).sum::<u64>(),
        r.recv_bytes
    );
    assert_eq!(
        d.iter().map(|d| d.out_of_order).sum::<u64>(),
        r.reordered.unwrap()
    );
}

#[tokio::test]
async fn round_trip_intervals_add_up_per_protocol() {
    let (addr, _stop) = echo().await;
    for proto in [Proto::Tcp, Proto::Udp] {
        let drops = kernel_counts();
        let cfg = RttConfig {
            addr,
            proto,
            size: 64,
            warmup: 10,
            count: 0,
            duration: Duration::from_millis(500),
            timeout: Duration::from_secs(1),
            secure: Default::default(),
            datagrams: false,
            intervals: every(100, false),
        };
        let r = tokio::task::spawn_blocking(move || rtt::run(&cfg))
            .await
            .unwrap()
            .unwrap();
        let rt: Vec<_> = r.intervals.iter().map(|i| i.round_trips.unwrap()).collect();
        assert!(rt.len() >= 4, "{proto}: {:?}", r.intervals);
        assert_eq!(rt.iter().map(|i| i.round_trips).sum::<u64>(), r.received);
        assert_eq!(rt.iter().map(|i| i.lost).sum::<u64>(), r.lost);
        assert_eq!(r.cc.is_some(), proto == Proto::Tcp, "{proto}");
        if let Some(cc) = r.cc {
            assert_no_needed_retransmission(&cc, drops);
            assert!(r.intervals.iter().all(|i| i.cc.is_some()));
        }
    }
}

#[tokio::test]
async fn the_binary_prints_a_line_per_interval_and_json_carries_them() {
    let out = crate::process::run_ok(&[
        "bench",
        "stream",
        "--proto",
        "tcp",
        "--duration",
        "1s",
        "--interval",
        "250ms",
    ]);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("stream tcp "))
        .collect();
    assert!((4..=5).contains(&lines.len()), "{out}");
    assert!(
        lines[0].contains("retr ") && lines[0].contains("cwnd "),
        "{out}"
    );
    assert!(
        out.contains("stream over tcp, every 250ms (TCP_INFO"),
        "{out}"
    );
    assert!(out.contains("retransmitted segments"), "{out}");
    let v = crate::process::bench_json(&[
        "bench",
        "stream",
        "--proto",
        "udp",
        "--duration",
        "1s",
        "--interval",
        "250ms",
        "--rate",
        "50M",
        "--json",
    ])
    .await;
    let ivs = v["stream"]["udp"]["intervals"]
        .as_array()
        .expect("intervals");
    assert!(ivs.len() >= 4, "{v}");
    assert!(
        ivs[0]["lost_packets"].is_i64() && ivs[0]["jitter_ms"].is_f64(),
        "{v}"
    );
    // Off (0), and off by default when stdout is not a terminal.
    for args in [&["--interval", "0"][..], &[]] {
        let mut a = vec!["bench", "stream", "--proto", "tcp", "--duration", "3s"];
        a.extend(args);
        let out = crate::process::run_ok(&a);
        assert!(!out.contains("stream tcp "), "{args:?}: {out}");
    }
}

/// TLS and QUIC fill the same interval columns and final rows as TCP: TLS from the
/// `TCP_INFO` of the TCP socket under it, QUIC from quinn's connection statistics. The
/// intervals add up to the totals (bytes: those handed to the connection).
#[tokio::test]
async fn tls_and_quic_streams_and_round_trips_report_their_own_congestion_control() {
    use crate::harness::test_identity;
    use nettool::cert::Trust;
    let cfg = ServerConfig {
        identity: Some(test_identity()),
        ..Default::default()
    };
    let any = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(any, &[Proto::Tls, Proto::Quic], cfg)
        .await
        .unwrap();
    let bound = server.bound();
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone()));
    let secure = nettool::quic::endpoint::ClientOptions {
        trust: Trust::Pin(test_identity().fingerprint.clone()),
        ..Default::default()
    };
    for (proto, source) in [(Proto::Tls, "TCP_INFO"), (Proto::Quic, "quinn")] {
        let addr = bound.iter().find(|b| b.0 == proto).expect("bound").1;
        let cfg = StreamConfig {
            addr,
            proto,
            duration: Duration::from_millis(800),
            size: 1200,
            rate_bps: 0,
            secure: secure.clone(),
            intervals: every(200, false),
        };
        let r = tokio::task::spawn_blocking(move || stream::run(&cfg))
            .await
            .unwrap()
            .unwrap();
        let cc = r.cc.unwrap_or_else(|| panic!("{proto}: no figures"));
        assert_eq!(cc.source, source, "{proto}");
        assert!(
            cc.segments_sent > 0 && cc.snd_cwnd > 0 && cc.rtt > 0,
            "{proto}: {cc:?}"
        );
        assert!(r.intervals.len() >= 4, "{proto}: {:?}", r.intervals);
        let ccs: Vec<_> = r.intervals.iter().map(|i| i.cc.expect("cc")).collect();
        let retr: u64 = ccs.iter().map(|c| c.retransmits).sum();
        let sent: u64 = ccs.iter().map(|c| c.segments_sent).sum();
        assert_eq!((retr, sent), (cc.retransmits, cc.segments_sent), "{proto}");
        let bytes: u64 = r.intervals.iter().map(|i| i.bytes).sum();
        match proto {
            // TCP's acknowledged bytes: TLS's records, larger than the data they carry.
            Proto::Tls => assert!(bytes > r.sent_bytes, "{proto}: {bytes} of {}", r.sent_bytes),
            _ => assert_eq!(bytes, r.sent_bytes, "{proto}"),
        }
        let rcfg = RttConfig {
            addr,
            proto,
            size: 64,
            warmup: 10,
            count: 0,
            duration: Duration::from_millis(400),
            timeout: Duration::from_secs(1),
            secure: secure.clone(),
            datagrams: false,
            intervals: every(100, false),
        };
        let r = tokio::task::spawn_blocking(move || rtt::run(&rcfg))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.cc.map(|c| c.source), Some(source), "{proto}");
        assert!(r.intervals.iter().all(|i| i.cc.is_some()), "{proto}");
    }
    stop.cancel();
}
