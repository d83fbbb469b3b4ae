//! `nettool bench capacity`: one room filled to its limit. Joins `members` TCP and
//! `members` UDP text members (alternating) at `join_rate` joins per second to a child
//! `nettool chat -l --proto both`, then sends `broadcasts` lines, alternately from a TCP
//! and a UDP member, each to every other member. Reports the join rate, how many were
//! dropped or never welcomed, the server's RSS per member, the latency of each line to
//! every receiver (p50/p99 over all deliveries) and the server's CPU per delivery.
//!
//! Members speak text lines (netcat's view of the room), UDP ones after proving their
//! address (`/ok CODE`). Every member is a socket, and one process may not hold 20 000
//! of them under the usual hard limit, so the UDP members live in a worker process (this
//! binary again, `bench --capacity-worker ADDR`, see [`worker`]) that reports on stdout
//! (`W` welcomed, `G` gone, `D µs` delivered) and sends the lines it reads on stdin.
//! With `pin`, the server runs on CPU 0 and the load generator (and its worker) on CPU 1.

use super::child::{ChildServer, Reaped, LOAD_CPU, SERVER_CPU};
use super::cpu;
use crate::measure::latency::{histogram, Latency};
use crate::wire::{now_us, Proto};
use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

/// Marker of a measured line: `cap SEQ SENT_US`.
const MARK: &str = "cap";

/// What the capacity run loads a room with.
#[derive(Debug, Clone)]
pub struct CapacityConfig {
    /// The nettool binary, started as the chat server and the UDP worker.
    pub exe: PathBuf,
    /// Members per protocol.
    pub members: usize,
    /// Joins per second, both protocols together.
    pub join_rate: f64,
    /// Lines sent once everyone has joined, each to all the others.
    pub broadcasts: u64,
    /// The chat server's `--threads`.
    pub server_threads: usize,
    /// Server on CPU 0, load generator on CPU 1.
    pub pin: bool,
}

/// What the capacity run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityResult {
    /// Threads the chat server ran on (`--threads`).
    pub server_threads: usize,
    /// TCP members asked for.
    pub tcp_members: usize,
    /// UDP members asked for.
    pub udp_members: usize,
    /// Members welcomed into the room.
    pub joined: u64,
    /// Members disconnected (too slow, closed) or never welcomed.
    pub dropped: u64,
    /// Time from the first join to the last, in seconds.
    pub join_seconds: f64,
    /// Members welcomed per second over that time.
    pub joins_per_s: f64,
    /// The server's resident memory before anyone joined, in KiB (`None` where /proc cannot tell).
    pub server_rss_before_kb: Option<u64>,
    /// The server's resident memory with every member in, in KiB (`None` where /proc cannot tell).
    pub server_rss_full_kb: Option<u64>,
    /// (full - before) / members, in bytes.
    pub rss_per_member_bytes: Option<u64>,
    /// Lines broadcast once everyone had joined.
    pub broadcasts: u64,
    /// Deliveries due: each broadcast to every other member.
    pub expected: u64,
    /// Deliveries that arrived.
    pub delivered: u64,
    /// Delivery latency of the broadcasts, in µs; `None` if none arrived.
    pub latency: Option<Latency>,
    /// Server on-CPU time per delivery during the broadcasts, in µs.
    pub server_cpu_us_per_delivery: Option<f64>,
}

/// What members report to the bench.
enum Note {
    Welcomed,
    Gone,
    /// A measured line arrived, this long after it was sent (µs).
    Delivered(u64),
}

