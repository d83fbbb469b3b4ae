//! `nettool bench fanout --servers N`: the same offered load (members × lines/s) over
//! one `nettool chat -l` and over N servers joined on a NATS broker (`--cluster`), the
//! members split evenly; delivered msg/s, p99 and loss for both layouts, CPU per
//! delivery of each server, and the broker's CPU per message it routed.
//!
//! The bus's own cost is set against a **floor measured in the same run**: N bare
//! async-nats peers (`scripts/bus_floor.rs`, nothing of nettool's) on the same broker,
//! each publishing and receiving at the rates of one server of the cluster. A server's
//! *extra* CPU is its CPU minus what its deliveries would have cost at the single
//! server's CPU per delivery; the figure reported is extra ÷ floor (target ≤ 1.25).
//!
//! | module | owns |
//! | --- | --- |
//! | `broker` | a `nats-server` child on free ports, its counts from `/varz` |
//! | `report` | the result, its JSON fields and its table |

mod broker;
mod report;

pub use report::{ClusterReport, Layout, ServerCost};

use super::child::{
    command_on, room_server_args, through, ChildServer, Reaped, LOAD_CPU, SERVER_CPU,
};
use super::cpu;
use super::load::{Load, LoadConfig};
use crate::measure::latency::Latency;
use crate::wire::{now_us, Proto};
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

/// What to compare.
#[derive(Debug, Clone)]
pub struct ClusterBenchConfig {
    /// The nettool binary, started as each chat server.
    pub exe: PathBuf,
    /// Servers in the cluster layout (2 or more).
    pub servers: usize,
    /// Members, all layouts.
    pub clients: usize,
    /// Lines per second each member sends.
    pub rate: f64,
    /// The members' protocol.
    pub proto: Proto,
    /// How long each layout is measured (after a warm-up).
    pub duration: Duration,
    /// A running broker; `None`: start `nats-server` from the PATH on free ports.
    pub broker: Option<String>,
    /// The bare peer (`bus_floor`); `None`: look beside this binary
    /// (`target/release/examples/bus_floor`), and report no floor if it is not there.
    pub floor: Option<PathBuf>,
    /// Run the bare peers *beside* the cluster layout, measured over the same window
    /// (both under the same contention), instead of after it, alone.
    pub floor_beside: bool,
    /// Pin: every nettool server and bare peer on CPU 0, the broker and the load on
    /// CPU 1 (taskset), so both layouts get one core for the servers.
    pub pin: bool,
    /// Every server's `--coalesce` window (zero: the room's rounds only), so the two
    /// layouts can be compared at equal batching.
    pub coalesce: Duration,
}

const WARMUP: Duration = Duration::from_millis(800);
/// Chat text bytes per line: with the nickname, numbers and framing, a frame of about
/// 64 bytes, the floor's message size.
const PAYLOAD: usize = 32;
const FLOOR_SIZE: usize = 64;

/// Run both layouts, then the floor.
pub async fn run(cfg: &ClusterBenchConfig) -> Result<ClusterReport> {
    if cfg.servers < 2 || cfg.clients < cfg.servers {
        bail!("--servers N needs N >= 2 and at least N --clients");
    }
    let ours = match &cfg.broker {
        Some(_) => None,
        None => Some(broker::Broker::start(cfg.pin.then_some(LOAD_CPU))?),
    };
    let url = match (&cfg.broker, &ours) {
        (Some(u), _) => u.clone(),
        (None, Some(b)) => b.url.clone(),
        (None, None) => unreachable!("started above"),
    };
    let tag = now_us() % 1_000_000;
    if cfg.pin {
        super::child::pin_self(LOAD_CPU);
    }
    let (single, _) = layout(cfg, None, &url, tag, ours.as_ref(), None)
        .await
        .context("one server")?;
    let rates: Vec<f64> = (shares(cfg).into_iter())
        .map(|m| m as f64 * cfg.rate)
        .collect();
    let exe = floor_exe(cfg);
    let beside = (exe.as_ref())
        .filter(|_| cfg.floor_beside)
        .map(|e| (e, rates.clone()));
    let (cluster, floor_beside) = layout(cfg, Some(cfg.servers), &url, tag, ours.as_ref(), beside)
        .await
        .context("servers on the bus")?;
    let mut report = ClusterReport::new(cfg, url.clone(), single, cluster);
    if floor_beside.is_some() {
        // The broker also carried the bare peers' messages: its figures say nothing.
        report.cluster.broker = None;
    }
    match (floor_beside, exe) {
        (Some(f), _) => report.set_floor(f),
        (None, Some(exe)) => {
            let f = floor(&exe, &url, tag, rates, cfg.duration, cfg.pin)
                .await
                .context("bus_floor")?;
            report.set_floor(f);
        }
        (None, None) => tracing::warn!(
            "no bus_floor beside this binary (cargo build --release --example bus_floor): no floor"
        ),
    }
    Ok(report)
}

