//! `nettool bench`: its flags, and their conversion into the suite's config.

use super::{
    coalesce_window, duration, parse_rate, parse_size, Dur, ProtoArg, SecureArgs, SlowArg,
};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use nettool::bench::suite::{self, Part, SuiteConfig};
use nettool::tcp::SlowPolicy;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// [`Part`] on the command line.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartArg {
    /// Round trip, one message outstanding.
    Rtt,
    /// One-way bulk: goodput, loss, jitter.
    Stream,
    /// Time from nothing to the first reply.
    Setup,
    /// N chat clients in one room.
    Fanout,
    /// N TCP + N UDP members joined at a rate; memory, latency and CPU at that size
    /// (only when named).
    Capacity,
}

impl From<PartArg> for Part {
    fn from(a: PartArg) -> Self {
        match a {
            PartArg::Rtt => Part::Rtt,
            PartArg::Stream => Part::Stream,
            PartArg::Setup => Part::Setup,
            PartArg::Fanout => Part::Fanout,
            PartArg::Capacity => Part::Capacity,
        }
    }
}

impl From<Part> for PartArg {
    fn from(p: Part) -> Self {
        match p {
            Part::Rtt => PartArg::Rtt,
            Part::Stream => PartArg::Stream,
            Part::Setup => PartArg::Setup,
            Part::Fanout => PartArg::Fanout,
            Part::Capacity => PartArg::Capacity,
        }
    }
}

#[derive(Args)]
pub struct BenchArgs {
    /// Only these measurements (default: all).
    #[arg(value_enum)]
    parts: Vec<PartArg>,
    /// Measure against this `nettool echo -l` instead of an in-process server.
    #[arg(long)]
    pub connect: Option<String>,
    /// The columns: any of tcp, tls, udp, quic, comma-separated (both: tcp,udp; all:
    /// every one). With --connect, TLS and QUIC are measured at the next port number,
    /// as `nettool echo -l --proto all` serves them.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tcp,tls,udp,quic"
    )]
    proto: Vec<ProtoArg>,
    /// TLS, QUIC with --connect: accept only this certificate (SHA256:…) [default: trust
    /// on first use; the in-process server's own certificate is always pinned].
    #[arg(long)]
    cert_pin: Option<String>,
    /// TLS, QUIC with --connect: accept any certificate.
    #[arg(long, conflicts_with = "cert_pin")]
    insecure: bool,
    /// TLS, QUIC: offer classical X25519 only, instead of the post-quantum hybrid
    /// X25519MLKEM768 first.
    #[arg(long)]
    classical: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write SVG charts into this directory.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// How long each round-trip, stream and fan-out measurement runs.
    #[arg(long, value_parser = duration, default_value_t = suite::DEFAULT_DURATION.into())]
    duration: Dur,
    /// Round trip and stream: a line per protocol every DUR (iperf3's -i), TCP's own view
    /// (TCP_INFO) beside UDP's loss; 0 turns them off [default: 1s when stdout is a
    /// terminal and a part runs 3 s or more].
    #[arg(long, value_parser = duration, value_name = "DUR")]
    interval: Option<Dur>,
    /// Round-trip payload (bytes).
    #[arg(long, default_value_t = suite::DEFAULT_RTT_SIZE)]
    size: usize,
    /// UDP stream datagram size (bytes).
    #[arg(long, default_value_t = suite::DEFAULT_UDP_SIZE)]
    udp_size: usize,
    /// UDP stream target rate in bits/s (100M, 1G; 0 = unpaced).
    #[arg(long, value_parser = parse_rate, default_value_t = suite::DEFAULT_RATE_BPS)]
    rate: u64,
    /// Fan-out: clients in the room.
    #[arg(long, default_value_t = suite::DEFAULT_FANOUT_CLIENTS)]
    clients: usize,
    /// Fan-out: messages per second per client.
    #[arg(long, default_value_t = suite::DEFAULT_FANOUT_RATE)]
    msg_rate: f64,
    /// Setup cost: repetitions at most.
    #[arg(long, default_value_t = suite::DEFAULT_SETUP_COUNT)]
    setup_count: u64,
    /// Fan-out against this running chat server instead of a child `nettool chat -l`.
    #[arg(long)]
    pub chat: Option<String>,
    /// With --chat: that server's pid, to measure its CPU.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Fan-out in text lines (for chat servers that are not nettool).
    #[arg(long)]
    text: bool,
    /// Fan-out: extra TCP members that join and never read.
    #[arg(long, default_value_t = suite::DEFAULT_SLOW_READERS)]
    slow_readers: usize,
    /// Fan-out: the chat server's --slow policy.
    #[arg(long, value_enum, default_value_t = SlowPolicy::default().into())]
    slow: SlowArg,
    /// Fan-out: the chat server's --sndbuf.
    #[arg(long, value_parser = parse_size)]
    sndbuf: Option<usize>,
    /// Fan-out: the chat server's --coalesce window [default: 0, the room's rounds only,
    /// as the chat server runs by default].
    #[arg(long, value_parser = coalesce_window, default_value = "0")]
    coalesce: Dur,
    /// Run the servers on CPU 0 and the measuring side on CPU 1: round trip, stream and
    /// setup pin the in-process echo server's thread; fan-out and capacity the chat server
    /// (taskset); with --servers, every server and bare peer on CPU 0, the broker and load
    /// on CPU 1.
    #[arg(long)]
    pin: bool,
    /// Capacity: members per protocol (TCP and UDP each).
    #[arg(long, default_value_t = suite::DEFAULT_CAPACITY_MEMBERS)]
    pub members: usize,
    /// Capacity: joins per second, both protocols together.
    #[arg(long, default_value_t = suite::DEFAULT_CAPACITY_JOIN_RATE)]
    pub join_rate: f64,
    /// Capacity: lines broadcast once the room is full.
    #[arg(long, default_value_t = suite::DEFAULT_CAPACITY_BROADCASTS)]
    broadcasts: u64,
    /// Capacity: threads for the chat server (its --threads). With --pin every one of
    /// them is held to CPU 0.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    server_threads: u16,
    /// Run every part across an emulated link (root): servers here, clients inside a
    /// `nettool lab` namespace, e.g. "delay=10ms loss=1%".
    #[arg(long)]
    pub link: Option<String>,
    /// With --link: TCP goodput at each loss, beside the Mathis bound (SVG into --plot
    /// or .), e.g. "loss=0,0.5,1,2,5%".
    #[arg(long, requires = "link")]
    pub sweep: Option<String>,
    /// Fan-out: also over this many servers joined on a NATS broker (`chat -l
    /// --cluster`), beside one server, with the bus's CPU set against a bare async-nats
    /// peer's (see docs/cluster.md).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub servers: u16,
    /// With --servers: this broker instead of a `nats-server` started on free ports.
    #[arg(long, value_name = "URL", requires = "servers")]
    pub broker: Option<String>,
    /// With --servers: the bare async-nats peer [default: examples/bus_floor beside this
    /// binary, built by `cargo build --release --example bus_floor`].
    #[arg(long, value_name = "PATH", requires = "servers")]
    pub bus_floor: Option<PathBuf>,
    /// With --servers: run the bare peers beside the servers on the bus, measured over
    /// the same window (same contention), rather than after them.
    #[arg(long, requires = "servers")]
    pub floor_beside: bool,
    /// With --link: a capture of the link (see `nettool lab --help`).
    #[command(flatten)]
    pub pcap: super::PcapArgs,
    /// Internal: the capacity bench's UDP members, in a process of their own.
    #[arg(long, hide = true)]
    pub capacity_worker: Option<SocketAddr>,
}