/// Run the measurement.
pub async fn run(cfg: &CapacityConfig) -> Result<CapacityResult> {
    if cfg.members == 0 || cfg.join_rate <= 0.0 {
        bail!("capacity needs members and a join rate");
    }
    let total = cfg.members * 2;
    crate::limits::raise_nofile(cfg.members as u64 + 256, "the load generator's members");
    let cap = (total + 64).to_string();
    let tcp_cap = (cfg.members + 64).to_string();
    let threads = cfg.server_threads.max(1).to_string();
    let args = [
        "chat",
        "-l",
        "127.0.0.1:0",
        "--proto",
        "both",
        "--max-members",
        &cap,
        "--max-conns",
        &tcp_cap,
        "--max-udp",
        &tcp_cap,
        "--udp-rate",
        "0",
        // No keepalives needed during the run.
        "--idle-timeout",
        "600s",
        "--threads",
        &threads,
    ];
    let child = ChildServer::spawn_pinned(&cfg.exe, &args, cfg.pin.then_some(SERVER_CPU))?;
    if cfg.pin {
        super::child::pin_self(LOAD_CPU);
    }
    let (addr, pid) = (child.addr, child.pid());
    let rss_before = rss_kb(pid);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    // Killed (and reaped) however the run ends, Ctrl-C included.
    let mut worker = Reaped(
        Command::new(&cfg.exe)
            .args(["bench", "--capacity-worker", &addr.to_string()])
            .args(["--members", &cfg.members.to_string()])
            .args(["--join-rate", &(cfg.join_rate / 2.0).to_string()])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let mut udp_say = worker
        .0
        .stdin
        .take()
        .ok_or_else(|| anyhow!("no worker stdin"))?;
    let out = worker
        .0
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no worker stdout"))?;
    let notes = tx.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let note = match line.split_once(' ') {
                Some(("D", us)) => us.parse().ok().map(Note::Delivered),
                _ if line == "W" => Some(Note::Welcomed),
                _ if line == "G" => Some(Note::Gone),
                _ => None,
            };
            if let Some(n) = note {
                if notes.send(n).is_err() {
                    return;
                }
            }
        }
    });
    let mut joined = 0u64;
    let mut gone = 0u64;
    let mut delivered = Vec::new();
    let mut tcp_say = None;
    let tcp_rate = cfg.join_rate / 2.0;
    for i in 0..cfg.members {
        let due = start + Duration::from_secs_f64(i as f64 / tcp_rate);
        // Count notes while pacing, so the channel does not pile up.
        while let Ok(n) = rx.try_recv() {
            tally(n, &mut joined, &mut gone, &mut delivered);
        }
        tokio::time::sleep_until(due).await;
        let (say, said) = mpsc::unbounded_channel();
        tcp_say.get_or_insert(say);
        tokio::spawn(member(Proto::Tcp, addr, tx.clone(), said));
    }
    let tcp_say = tcp_say.ok_or_else(|| anyhow!("no members"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while joined + gone < total as u64 {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(n)) => tally(n, &mut joined, &mut gone, &mut delivered),
            _ => break,
        }
    }
    let join_seconds = start.elapsed().as_secs_f64();
    // Let the last summaries go out, then measure the room at rest.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while let Ok(n) = rx.try_recv() {
        tally(n, &mut joined, &mut gone, &mut delivered);
    }
    let rss_full = rss_kb(pid);
    let cpu0 = cpu::process_cpu(pid);
    let mut expected = 0;
    for b in 0..cfg.broadcasts {
        let n = seq.fetch_add(1, Ordering::Relaxed) + 1;
        let line = format!("{MARK} {n} {}", now_us());
        if b % 2 == 0 {
            let _ = tcp_say.send(line);
        } else {
            writeln!(udp_say, "{line}").and_then(|_| udp_say.flush())?;
        }
        expected += joined.saturating_sub(1);
        // Each line is measured on its own: the next waits for this one's deliveries.
        let quiet = Duration::from_secs(3);
        while (delivered.len() as u64) < expected {
            match timeout(quiet, rx.recv()).await {
                Ok(Some(n)) => tally(n, &mut joined, &mut gone, &mut delivered),
                _ => break,
            }
        }
    }
    let cpu1 = cpu::process_cpu(pid);
    let mut hist = histogram();
    for us in &delivered {
        hist.saturating_record(us.max(&1) * 1000);
    }
    let members = total as u64;
    let per_member = match (rss_before, rss_full) {
        (Some(a), Some(b)) if joined > 0 => Some(b.saturating_sub(a) * 1024 / joined),
        _ => None,
    };
    drop(child);
    drop(worker);
    Ok(CapacityResult {
        server_threads: cfg.server_threads.max(1),
        tcp_members: cfg.members,
        udp_members: cfg.members,
        joined,
        dropped: members.saturating_sub(joined) + gone,
        join_seconds,
        joins_per_s: joined as f64 / join_seconds,
        server_rss_before_kb: rss_before,
        server_rss_full_kb: rss_full,
        rss_per_member_bytes: per_member,
        broadcasts: cfg.broadcasts,
        expected,
        delivered: delivered.len() as u64,
        latency: Latency::from_histogram(&hist),
        server_cpu_us_per_delivery: cpu::used(cpu0, cpu1)
            .filter(|_| !delivered.is_empty())
            .map(|d| d.as_secs_f64() * 1e6 / delivered.len() as f64),
    })
}

