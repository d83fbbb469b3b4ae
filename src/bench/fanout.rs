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
//! in text mode, its CPU read through its pid.

use super::child::ChildServer;
use super::cpu;
use crate::chat::client::{self, ClientConfig, Incoming};
use crate::measure::latency::Latency;
use crate::measure::seq::SeqTracker;
use crate::tcp::SlowPolicy;
use crate::wire::{now_us, ClientMsg, LeaveReason, Proto, ServerMsg};
use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

/// Marker that starts every text-mode load line: `nt IDX SEQ SENT_US padding`.
const MARK: &str = "nt";

/// Which server takes the load.
#[derive(Debug, Clone)]
pub enum Server {
    /// Start `EXE chat -l 127.0.0.1:0 --proto …` (normally this very binary).
    Spawn { exe: PathBuf },
    /// A running server; its CPU is measured when its pid is given.
    External { addr: SocketAddr, pid: Option<u32> },
}

#[derive(Debug, Clone)]
pub struct FanoutConfig {
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
}

#[derive(Debug, Clone, Serialize)]
pub struct FanoutResult {
    pub proto: Proto,
    pub text: bool,
    pub clients: usize,
    pub rate_per_client: f64,
    pub seconds: f64,
    pub sent: u64,
    pub expected: u64,
    pub delivered: u64,
    pub delivered_per_s: f64,
    pub loss_pct: f64,
    pub reordered: u64,
    pub duplicates: u64,
    pub latency: Option<Latency>,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_us_per_delivery: Option<f64>,
    pub loadgen_cpu_s: Option<f64>,
    pub slow_readers: usize,
    pub slow_policy: String,
    /// Slow readers the room dropped as too slow (as the other members were told).
    pub slow_dropped: u64,
    /// Messages the slow readers were told they missed (drop-oldest), read afterwards.
    pub slow_missed: u64,
}

/// What one receiver counted inside the measurement window.
struct Received {
    delivered: u64,
    hist: Histogram<u64>,
    senders: Vec<Option<SeqTracker>>,
    /// Slow readers seen leaving as too slow.
    slow_left: u64,
}

/// The shared clock of a run: messages sent inside [start, end) are measured.
struct Window {
    start_us: AtomicU64,
    end_us: AtomicU64,
    stop: AtomicBool,
}

impl Window {
    fn contains(&self, sent_us: u64) -> bool {
        sent_us >= self.start_us.load(Ordering::Relaxed)
            && sent_us < self.end_us.load(Ordering::Relaxed)
    }
}