/// Members on each server of the cluster layout.
fn shares(cfg: &ClusterBenchConfig) -> Vec<usize> {
    (0..cfg.servers)
        .map(|s| (0..cfg.clients).filter(|i| i % cfg.servers == s).count())
        .collect()
}

fn floor_exe(cfg: &ClusterBenchConfig) -> Option<PathBuf> {
    if let Some(p) = &cfg.floor {
        return Some(p.clone());
    }
    let dir = cfg.exe.parent()?;
    let p = dir.join("examples").join("bus_floor");
    p.is_file().then_some(p)
}

/// One layout: one plain server (`servers: None`) or N on the bus; with `beside`, the
/// bare peers (at those rates) run and are measured over the same window.
async fn layout(
    cfg: &ClusterBenchConfig,
    servers: Option<usize>,
    url: &str,
    tag: u64,
    broker: Option<&broker::Broker>,
    beside: Option<(&PathBuf, Vec<f64>)>,
) -> Result<(Layout, Option<Floor>)> {
    let room = format!("bench{tag}");
    let mut children = Vec::new();
    for s in 0..servers.unwrap_or(1) {
        let name = format!("s{}", s + 1);
        let mut args = room_server_args(cfg.proto, cfg.clients, cfg.coalesce);
        if servers.is_some() {
            args.extend(["--cluster", url, "--room", &room, "--name", &name].map(String::from));
        }
        let child = ChildServer::spawn_pinned(&cfg.exe, &args, cfg.pin.then_some(SERVER_CPU))?;
        children.push((name.clone(), child));
    }
    let load_cfg = LoadConfig {
        parallel: 16,
        text: "x".repeat(PAYLOAD),
        count_from_start: false,
        servers: children.iter().map(|(_, c)| c.addr).collect(),
        ..LoadConfig::new(children[0].1.addr, vec![(cfg.proto, cfg.rate); cfg.clients])
    };
    let load = Load::join(&load_cfg).await?;
    let peers = match &beside {
        Some((exe, rates)) => spawn_floor(
            exe,
            url,
            tag,
            rates,
            WARMUP + cfg.duration + Duration::from_secs(1),
            cfg.pin,
        )?,
        None => Vec::new(),
    };
    load.start();
    tokio::time::sleep(WARMUP).await;
    let lead = Duration::from_millis(20);
    let t0 = now_us() + lead.as_micros() as u64;
    let t1 = t0 + cfg.duration.as_micros() as u64;
    load.measure(t0, t1);
    tokio::time::sleep(lead).await;
    let mut pids: Vec<u32> = children.iter().map(|(_, c)| c.pid()).collect();
    pids.extend(peers.iter().map(|p| p.0.id()));
    let read = |pids: &[u32]| -> Vec<Option<Duration>> {
        pids.iter().map(|p| cpu::process_cpu(*p)).collect()
    };
    let (cpu0, b0) = (
        read(&pids),
        broker.map(|b| (cpu::process_cpu(b.pid()), b.routed().ok())),
    );
    tokio::time::sleep(cfg.duration).await;
    let (cpu1, b1) = (
        read(&pids),
        broker.map(|b| (cpu::process_cpu(b.pid()), b.routed().ok())),
    );
    let rep = load.finish().await?;
    let seconds = (t1 - t0) as f64 / 1e6;
    let mut hist = crate::measure::latency::histogram();
    for t in &rep.tallies {
        hist.add(&t.latency).map_err(|e| anyhow!("{e:?}"))?;
    }
    let n = children.len();
    let mut per_server = Vec::new();
    for (s, (name, _)) in children.iter().enumerate() {
        let deliveries: u64 = (rep.tallies.iter().enumerate())
            .filter(|(i, _)| i % n == s)
            .map(|(_, t)| t.delivered())
            .sum();
        let cpu_s = cpu::used(cpu0[s], cpu1[s]).map(|d| d.as_secs_f64());
        per_server.push(ServerCost::new(
            name.clone(),
            cfg.clients.div_ceil(n),
            deliveries,
            cpu_s,
            seconds,
        ));
    }
    let delivered: u64 = rep.tallies.iter().map(|t| t.delivered()).sum();
    let expected = rep.sent_in_window * (cfg.clients as u64 - 1);
    let broker_cost = match (b0, b1, servers) {
        (Some((c0, Some(r0))), Some((c1, Some(r1))), Some(_)) => Some(report::BrokerCost::new(
            cpu::used(c0, c1).map(|d| d.as_secs_f64()),
            r1.in_msgs.saturating_sub(r0.in_msgs),
            r1.out_msgs.saturating_sub(r0.out_msgs),
            rep.sent_in_window,
            seconds,
        )),
        _ => None,
    };
    drop(children);
    let floor = beside.map(|(_, rates)| Floor {
        publish_per_s: rates,
        cpu_ms_per_s: (n..pids.len())
            .map(|i| {
                cpu::used(cpu0[i], cpu1[i])
                    .map(|d| d.as_secs_f64() * 1e3 / seconds)
                    .unwrap_or(f64::NAN)
            })
            .collect(),
    });
    drop(peers);
    let layout = Layout {
        servers: n,
        seconds,
        sent: rep.sent_in_window,
        delivered,
        delivered_per_s: delivered as f64 / seconds,
        loss_pct: if expected == 0 {
            0.0
        } else {
            expected.saturating_sub(delivered) as f64 * 100.0 / expected as f64
        },
        latency: Latency::from_histogram(&hist),
        per_server,
        broker: broker_cost,
    };
    Ok((layout, floor))
}