/// The UDP half of the load, in a process of its own: join `members` UDP members to
/// `addr` at `join_rate`, report on stdout, send each stdin line from the first member.
pub async fn worker(addr: SocketAddr, members: usize, join_rate: f64) -> Result<()> {
    crate::limits::raise_nofile(members as u64 + 256, "the capacity worker's members");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (say, said) = mpsc::unbounded_channel();
    let mut said = Some(said);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if say.send(line).is_err() {
                return;
            }
        }
    });
    let reporter = tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let write = |out: &mut std::io::BufWriter<_>, n| match n {
            Note::Welcomed => writeln!(out, "W"),
            Note::Gone => writeln!(out, "G"),
            Note::Delivered(us) => writeln!(out, "D {us}"),
        };
        // One write to the pipe for all the notes waiting, not one per note: during a
        // broadcast 10 000 deliveries arrive at once, on the core the members share.
        while let Some(n) = rx.blocking_recv() {
            let mut r = write(&mut out, n);
            while let (Ok(()), Ok(n)) = (&r, rx.try_recv()) {
                r = write(&mut out, n);
            }
            if r.and_then(|_| out.flush()).is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    for i in 0..members {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / join_rate)).await;
        let said = said.take().unwrap_or_else(|| mpsc::unbounded_channel().1);
        tokio::spawn(member(Proto::Udp, addr, tx.clone(), said));
    }
    drop(tx);
    let _ = reporter.await;
    Ok(())
}

fn tally(n: Note, joined: &mut u64, gone: &mut u64, delivered: &mut Vec<u64>) {
    match n {
        Note::Welcomed => *joined += 1,
        Note::Gone => *gone += 1,
        Note::Delivered(us) => delivered.push(us),
    }
}

/// The resident set of `pid`, in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One member: join, then report each measured line it hears, and send what it is given.
async fn member(
    proto: Proto,
    addr: SocketAddr,
    notes: mpsc::UnboundedSender<Note>,
    say: mpsc::UnboundedReceiver<String>,
) {
    let r = match proto {
        Proto::Tcp => tcp_member(addr, &notes, say).await,
        Proto::Udp => udp_member(addr, &notes, say).await,
        other => Err(anyhow::anyhow!("the capacity bench has no {other} members")),
    };
    if let Err(e) = r {
        tracing::debug!(error = %e, "capacity member ended");
    }
    let _ = notes.send(Note::Gone);
}

/// What a member does with one line from the room; `Err` when it was disconnected.
fn heard(line: &str, welcomed: &mut bool, notes: &mpsc::UnboundedSender<Note>) -> Result<()> {
    if let Some(rest) = line.split(": ").nth(1) {
        let mut w = rest.split_whitespace();
        if w.next() == Some(MARK) {
            if let Some(sent) = w.nth(1).and_then(|t| t.parse::<u64>().ok()) {
                let _ = notes.send(Note::Delivered(now_us().saturating_sub(sent)));
            }
            return Ok(());
        }
    }
    if !*welcomed && line.starts_with("* you are ") {
        *welcomed = true;
        let _ = notes.send(Note::Welcomed);
    }
    if line.starts_with("* disconnected") {
        bail!("{line}");
    }
    Ok(())
}

async fn tcp_member(
    addr: SocketAddr,
    notes: &mpsc::UnboundedSender<Note>,
    mut say: mpsc::UnboundedReceiver<String>,
) -> Result<()> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let (rd, mut wr) = s.into_split();
    let mut lines = BufReader::with_capacity(4096, rd).lines();
    let mut welcomed = false;
    loop {
        tokio::select! {
            l = lines.next_line() => match l? {
                Some(l) => heard(&l, &mut welcomed, notes)?,
                None => bail!("closed"),
            },
            Some(text) = say.recv() => wr.write_all(format!("{text}\n").as_bytes()).await?,
        }
    }
}

async fn udp_member(
    addr: SocketAddr,
    notes: &mpsc::UnboundedSender<Note>,
    mut say: mpsc::UnboundedReceiver<String>,
) -> Result<()> {
    let s = UdpSocket::bind("127.0.0.1:0").await?;
    s.connect(addr).await?;
    let mut buf = vec![0u8; 2048];
    // Prove the address: any line is answered with a challenge, `/ok CODE` joins.
    let mut code = None;
    for _ in 0..10 {
        s.send(b"hello\n").await?;
        if let Ok(Ok(n)) = timeout(Duration::from_secs(1), s.recv(&mut buf)).await {
            let text = String::from_utf8_lossy(&buf[..n]);
            code = text.split("/ok ").nth(1).map(|c| c.trim().to_string());
            if code.is_some() {
                break;
            }
        }
    }
    let code = code.ok_or_else(|| anyhow!("no challenge"))?;
    let mut welcomed = false;
    s.send(format!("/ok {code}\n").as_bytes()).await?;
    loop {
        tokio::select! {
            r = s.recv(&mut buf) => {
                let n = r?;
                for l in String::from_utf8_lossy(&buf[..n]).lines() {
                    heard(l, &mut welcomed, notes)?;
                }
            }
            Some(text) = say.recv() => { s.send(format!("{text}\n").as_bytes()).await?; }
        }
    }
}
