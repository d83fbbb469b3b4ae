//! Chat fan-out: N clients in one room, each sending at a rate; every message goes to
//! the N-1 others. Measures delivered messages/s across all receivers, delivery latency
//! (send time to receive time, same clock), loss (per-sender sequence gaps, for UDP),
//! and the CPU the server and the load generator each spent per delivered message.
//!
//! With `slow_readers`, that many extra TCP text members join and never read, to show
//! what a stalled member costs the others under the server's `--slow` policy; the
//! result says how many were dropped as too slow, and how many messages the survivors
//! were told they missed.
//!
//! The server is a `nettool chat -l` child process by default; `External` points the
//! same load at any line-based chat server (the lesson's Node.js relay, `ncat --chat`)
//! in text mode, its CPU read through its pid. The members are the load generator's
//! ([`super::load`]), measured over a window after a warm-up.

use super::child::{room_server_args, ChildServer, LOAD_CPU, SERVER_CPU};
use super::cpu;
use super::load::{Load, LoadConfig};
use crate::measure::latency::Latency;
use crate::tcp::SlowPolicy;
use crate::wire::{now_us, LeaveReason, Proto, ServerMsg};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

/// Which server takes the load.
#[derive(Debug, Clone)]
pub(super) enum Server {
    /// Start `EXE chat -l 127.0.0.1:0 --proto …` (normally this very binary).
    Spawn { exe: PathBuf },
    /// A running server; its CPU is measured when its pid is given.
    External { addr: SocketAddr, pid: Option<u32> },
}

#[derive(Debug, Clone)]
pub(super) struct FanoutConfig {
    pub server: Server,
    pub proto: Proto,
    /// Speak text lines instead of the binary protocol (for servers that are not nettool).
    pub text: bool,
    pub clients: usize,
    /// Messages per second per client.
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    /// Chat text bytes per message.
    pub payload: usize,
    /// Extra TCP members that join and never read.
    pub slow_readers: usize,
    /// The spawned server's policy for them.
    pub slow: SlowPolicy,
    /// The spawned server's `--sndbuf`.
    pub sndbuf: Option<usize>,
    /// The spawned server's `--coalesce`.
    pub coalesce: Duration,
    /// Server on CPU 0 (when spawned), load generator on CPU 1.
    pub pin: bool,
    /// TLS and QUIC: how an external server is trusted (a spawned one's certificate is
    /// pinned), and the groups offered.
    pub secure: crate::quic::endpoint::ClientOptions,
    /// QUIC: chat lines relayed as DATAGRAM frames.
    pub datagrams: bool,
}

/// What a fan-out run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutResult {
    /// The protocol the members used.
    pub proto: Proto,
    /// QUIC: lines relayed as DATAGRAM frames (unreliable).
    pub datagrams: bool,
    /// Whether they spoke text lines rather than the binary protocol.
    pub text: bool,
    /// Members sending and receiving.
    pub clients: usize,
    /// Lines per second each member sent.
    pub rate_per_client: f64,
    /// Length of the measured window, in seconds.
    pub seconds: f64,
    /// Lines sent inside the window, all members together.
    pub sent: u64,
    /// Deliveries due: each line sent to every other member.
    pub expected: u64,
    /// Deliveries that arrived.
    pub delivered: u64,
    /// Deliveries per second over the window.
    pub delivered_per_s: f64,
    /// Deliveries missing, as a percentage of those due (0–100).
    pub loss_pct: f64,
    /// Deliveries that arrived after a later line from the same sender.
    pub reordered: u64,
    /// Deliveries received more than once.
    pub duplicates: u64,
    /// Send-to-delivery latency, in µs; `None` if nothing arrived.
    pub latency: Option<Latency>,
    /// Server on-CPU time over the window, in seconds (`None` if it cannot be read).
    pub server_cpu_s: Option<f64>,
    /// Server on-CPU time per delivery, in µs.
    pub server_cpu_us_per_delivery: Option<f64>,
    /// The load generator's own on-CPU time over the window, in seconds.
    pub loadgen_cpu_s: Option<f64>,
    /// Extra TCP members that joined and never read.
    pub slow_readers: usize,
    /// What the server did with them (`SlowPolicy`, as shown).
    pub slow_policy: String,
    /// Slow readers the room dropped as too slow (as the other members were told).
    pub slow_dropped: u64,
    /// Messages the slow readers were told they missed (drop-oldest), read afterwards.
    pub slow_missed: u64,
}

