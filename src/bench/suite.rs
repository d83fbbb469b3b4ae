//! The standard suite behind a bare `nettool bench`: round trip, stream, setup cost and
//! chat fan-out over TCP and UDP, against an in-process `nettool echo` server on
//! loopback (or `--connect ADDR`), with a progress bar on stderr.

use super::child::{LOAD_CPU, SERVER_CPU};
use super::fanout::{self, FanoutConfig};
use super::interval::{IntervalConfig, LineSink};
use super::local_echo::LocalEcho;
use super::report::Report;
use super::rtt::{self, RttConfig};
use super::setup::{self, SetupConfig};
use super::stream::{self, SearchConfig, StreamConfig};
use crate::wire::Proto;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The suite's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// Round trip, one message outstanding.
    Rtt,
    /// One-way bulk: goodput, loss, jitter.
    Stream,
    /// Time from nothing to the first reply.
    Setup,
    /// N chat clients in one room.
    Fanout,
    /// One room filled with N TCP and N UDP members (only when named).
    Capacity,
}

/// What the suite runs, and how long each part takes.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// Measure against this `nettool echo -l` instead of an in-process one.
    pub connect: Option<SocketAddr>,
    /// The protocols to measure.
    pub protos: Vec<Proto>,
    /// Which measurements (all when empty).
    pub parts: Vec<Part>,
    /// Fan-out against this running chat server (and its pid, for its CPU) instead of
    /// a child `nettool chat -l`.
    pub chat: Option<(SocketAddr, Option<u32>)>,
    /// Fan-out in text lines (for chat servers that are not nettool).
    pub text: bool,
    /// The nettool binary, started as the fan-out's chat server.
    pub exe: PathBuf,
    /// Round trip: payload bytes per message.
    pub rtt_size: usize,
    /// Round trip: how long to measure each protocol.
    pub rtt_duration: Duration,
    /// Stream: how long to send over each protocol.
    pub stream_duration: Duration,
    /// Round trip and stream: an interval report this often (`None`: none).
    pub interval: Option<Duration>,
    /// Print each interval as a line as it ends (not with `--json`).
    pub interval_lines: bool,
    /// Stream: keep samples for the chart over time (`--plot`).
    pub interval_samples: bool,
    /// UDP stream: datagram size, in bytes.
    pub udp_size: usize,
    /// UDP stream: target rate, in bits per second (0: as fast as the socket takes).
    pub rate_bps: u64,
    /// UDP stream: also search for the highest rate with (near) zero loss.
    pub stream_search: Option<SearchConfig>,
    /// Fan-out: members in the room.
    pub fanout_clients: usize,
    /// Fan-out: lines per second each member sends.
    pub fanout_rate: f64,
    /// Fan-out: how long to measure.
    pub fanout_duration: Duration,
    /// Fan-out: TCP members that join and never read, and the server's policy for them.
    pub fanout_slow_readers: usize,
    /// Fan-out: what the server does with a member that stops reading.
    pub fanout_slow: crate::tcp::SlowPolicy,
    /// Fan-out: the server's TCP send buffer (`--sndbuf`), in bytes; the OS default if `None`.
    pub fanout_sndbuf: Option<usize>,
    /// Fan-out: the server's TCP coalescing window (`--coalesce`). Zero by default, as
    /// the chat server's: the room's rounds batch, with no timer.
    pub fanout_coalesce: Duration,
    /// Setup cost: connections (or first datagrams) timed per protocol.
    pub setup_count: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// TLS and QUIC clients: how the server's certificate is trusted (the in-process
    /// servers' are pinned), and the groups offered.
    pub secure: crate::quic::endpoint::ClientOptions,
    /// Fan-out and capacity: server on CPU 0, load generator on CPU 1.
    pub pin: bool,
    /// Capacity: members per protocol.
    pub capacity_members: usize,
    /// Capacity: joins per second, both protocols together.
    pub capacity_join_rate: f64,
    /// Capacity: lines broadcast once everyone has joined.
    pub capacity_broadcasts: u64,
    /// Capacity: the chat server's `--threads`.
    pub capacity_server_threads: usize,
}