impl BenchArgs {
    /// The protocols measured, in the table's order, each once.
    fn protos(&self) -> Vec<nettool::wire::Proto> {
        let all = if self.proto.contains(&ProtoArg::All) {
            vec![ProtoArg::Tcp, ProtoArg::Tls, ProtoArg::Udp, ProtoArg::Quic]
        } else {
            self.proto.clone()
        };
        let wanted: Vec<_> = all.iter().flat_map(|p| p.protos(false)).collect();
        nettool::wire::Proto::ALL
            .into_iter()
            .filter(|p| wanted.contains(p))
            .collect()
    }

    /// How long each measurement runs.
    pub fn duration(&self) -> std::time::Duration {
        *self.duration
    }

    /// `fanout --servers N` (N >= 2): the cluster comparison's config.
    pub fn cluster_config(&self) -> Result<Option<nettool::bench::cluster::ClusterBenchConfig>> {
        if self.servers < 2 {
            return Ok(None);
        }
        // One protocol named: its members; the default list: TCP members.
        let proto = match self.protos().as_slice() {
            [one] => *one,
            _ => nettool::wire::Proto::Tcp,
        };
        Ok(Some(nettool::bench::cluster::ClusterBenchConfig {
            exe: std::env::current_exe()?,
            servers: self.servers.into(),
            clients: self.clients,
            rate: self.msg_rate,
            proto,
            duration: *self.duration,
            broker: self.broker.clone(),
            floor: self.bus_floor.clone(),
            floor_beside: self.floor_beside,
            pin: self.pin,
            coalesce: *self.coalesce,
        }))
    }