/// Run the measurement.
pub(super) async fn run(cfg: &FanoutConfig) -> Result<FanoutResult> {
    if cfg.clients < 2 {
        bail!("fan-out needs at least 2 clients");
    }
    if cfg.slow_readers > 0 && cfg.proto != Proto::Tcp {
        bail!(
            "slow readers are TCP members: fan-out over {} has none",
            cfg.proto
        );
    }
    if cfg.text && cfg.proto != Proto::Tcp {
        bail!("text-mode fan-out is TCP only");
    }
    let mut trust = cfg.secure.trust.clone();
    let (_child, addr, pid) = match &cfg.server {
        Server::Spawn { exe } => {
            let members = cfg.clients + cfg.slow_readers;
            let mut args = room_server_args(cfg.proto, members, cfg.coalesce);
            args.extend(["--slow".into(), cfg.slow.to_string()]);
            if let Some(n) = cfg.sndbuf {
                args.extend(["--sndbuf".into(), n.to_string()]);
            }
            let child = ChildServer::spawn_pinned(exe, &args, cfg.pin.then_some(SERVER_CPU))?;
            let (addr, pid) = (child.addr, child.pid());
            if let Some(fp) = &child.fingerprint {
                trust = crate::cert::Trust::Pin(fp.clone());
            }
            (Some(child), addr, Some(pid))
        }
        Server::External { addr, pid } => (None, *addr, *pid),
    };
    if cfg.pin {
        super::child::pin_self(LOAD_CPU);
    }
    let load_cfg = LoadConfig {
        parallel: 1,
        text: "x".repeat(cfg.payload),
        text_mode: cfg.text,
        count_from_start: false,
        trust,
        kx: cfg.secure.kx,
        datagrams: cfg.datagrams,
        ..LoadConfig::new(addr, vec![(cfg.proto, cfg.rate); cfg.clients])
    };
    let load = Load::join(&load_cfg).await?;
    let mut slow = Vec::new();
    for i in 0..cfg.slow_readers {
        slow.push(slow_reader(addr, i).await?);
    }

    load.start();
    tokio::time::sleep(cfg.warmup).await;
    // Fix the window a little ahead, so that senders and receivers judge every message
    // by the same bounds (its send time), with no race at either edge.
    let lead = Duration::from_millis(20);
    let t0 = now_us() + lead.as_micros() as u64;
    let t1 = t0 + cfg.duration.as_micros() as u64;
    load.measure(t0, t1);
    tokio::time::sleep(lead).await;
    let cpu0 = (pid.and_then(cpu::process_cpu), cpu::own_cpu());
    tokio::time::sleep(cfg.duration).await;
    let cpu1 = (pid.and_then(cpu::process_cpu), cpu::own_cpu());
    // Receivers stop once nothing has arrived for a while (or at a hard limit).
    let report = load.finish().await?;
    let mut hist = crate::measure::latency::histogram();
    for t in &report.tallies {
        hist.add(&t.latency).map_err(|e| anyhow!("{e:?}"))?;
    }
    let delivered: u64 = report.tallies.iter().map(|t| t.delivered()).sum();
    let trackers = || {
        report
            .tallies
            .iter()
            .flat_map(|t| &t.from)
            .map(|s| &s.tracker)
    };
    let mut slow_left = vec![0u64; cfg.clients];
    for (i, m) in &report.events {
        if let ServerMsg::Left {
            nick,
            reason: LeaveReason::TooSlow,
        } = m
        {
            if nick.starts_with("slow") {
                slow_left[*i] += 1;
            }
        }
    }
    let mut slow_missed = 0;
    for s in slow {
        slow_missed += missed(s).await;
    }
    let seconds = (t1 - t0) as f64 / 1e6;
    let sent_in_window = report.sent_in_window;
    let expected = sent_in_window * (cfg.clients as u64 - 1);
    let server_cpu = cpu::used(cpu0.0, cpu1.0);
    Ok(FanoutResult {
        proto: cfg.proto,
        datagrams: cfg.datagrams,
        text: cfg.text,
        clients: cfg.clients,
        rate_per_client: cfg.rate,
        seconds,
        sent: sent_in_window,
        expected,
        delivered,
        delivered_per_s: delivered as f64 / seconds,
        loss_pct: if expected == 0 {
            0.0
        } else {
            expected.saturating_sub(delivered) as f64 * 100.0 / expected as f64
        },
        reordered: trackers().map(|t| t.reordered).sum(),
        duplicates: trackers().map(|t| t.duplicates).sum(),
        latency: Latency::from_histogram(&hist),
        server_cpu_s: server_cpu.map(|d| d.as_secs_f64()),
        server_cpu_us_per_delivery: server_cpu
            .filter(|_| delivered > 0)
            .map(|d| d.as_secs_f64() * 1e6 / delivered as f64),
        loadgen_cpu_s: cpu::used(cpu0.1, cpu1.1).map(|d| d.as_secs_f64()),
        slow_readers: cfg.slow_readers,
        slow_policy: cfg.slow.to_string(),
        slow_dropped: slow_left.into_iter().max().unwrap_or(0),
        slow_missed,
    })
}

/// A TCP text member that renames itself `slowI`, reads the rename, then never reads
/// again (its receive buffer kept small).
async fn slow_reader(addr: SocketAddr, i: usize) -> Result<BufReader<TcpStream>> {
    let sock = TcpSocket::new_v4()?;
    sock.set_recv_buffer_size(4096)?;
    let s = sock.connect(addr).await.context("slow reader connect")?;
    let mut s = BufReader::new(s);
    let nick = format!("slow{i}");
    s.get_mut()
        .write_all(format!("/nick {nick}\n").as_bytes())
        .await?;
    let renamed = format!(" is now {nick}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut line = String::new();
    loop {
        line.clear();
        match tokio::time::timeout_at(deadline, s.read_line(&mut line)).await {
            Ok(Ok(0)) | Ok(Err(_)) => bail!("slow reader {i} was closed before joining"),
            Ok(Ok(_)) if line.trim_end().ends_with(&renamed) => return Ok(s),
            Ok(Ok(_)) => continue,
            Err(_) => bail!("slow reader {i} was not renamed in time"),
        }
    }
}

/// Read a slow reader's backlog (until closed, or quiet for 300 ms, within 10 s) and
/// add up the `Dropped` notices in it.
async fn missed(mut s: BufReader<TcpStream>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut line = String::new();
    let mut missed = 0;
    while Instant::now() < deadline {
        line.clear();
        match timeout(Duration::from_millis(300), s.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
        if let Some(ServerMsg::Dropped { count }) = crate::wire::text::parse_notice(&line) {
            missed += count;
        }
    }
    missed
}
