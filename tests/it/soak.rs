//! A soak: a `nettool chat --proto both -l` child process with TCP and UDP members
//! (joined through the library client), each sending numbered lines at a steady rate.
//! Every line is counted per sender at every receiver:
//! - TCP to TCP: zero lost, zero duplicated, in order per sender (asserted);
//! - anything that crosses UDP: loss, reordering and duplicates counted and printed;
//! - no member dropped, no error, the server alive throughout;
//! - the server's resident memory (VmRSS) after the joins and at the end: growth at most
//!   `SOAK_RSS_MIB` MiB (default 16) — a leak per message or per member would exceed it.
//!
//! Then SIGTERM: exit status 0.
//!
//! Two runs of it: a brief one in every test run (40 + 40 members, 0.5 lines/s each,
//! 3 s: the whole path, so that it cannot rot), and the full one, ignored by default,
//! that `scripts/soak.sh` runs on the release build: `SOAK_TCP` + `SOAK_UDP` members
//! (default 500 + 500), `SOAK_RATE` lines/s each (default 0.2: 200 lines/s into the room,
//! about 200 000 deliveries/s out, which two shared cores sustain) for `SOAK_SECS`
//! seconds (default 60).

use crate::harness::env_num;
use crate::harness::load_events::start_load;
use crate::process;

use nettool::bench::cpu;
use nettool::bench::load::Report;
use nettool::wire::{Proto, ServerMsg};
use process::chat_server_for;
use std::time::Duration;
use tokio::time::Instant;

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    process::proc_status(pid, "VmRSS:")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What one soak does.
struct Soak {
    tcp: usize,
    udp: usize,
    secs: f64,
    rate: f64,
    rss_bound_mib: f64,
}

impl Soak {
    /// The brief soak of every test run (a debug build, on shared cores).
    fn brief() -> Soak {
        Soak {
            tcp: 40,
            udp: 40,
            secs: 3.0,
            rate: 0.5,
            rss_bound_mib: 16.0,
        }
    }

    /// The full soak: the environment's settings, or a minute of 500 + 500 members.
    fn from_env() -> Soak {
        Soak {
            tcp: env_num("SOAK_TCP", 500),
            udp: env_num("SOAK_UDP", 500),
            secs: env_num("SOAK_SECS", 60.0),
            rate: env_num("SOAK_RATE", 0.2),
            rss_bound_mib: env_num("SOAK_RSS_MIB", 16.0),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_brief_soak_counts_every_line_and_memory_stays_flat() {
    soak(Soak::brief()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a minute of load: scripts/soak.sh runs it on the release build"]
async fn soak_counts_every_line_and_memory_stays_flat() {
    soak(Soak::from_env()).await;
}

async fn soak(settings: Soak) {
    let Soak {
        tcp,
        udp,
        secs,
        rate,
        rss_bound_mib,
    } = settings;
    let n = tcp + udp;
    assert!(n >= 2, "a soak needs two members");
    let (server, addr) = chat_server_for(n).await;
    let pid = server.pid();
    eprintln!(
        "soak: {tcp} TCP + {udp} UDP members, {rate} lines/s each ({:.0} lines/s into the \
         room, {:.0} deliveries/s), {secs} s, server pid {pid}",
        rate * n as f64,
        rate * n as f64 * (n - 1) as f64
    );
    let rss_before = rss_kib(pid);
    let mut specs = vec![(Proto::Tcp, rate); tcp];
    specs.extend(vec![(Proto::Udp, rate); udp]);
    let t0 = Instant::now();
    let mut load = start_load(addr, &specs, 64).await;
    let rss_start = rss_kib(pid);
    eprintln!(
        "soak: joined in {:.1} s; server RSS {:.1} MiB before the joins, {:.1} MiB after",
        t0.elapsed().as_secs_f64(),
        mib(rss_before),
        mib(rss_start)
    );

    // Run, sampling the server's memory; any leave, goodbye or error is a failure.
    let run = Duration::from_secs_f64(secs);
    let cpu0 = cpu::process_cpu(pid);
    let t1 = Instant::now();
    let mut samples = vec![(0u64, rss_start)];
    let mut next_sample = t1 + Duration::from_secs(10);
    while t1.elapsed() < run {
        let until = next_sample.min(t1 + run);
        match tokio::time::timeout_at(until, load.events.recv()).await {
            Err(_) => {
                samples.push((t1.elapsed().as_secs(), rss_kib(pid)));
                next_sample += Duration::from_secs(10);
            }
            Ok(Some((i, m))) => match m {
                ServerMsg::Chat { .. } | ServerMsg::Members(_) => {}
                other => panic!("member {i} during the soak: {other:?}"),
            },
            Ok(None) => panic!("event channel closed"),
        }
    }
    let ran = t1.elapsed().as_secs_f64();
    let server_cpu = cpu::used(cpu0, cpu::process_cpu(pid));
    let report: Report = load.finish().await.expect("the load finishes");
    let rss_end = rss_kib(pid);
    samples.push((t1.elapsed().as_secs(), rss_end));

    let trail: Vec<String> = samples
        .iter()
        .map(|(t, k)| format!("{t}s {:.1}", mib(*k)))
        .collect();
    eprintln!("soak: server RSS MiB: {}", trail.join(", "));
    let sent: u64 = report.sent.iter().sum();
    eprintln!(
        "soak: {sent} lines sent in {ran:.1} s ({:.0}/s); send errors {}",
        sent as f64 / ran,
        report.send_errors
    );
    if let Some(c) = server_cpu {
        let delivered: u64 = report.tallies.iter().map(|t| t.chats).sum();
        eprintln!(
            "soak: server CPU {:.1} s over {ran:.1} s ({:.0} % of one core), {:.2} µs per \
             delivery",
            c.as_secs_f64(),
            c.as_secs_f64() * 100.0 / ran,
            c.as_secs_f64() * 1e6 / delivered.max(1) as f64
        );
    }
    for (from, to) in [
        (Proto::Tcp, Proto::Tcp),
        (Proto::Tcp, Proto::Udp),
        (Proto::Udp, Proto::Tcp),
        (Proto::Udp, Proto::Udp),
    ] {
        let t = report.totals(from, to);
        if t.pairs > 0 {
            eprintln!("soak: {from} -> {to}: {t}");
        }
    }
    for t in &report.tallies {
        assert!(t.error.is_none(), "member {}: {:?}", t.idx, t.error);
        assert!(t.bye.is_none(), "member {} told bye: {:?}", t.idx, t.bye);
        assert!(!t.closed, "member {} closed", t.idx);
    }
    assert_eq!(report.send_errors, 0, "no member lost its connection");
    assert_eq!(report.check_tcp_exact(), Ok(()));
    let tt = report.totals(Proto::Tcp, Proto::Tcp);
    assert!(tcp < 2 || tt.received > 0, "TCP lines flowed");
    let growth = mib(rss_end.saturating_sub(rss_start));
    eprintln!(
        "soak: server RSS {:.1} MiB after the joins, {:.1} MiB at the end: growth {growth:.1} \
         MiB (bound {rss_bound_mib} MiB)",
        mib(rss_start),
        mib(rss_end)
    );
    assert!(
        growth <= rss_bound_mib,
        "server RSS grew {growth:.1} MiB (> {rss_bound_mib})"
    );

    server.signal("TERM").await;
    let status = server.exit().await;
    assert!(status.success(), "exit status 0: {status}");
}