/// Default length of each round-trip, stream and fan-out measurement.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(2);
/// Default [`SuiteConfig::rtt_size`] (bytes).
pub const DEFAULT_RTT_SIZE: usize = 64;
/// Default [`SuiteConfig::udp_size`] (bytes).
pub const DEFAULT_UDP_SIZE: usize = 1200;
/// Default [`SuiteConfig::rate_bps`]: unpaced.
pub const DEFAULT_RATE_BPS: u64 = 0;
/// Default [`SuiteConfig::fanout_clients`].
pub const DEFAULT_FANOUT_CLIENTS: usize = 20;
/// Default [`SuiteConfig::fanout_rate`] (messages per second per client).
pub const DEFAULT_FANOUT_RATE: f64 = 200.0;
/// Default [`SuiteConfig::fanout_slow_readers`].
pub const DEFAULT_SLOW_READERS: usize = 0;
/// Default [`SuiteConfig::setup_count`].
pub const DEFAULT_SETUP_COUNT: u64 = 1000;
/// Default [`SuiteConfig::capacity_members`] (per protocol).
pub const DEFAULT_CAPACITY_MEMBERS: usize = 10_000;
/// Default [`SuiteConfig::capacity_join_rate`] (joins per second, both protocols).
pub const DEFAULT_CAPACITY_JOIN_RATE: f64 = 2000.0;
/// Default [`SuiteConfig::capacity_broadcasts`].
pub const DEFAULT_CAPACITY_BROADCASTS: u64 = 10;

impl Default for SuiteConfig {
    fn default() -> Self {
        SuiteConfig {
            connect: None,
            protos: Proto::ALL.to_vec(),
            parts: Vec::new(),
            chat: None,
            text: false,
            exe: std::env::current_exe().unwrap_or_else(|_| "nettool".into()),
            rtt_size: DEFAULT_RTT_SIZE,
            rtt_duration: DEFAULT_DURATION,
            stream_duration: DEFAULT_DURATION,
            interval: None,
            interval_lines: false,
            interval_samples: false,
            udp_size: DEFAULT_UDP_SIZE,
            rate_bps: DEFAULT_RATE_BPS,
            stream_search: Some(SearchConfig::default()),
            fanout_clients: DEFAULT_FANOUT_CLIENTS,
            fanout_rate: DEFAULT_FANOUT_RATE,
            fanout_duration: DEFAULT_DURATION,
            fanout_slow_readers: DEFAULT_SLOW_READERS,
            fanout_slow: crate::tcp::SlowPolicy::default(),
            fanout_sndbuf: None,
            fanout_coalesce: Duration::ZERO,
            setup_count: DEFAULT_SETUP_COUNT,
            progress: true,
            secure: Default::default(),
            pin: false,
            capacity_members: DEFAULT_CAPACITY_MEMBERS,
            capacity_join_rate: DEFAULT_CAPACITY_JOIN_RATE,
            capacity_broadcasts: DEFAULT_CAPACITY_BROADCASTS,
            capacity_server_threads: 1,
        }
    }
}

impl SuiteConfig {
    /// Whether the suite measures chat fan-out: it is asked for (or everything is), and
    /// there is a chat server: a child of ours on loopback, or the one given.
    pub fn runs_fanout(&self) -> bool {
        (self.parts.is_empty() || self.parts.contains(&Part::Fanout))
            && (self.connect.is_none() || self.chat.is_some())
    }
}

/// The echo server's protocols, in `nettool echo -l --proto all`'s order: TCP and UDP on
/// its port, TLS and QUIC on the next.
pub const ECHO_PROTOS: [Proto; 4] = [Proto::Tcp, Proto::Udp, Proto::Tls, Proto::Quic];