/// What the bare peers cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Floor {
    /// Messages per second each peer published (the servers' line rates).
    pub publish_per_s: Vec<f64>,
    /// Each peer's CPU over the window, in ms per second.
    pub cpu_ms_per_s: Vec<f64>,
}

/// N bare async-nats peers publishing at `rates`, measured over `duration` after the warm-up.
async fn floor(
    exe: &PathBuf,
    url: &str,
    tag: u64,
    rates: Vec<f64>,
    duration: Duration,
    pin: bool,
) -> Result<Floor> {
    let life = WARMUP + duration + Duration::from_millis(300);
    let peers = spawn_floor(exe, url, tag, &rates, life, pin)?;
    tokio::time::sleep(WARMUP).await;
    let read =
        || -> Vec<Option<Duration>> { peers.iter().map(|p| cpu::process_cpu(p.0.id())).collect() };
    let c0 = read();
    tokio::time::sleep(duration).await;
    let c1 = read();
    let cpu_ms_per_s = c0
        .into_iter()
        .zip(c1)
        .map(|(a, b)| {
            cpu::used(a, b)
                .map(|d| d.as_secs_f64() * 1e3 / duration.as_secs_f64())
                .unwrap_or(f64::NAN)
        })
        .collect();
    Ok(Floor {
        publish_per_s: rates,
        cpu_ms_per_s,
    })
}

/// Start one bare peer per rate, for `life`; killed when dropped.
fn spawn_floor(
    exe: &PathBuf,
    url: &str,
    tag: u64,
    rates: &[f64],
    life: Duration,
    pin: bool,
) -> Result<Vec<Reaped>> {
    let subject = format!("floor{tag}");
    let secs = life.as_secs_f64().to_string();
    let size = FLOOR_SIZE.to_string();
    let mut peers = Vec::new();
    for r in rates {
        let rate = r.to_string();
        let cpu = pin.then_some(SERVER_CPU);
        let child = command_on(exe, cpu)
            .args([url, &subject, &rate, &secs, &size])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}{}", exe.display(), through(cpu)))?;
        peers.push(Reaped(child));
    }
    Ok(peers)
}