    /// The suite's config, given the resolved `--connect` and `--chat` (with
    /// `--server-pid`) addresses.
    pub fn suite_config(
        &self,
        connect: Option<SocketAddr>,
        chat: Option<(SocketAddr, Option<u32>)>,
    ) -> Result<SuiteConfig> {
        let d = *self.duration;
        let cfg = SuiteConfig {
            interval: interval(
                self.interval.map(|i| *i),
                d,
                std::io::stdout().is_terminal(),
            ),
            interval_lines: !self.json,
            interval_samples: self.plot.is_some(),
            connect,
            protos: self.protos(),
            secure: SecureArgs {
                pin: self.cert_pin.clone(),
                insecure: self.insecure,
                classical: self.classical,
                ..Default::default()
            }
            .client_options()?,
            parts: self.parts.iter().map(|&p| p.into()).collect(),
            chat,
            text: self.text,
            rtt_size: self.size,
            rtt_duration: d,
            stream_duration: d,
            udp_size: self.udp_size,
            rate_bps: self.rate,
            fanout_clients: self.clients,
            fanout_rate: self.msg_rate,
            fanout_duration: d,
            fanout_slow_readers: self.slow_readers,
            fanout_slow: self.slow.into(),
            fanout_sndbuf: self.sndbuf,
            fanout_coalesce: *self.coalesce,
            setup_count: self.setup_count,
            pin: self.pin,
            capacity_members: self.members,
            capacity_join_rate: self.join_rate,
            capacity_broadcasts: self.broadcasts,
            capacity_server_threads: self.server_threads.into(),
            ..Default::default()
        };
        if cfg.runs_fanout()
            && cfg.fanout_slow_readers > 0
            && cfg.protos != [nettool::wire::Proto::Tcp]
        {
            bail!("slow readers are TCP members: use --proto tcp");
        }
        Ok(cfg)
    }
}

/// The interval in force: the one given (0: none), else [`AUTO_INTERVAL`] when stdout
/// is a terminal and a part runs at least [`AUTO_MIN_PART`].
fn interval(given: Option<Duration>, part: Duration, terminal: bool) -> Option<Duration> {
    match given {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => (terminal && part >= AUTO_MIN_PART).then_some(AUTO_INTERVAL),
    }
}

/// The default interval, where there is one.
const AUTO_INTERVAL: Duration = Duration::from_secs(1);
/// Parts at least this long get [`AUTO_INTERVAL`] on a terminal.
const AUTO_MIN_PART: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[test]
    fn defaults_are_the_library_defaults() {
        let cli = Cli::try_parse_from(["nettool", "bench"]).unwrap();
        let Cmd::Bench(a) = cli.cmd else {
            panic!("not bench")
        };
        let cfg = a.suite_config(None, None).unwrap();
        let def = SuiteConfig::default();
        assert_eq!(cfg.protos, def.protos);
        assert_eq!(cfg.parts, def.parts);
        assert_eq!(cfg.rtt_size, def.rtt_size);
        assert_eq!(cfg.rtt_duration, def.rtt_duration);
        assert_eq!(cfg.stream_duration, def.stream_duration);
        assert_eq!(cfg.fanout_duration, def.fanout_duration);
        assert_eq!(cfg.udp_size, def.udp_size);
        assert_eq!(cfg.rate_bps, def.rate_bps);
        assert_eq!(cfg.fanout_clients, def.fanout_clients);
        assert_eq!(cfg.fanout_rate, def.fanout_rate);
        assert_eq!(cfg.fanout_slow_readers, def.fanout_slow_readers);
        assert_eq!(cfg.fanout_slow, def.fanout_slow);
        assert_eq!(cfg.setup_count, def.setup_count);
    }

    #[test]
    fn slow_readers_need_tcp() {
        let cli = Cli::try_parse_from(["nettool", "bench", "--slow-readers", "2"]).unwrap();
        let Cmd::Bench(a) = cli.cmd else {
            panic!("not bench")
        };
        let e = a.suite_config(None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "slow readers are TCP members: use --proto tcp"
        );
    }

    #[test]
    fn the_cluster_bench_takes_the_window_and_servers_it_is_given() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Cmd::Bench(a) = cli.cmd else {
                panic!("not bench")
            };
            a.cluster_config().unwrap()
        };
        assert!(parse(&["nettool", "bench", "fanout"]).is_none());
        let c = parse(&[
            "nettool",
            "bench",
            "fanout",
            "--servers",
            "3",
            "--coalesce",
            "2ms",
        ])
        .expect("a cluster layout");
        assert_eq!((c.servers, c.coalesce), (3, Duration::from_millis(2)));
        let c = parse(&["nettool", "bench", "fanout", "--servers", "2"]).expect("a cluster");
        assert_eq!(c.coalesce, Duration::ZERO);
    }

    #[test]
    fn intervals_default_on_only_for_a_terminal_and_long_parts() {
        let s = Duration::from_secs;
        assert_eq!(interval(None, s(3), true), Some(s(1)));
        assert_eq!(interval(None, s(2), true), None);
        assert_eq!(interval(None, s(10), false), None);
        assert_eq!(interval(Some(s(0)), s(10), true), None);
        assert_eq!(
            interval(Some(Duration::from_millis(250)), s(1), false),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn parts_mirror_the_library() {
        for &p in PartArg::value_variants() {
            assert!(PartArg::from(Part::from(p)) == p);
        }
    }
}