/// Where `proto` is served, given the first protocol's address (see `crate::bind`).
fn addr_of(addr: SocketAddr, proto: Proto) -> SocketAddr {
    let offsets = crate::bind::offsets(&ECHO_PROTOS);
    let k = ECHO_PROTOS
        .iter()
        .position(|p| *p == proto)
        .map_or(0, |i| offsets[i]);
    SocketAddr::new(addr.ip(), addr.port().saturating_add(k))
}

/// Run the suite.
pub async fn run(cfg: &SuiteConfig) -> Result<Report> {
    let wants = |p: Part| cfg.parts.is_empty() || cfg.parts.contains(&p);
    let needs_echo = [Part::Rtt, Part::Stream, Part::Setup]
        .into_iter()
        .any(wants);
    if cfg.pin && needs_echo {
        // The measuring side on CPU 1, the in-process echo server on CPU 0 (a server
        // given with --connect is the user's to pin), as fan-out pins its chat server.
        super::child::pin_self(LOAD_CPU);
    }
    let (addr, target, local) = match cfg.connect {
        Some(addr) => (addr, addr.to_string(), None),
        None if !needs_echo => (
            "127.0.0.1:0".parse().expect("literal"),
            "loopback".to_string(),
            None,
        ),
        None => {
            let (addr, echo) = LocalEcho::start(cfg.pin.then_some(SERVER_CPU)).await?;
            if cfg.pin {
                tracing::info!("pinned: the echo server on CPU 0, the measuring side on CPU 1");
            }
            (
                addr,
                format!("loopback {addr} (in-process echo server)"),
                Some(echo),
            )
        }
    };
    let fanout = cfg.runs_fanout();
    let per_proto = [Part::Rtt, Part::Stream, Part::Setup]
        .into_iter()
        .filter(|p| wants(*p))
        .count()
        + usize::from(fanout);
    let bar = if cfg.progress {
        ProgressBar::new((per_proto * cfg.protos.len()) as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:24}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let intervals = |samples: bool| IntervalConfig {
        every: cfg.interval,
        samples,
        lines: cfg.interval_lines.then(|| line_sink(&bar)),
    };
    let mut report = Report::new(target);
    let mut secure = cfg.secure.clone();
    if let Some(echo) = &local {
        secure.trust = crate::cert::Trust::Pin(echo.fingerprint.clone());
        debug_assert!(echo.bound.iter().all(|&(p, a)| addr_of(addr, p) == a));
    }
    let base = addr;
    for &proto in &cfg.protos {
        let addr = addr_of(base, proto);
        if wants(Part::Rtt) {
            bar.set_message(format!("round trip over {proto}"));
            let c = RttConfig {
                addr,
                proto,
                size: cfg.rtt_size,
                warmup: 1000,
                count: 0,
                duration: cfg.rtt_duration,
                secure: secure.clone(),
                datagrams: false,
                // A TCP round trip waiting on a retransmission is a slow sample, not a
                // loss; a UDP reply this late is counted lost.
                timeout: match proto {
                    Proto::Udp => Duration::from_millis(200),
                    Proto::Tcp | Proto::Tls | Proto::Quic => crate::echo::pinger::TCP_PATIENCE,
                },
                intervals: intervals(false),
            };
            let dgram = RttConfig {
                datagrams: true,
                timeout: Duration::from_millis(200),
                ..c.clone()
            };
            set(
                &mut report.rtt,
                proto,
                step(&bar, move || rtt::run(&c)).await?,
            );
            if proto == Proto::Quic {
                report.rtt_datagrams = Some(blocking(move || rtt::run(&dgram)).await?);
            }
        }
        if wants(Part::Stream) {
            bar.set_message(format!("stream over {proto}"));
            let c = StreamConfig {
                addr,
                proto,
                duration: cfg.stream_duration,
                size: cfg.udp_size,
                rate_bps: cfg.rate_bps,
                secure: secure.clone(),
                intervals: intervals(cfg.interval_samples),
            };
            let search = cfg.stream_search.clone().filter(|_| proto == Proto::Udp);
            let r = step(&bar, move || {
                let mut r = stream::run(&c)?;
                if let Some(s) = search {
                    // Up to what the main run managed to send.
                    let ceiling = (r.sent_bytes as f64 * 8.0 / r.seconds.max(1e-9)) as u64;
                    r.zero_loss = Some(stream::search(&c, ceiling, &s)?);
                }
                Ok(r)
            })
            .await?;
            set(&mut report.stream, proto, r);
        }
        if wants(Part::Setup) {
            bar.set_message(format!("setup cost over {proto}"));
            let c = SetupConfig {
                addr,
                proto,
                count: cfg.setup_count,
                duration: Duration::from_secs(2),
                timeout: Duration::from_millis(500),
                secure: secure.clone(),
            };
            set(
                &mut report.setup,
                proto,
                step(&bar, move || setup::run(&c)).await?,
            );
        }
        if fanout {
            bar.set_message(format!("chat fan-out over {proto}"));
            let server = match cfg.chat {
                Some((chat, pid)) => fanout::Server::External {
                    addr: addr_of(chat, proto),
                    pid,
                },
                None => fanout::Server::Spawn {
                    exe: cfg.exe.clone(),
                },
            };
            let c = FanoutConfig {
                server,
                proto,
                text: cfg.text,
                clients: cfg.fanout_clients,
                rate: cfg.fanout_rate,
                warmup: Duration::from_millis(500),
                duration: cfg.fanout_duration,
                payload: 32,
                slow_readers: cfg.fanout_slow_readers,
                slow: cfg.fanout_slow,
                sndbuf: cfg.fanout_sndbuf,
                coalesce: cfg.fanout_coalesce,
                pin: cfg.pin,
                secure: cfg.secure.clone(),
                datagrams: false,
            };
            let r = fanout::run(&c)
                .await
                .with_context(|| format!("chat fan-out over {proto}"))?;
            set(&mut report.fanout, proto, r);
            if proto == Proto::Quic {
                let d = FanoutConfig {
                    datagrams: true,
                    ..c
                };
                let r = fanout::run(&d)
                    .await
                    .context("chat fan-out over QUIC DATAGRAM frames")?;
                report.fanout_datagrams = Some(r);
            }
            bar.inc(1);
        }
    }
    if cfg.parts.contains(&Part::Capacity) {
        bar.set_message("capacity");
        let c = super::capacity::CapacityConfig {
            exe: cfg.exe.clone(),
            members: cfg.capacity_members,
            join_rate: cfg.capacity_join_rate,
            broadcasts: cfg.capacity_broadcasts,
            server_threads: cfg.capacity_server_threads,
            pin: cfg.pin,
        };
        report.capacity = Some(super::capacity::run(&c).await.context("capacity")?);
    }
    bar.finish_and_clear();
    if let Some(echo) = local {
        echo.stop().await;
    }
    Ok(report)
}

/// Interval lines on stdout, with the progress bar (stderr) out of their way.
fn line_sink(bar: &ProgressBar) -> LineSink {
    let bar = bar.clone();
    LineSink(std::sync::Arc::new(move |line: &str| {
        // A closed stdout ends the bench when the table is printed.
        bar.suspend(|| {
            let _ = crate::output::print(format_args!("{line}\n"));
        })
    }))
}

fn set<T>(pair: &mut super::report::Pair<T>, proto: Proto, value: T) {
    match proto {
        Proto::Tcp => pair.tcp = Some(value),
        Proto::Udp => pair.udp = Some(value),
        Proto::Tls => pair.tls = Some(value),
        Proto::Quic => pair.quic = Some(value),
    }
}

/// One part of the suite: a blocking measurement on a thread of its own, then one step
/// of the progress bar.
async fn step<T: Send + 'static>(
    bar: &ProgressBar,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    let r = blocking(f).await?;
    bar.inc(1);
    Ok(r)
}

/// Run a blocking measurement on a thread of its own.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    Ok(tokio::task::spawn_blocking(f).await??)
}