/// Run the measurement.
pub async fn run(cfg: &FanoutConfig) -> Result<FanoutResult> {
    if cfg.clients < 2 {
        bail!("fan-out needs at least 2 clients");
    }
    if cfg.slow_readers > 0 && cfg.proto != Proto::Tcp {
        bail!("slow readers are TCP members: use --proto tcp");
    }
    let (_child, addr, pid) = match &cfg.server {
        Server::Spawn { exe } => {
            let max = (cfg.clients + cfg.slow_readers + 16).to_string();
            let proto = cfg.proto.to_string();
            let slow = cfg.slow.to_string();
            let mut args = vec![
                "chat",
                "-l",
                "127.0.0.1:0",
                "--proto",
                &proto,
                "--max-members",
                &max,
                "--max-conns",
                &max,
                "--queue",
                "4096",
                // The bench measures the room, not the flood limit.
                "--udp-rate",
                "0",
                "--slow",
                &slow,
            ];
            let sndbuf = cfg.sndbuf.map(|n| n.to_string());
            if let Some(n) = &sndbuf {
                args.extend(["--sndbuf", n]);
            }
            let child = ChildServer::spawn(exe, &args)?;
            let (addr, pid) = (child.addr, child.pid());
            (Some(child), addr, Some(pid))
        }
        Server::External { addr, pid } => (None, *addr, *pid),
    };
    let window = Arc::new(Window {
        start_us: AtomicU64::new(u64::MAX),
        end_us: AtomicU64::new(u64::MAX),
        stop: AtomicBool::new(false),
    });
    let heard = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for i in 0..cfg.clients {
        let (tx, rx) = connect(cfg, addr, i).await?;
        senders.push(tx);
        receivers.push(tokio::spawn(receive(
            rx,
            cfg.clients,
            window.clone(),
            heard.clone(),
        )));
    }
    ready(&mut senders, &heard, cfg.clients).await?;
    let mut slow = Vec::new();
    for i in 0..cfg.slow_readers {
        slow.push(slow_reader(addr, i).await?);
    }

    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for (i, tx) in senders.into_iter().enumerate() {
        let phase = i as f64 / cfg.clients as f64;
        let s = Sender {
            idx: i,
            rate: cfg.rate,
            start,
            phase,
            payload: cfg.payload,
            window: window.clone(),
            sent: sent.clone(),
        };
        tasks.push(tokio::spawn(s.run(tx)));
    }
    tokio::time::sleep(cfg.warmup).await;
    // Fix the window a little ahead, so that senders and receivers judge every message
    // by the same bounds (its send time), with no race at either edge.
    let lead = Duration::from_millis(20);
    let t0 = now_us() + lead.as_micros() as u64;
    let t1 = t0 + cfg.duration.as_micros() as u64;
    window.start_us.store(t0, Ordering::Relaxed);
    window.end_us.store(t1, Ordering::Relaxed);
    tokio::time::sleep(lead).await;
    let cpu0 = (pid.and_then(cpu::process_cpu), cpu::own_cpu());
    tokio::time::sleep(cfg.duration).await;
    let cpu1 = (pid.and_then(cpu::process_cpu), cpu::own_cpu());
    window.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    // Receivers stop once nothing has arrived for a while (or at a hard limit).
    let mut delivered = 0;
    let mut hist = crate::measure::latency::histogram();
    let mut per_sender: Vec<SeqTracker> = Vec::new();
    let mut slow_dropped = 0;
    for r in receivers {
        let got = timeout(Duration::from_secs(30), r)
            .await
            .map_err(|_| anyhow!("a receiver did not finish"))??;
        delivered += got.delivered;
        slow_dropped = slow_dropped.max(got.slow_left);
        hist.add(&got.hist).map_err(|e| anyhow!("{e:?}"))?;
        per_sender.extend(got.senders.into_iter().flatten());
    }
    let mut slow_missed = 0;
    for s in slow {
        slow_missed += missed(s).await;
    }
    let seconds = (t1 - t0) as f64 / 1e6;
    let sent_in_window = sent.load(Ordering::Relaxed);
    let expected = sent_in_window * (cfg.clients as u64 - 1);
    let server_cpu = cpu::used(cpu0.0, cpu1.0);
    Ok(FanoutResult {
        proto: cfg.proto,
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
        reordered: per_sender.iter().map(|t| t.reordered).sum(),
        duplicates: per_sender.iter().map(|t| t.duplicates).sum(),
        latency: Latency::from_histogram(&hist),
        server_cpu_s: server_cpu.map(|d| d.as_secs_f64()),
        server_cpu_us_per_delivery: server_cpu
            .filter(|_| delivered > 0)
            .map(|d| d.as_secs_f64() * 1e6 / delivered as f64),
        loadgen_cpu_s: cpu::used(cpu0.1, cpu1.1).map(|d| d.as_secs_f64()),
        slow_readers: cfg.slow_readers,
        slow_policy: cfg.slow.to_string(),
        slow_dropped,
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
/// add up the "N messages dropped" notices in it.
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
        if let Some(rest) = line.strip_prefix("! ") {
            if rest.contains(" dropped: ") {
                missed += rest
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    missed
}

/// A client's two halves, whatever the protocol and format.
enum Tx {
    Binary(client::connect::MsgSink),
    Text(tokio::net::tcp::OwnedWriteHalf),
}

type Rx = futures::stream::BoxStream<'static, Result<Incoming, crate::wire::binary::WireError>>;

async fn connect(cfg: &FanoutConfig, addr: SocketAddr, i: usize) -> Result<(Tx, Rx)> {
    if cfg.text {
        if cfg.proto != Proto::Tcp {
            bail!("text-mode fan-out is TCP only");
        }
        let s = TcpStream::connect(addr).await.context("connect")?;
        s.set_nodelay(true)?;
        let (rd, wr) = s.into_split();
        let lines = tokio_stream_lines(rd);
        return Ok((Tx::Text(wr), lines));
    }
    let ccfg = ClientConfig {
        addr,
        proto: cfg.proto,
        nick: Some(format!("c{i}")),
        ..Default::default()
    };
    let mut conn = client::connect(&ccfg).await?;
    if conn.mode != client::Mode::Binary {
        bail!("{addr} is not a nettool server: use text mode");
    }
    // Wait for the Welcome: after it, this client is a member.
    loop {
        match timeout(Duration::from_secs(5), conn.rx.next()).await {
            Ok(Some(Ok(Incoming::Msg(ServerMsg::Welcome { .. })))) => break,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => bail!("the server closed client {i}"),
            Err(_) => bail!("client {i} was not welcomed in time"),
        }
    }
    Ok((Tx::Binary(conn.tx), conn.rx))
}

fn tokio_stream_lines(rd: tokio::net::tcp::OwnedReadHalf) -> Rx {
    let lines = BufReader::new(rd).lines();
    futures::stream::unfold(lines, |mut lines| async move {
        match lines.next_line().await {
            Ok(Some(l)) => Some((Ok(Incoming::Line(l)), lines)),
            Ok(None) => None,
            Err(e) => Some((Err(e.into()), lines)),
        }
    })
    .boxed()
}

/// Text clients (foreign servers give no welcome) are members once they hear client
/// 0's probe: probe until all the others have, bounded. Binary clients were each
/// welcomed already.
async fn ready(senders: &mut [Tx], heard: &AtomicU64, clients: usize) -> Result<()> {
    let Tx::Text(w) = &mut senders[0] else {
        return Ok(());
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while heard.load(Ordering::Relaxed) < clients as u64 - 1 {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} clients heard the probe",
                heard.load(Ordering::Relaxed),
                clients - 1
            );
        }
        w.write_all(b"probe\n").await?;
        tokio::time::sleep(Duration::from_millis(100)).await; // probe retry interval
    }
    Ok(())
}

/// One client's sending side: `rate` messages per second, its schedule shifted by
/// `phase` of a period from the common `start`, so that the clients' sends are spread
/// evenly over each period instead of arriving at the server in one burst.
struct Sender {
    idx: usize,
    rate: f64,
    start: Instant,
    phase: f64,
    payload: usize,
    window: Arc<Window>,
    /// Messages sent inside the window, all senders together.
    sent: Arc<AtomicU64>,
}

impl Sender {
    async fn run(self, mut tx: Tx) {
        let pad = "x".repeat(self.payload);
        let period = Duration::from_secs_f64(1.0 / self.rate);
        // tokio's timer is millisecond-grained: faster rates send a burst per tick.
        let tick = period.max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(self.start + period.mul_f64(self.phase), tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut seq = 0u64;
        let mut line = String::new();
        while !self.window.stop.load(Ordering::Relaxed) {
            ticker.tick().await;
            // Message k (from 1) is due at start + (phase + k - 1) periods.
            let periods = self.start.elapsed().as_secs_f64() * self.rate - self.phase;
            let due = if periods < 0.0 {
                0
            } else {
                periods.floor() as u64 + 1
            };
            while seq < due {
                seq += 1;
                let t = now_us();
                let ok = match &mut tx {
                    Tx::Binary(s) => s
                        .feed(ClientMsg::Say {
                            seq,
                            sent_us: t,
                            text: pad.clone(),
                        })
                        .await
                        .is_ok(),
                    Tx::Text(w) => {
                        use std::fmt::Write;
                        line.clear();
                        let _ = writeln!(line, "{MARK} {} {seq} {t} {pad}", self.idx);
                        w.write_all(line.as_bytes()).await.is_ok()
                    }
                };
                if !ok {
                    return;
                }
                if self.window.contains(t) {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Tx::Binary(s) = &mut tx {
                if s.flush().await.is_err() {
                    return;
                }
            }
        }
        if let Tx::Binary(mut s) = tx {
            let _ = s.send(ClientMsg::Bye).await;
        }
    }
}

async fn receive(
    mut rx: Rx,
    clients: usize,
    window: Arc<Window>,
    heard: Arc<AtomicU64>,
) -> Received {
    let mut probed = false;
    let mut got = Received {
        delivered: 0,
        hist: crate::measure::latency::histogram(),
        senders: vec![None; clients],
        slow_left: 0,
    };
    let quiet = Duration::from_millis(500);
    loop {
        let next = match timeout(quiet, rx.next()).await {
            Ok(Some(Ok(item))) => item,
            Ok(_) => break,
            Err(_) if window.stop.load(Ordering::Relaxed) => break,
            Err(_) => continue,
        };
        let now = now_us();
        if let Incoming::Msg(ServerMsg::Left {
            nick,
            reason: LeaveReason::TooSlow,
        }) = &next
        {
            if nick.starts_with("slow") {
                got.slow_left += 1;
            }
        }
        let Some((sender, seq, sent_us)) = parse(&next) else {
            if !probed && matches!(&next, Incoming::Line(l) if l.ends_with("probe")) {
                probed = true;
                heard.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        if !window.contains(sent_us) {
            continue;
        }
        got.delivered += 1;
        got.hist
            .saturating_record(now.saturating_sub(sent_us).max(1) * 1000);
        if let Some(slot) = got.senders.get_mut(sender) {
            slot.get_or_insert_with(SeqTracker::default).observe(seq);
        }
    }
    got
}

/// (sender index, seq, sent_us) of a load message.
fn parse(item: &Incoming) -> Option<(usize, u64, u64)> {
    match item {
        Incoming::Msg(ServerMsg::Chat {
            from, seq, sent_us, ..
        }) => Some((from.strip_prefix('c')?.parse().ok()?, *seq, *sent_us)),
        Incoming::Line(line) => {
            let mut words = line.split_whitespace().skip_while(|w| *w != MARK).skip(1);
            let idx = words.next()?.parse().ok()?;
            let seq = words.next()?.parse().ok()?;
            let sent = words.next()?.parse().ok()?;
            Some((idx, seq, sent))
        }
        _ => None,
    }
}
