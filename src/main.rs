//! The `nettool` binary: parse the command line (clap derive), then call the library.

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use nettool::addr::{self, parse_duration};
use nettool::chat::client;
use nettool::wire::Proto;
use nettool::{bench, chat, echo, shutdown};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "nettool",
    version,
    about = "Chat and echo over TCP and UDP, side by side"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Chat room: serve one with -l, otherwise join one (stdin lines out, room lines in).
    Chat(ChatArgs),
    /// RFC 862 echo: serve with -l, otherwise ping a server and summarise.
    Echo(EchoArgs),
    /// TCP vs UDP on loopback (or against `nettool echo -l` with --connect): round trip,
    /// stream, setup cost, chat fan-out; a side-by-side table.
    Bench(BenchArgs),
    /// Run a command behind an emulated impaired link (root: TUN + a network namespace).
    Lab(LabArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProtoArg {
    Tcp,
    Udp,
    Both,
}

impl ProtoArg {
    fn protos(self) -> Vec<Proto> {
        match self {
            ProtoArg::Tcp => vec![Proto::Tcp],
            ProtoArg::Udp => vec![Proto::Udp],
            ProtoArg::Both => vec![Proto::Tcp, Proto::Udp],
        }
    }

    /// The one protocol a client uses.
    fn single(self) -> Result<Proto> {
        match self {
            ProtoArg::Tcp => Ok(Proto::Tcp),
            ProtoArg::Udp => Ok(Proto::Udp),
            ProtoArg::Both => anyhow::bail!("a client speaks one protocol: --proto tcp or udp"),
        }
    }
}

#[derive(Args)]
struct ChatArgs {
    /// Address to serve on (-l) or connect to: HOST:PORT, HOST or PORT [default: 127.0.0.1:7070]
    addr: Option<String>,
    /// Serve a room instead of joining one.
    #[arg(short, long)]
    listen: bool,
    #[arg(long, value_enum, default_value = "tcp")]
    proto: ProtoArg,
    /// Client: the nickname to ask for.
    #[arg(long)]
    nick: Option<String>,
    /// Print results (client `/stats` on exit) as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: ChatLimits,
}

#[derive(Args)]
struct ChatLimits {
    /// Members per room at most.
    #[arg(long, default_value_t = 1024)]
    max_members: usize,
    /// TCP connections at most (including ones not yet joined).
    #[arg(long, default_value_t = 1024)]
    max_conns: usize,
    /// Longest chat line (bytes).
    #[arg(long, default_value_t = 1024)]
    max_text: usize,
    /// Longest text-protocol line (bytes).
    #[arg(long, default_value_t = nettool::wire::text::DEFAULT_MAX_LINE)]
    max_line: usize,
    /// Largest binary TCP frame (bytes).
    #[arg(long, default_value_t = nettool::wire::binary::DEFAULT_MAX_FRAME)]
    max_frame: usize,
    /// Largest UDP datagram (bytes).
    #[arg(long, default_value_t = nettool::wire::binary::DEFAULT_MAX_DATAGRAM)]
    max_datagram: usize,
    /// Messages queued per TCP member before it is too slow (see --slow).
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Bytes queued per TCP member before it is too slow (see --slow).
    #[arg(long, default_value_t = 1 << 20)]
    queue_bytes: usize,
    /// A TCP member whose queue is full: disconnect it ("too slow"), or drop its oldest
    /// queued messages and tell it how many it missed.
    #[arg(long, value_enum, default_value_t = nettool::tcp::SlowPolicy::Disconnect)]
    slow: nettool::tcp::SlowPolicy,
    /// TCP: kernel send buffer per member (SO_SNDBUF), e.g. 64K [default: kernel autotuning].
    #[arg(long, value_parser = parse_size)]
    sndbuf: Option<usize>,
    /// TCP: a nettool handshake, or a text peer's first line once begun, must complete
    /// within this long.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    handshake_timeout: Duration,
    /// TCP: a peer holding an incomplete line or frame this long is disconnected.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    line_timeout: Duration,
    /// UDP members silent this long are dropped (clients send keepalives at a third of it).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    idle_timeout: Duration,
    /// Messages per second each UDP member may send; more are dropped (0: unlimited).
    #[arg(long, default_value_t = nettool::udp::DEFAULT_RATE)]
    udp_rate: u32,
    /// Messages a UDP member may send at once above --udp-rate.
    #[arg(long, default_value_t = nettool::udp::DEFAULT_BURST)]
    udp_burst: u32,
}

#[derive(Args)]
struct EchoArgs {
    /// Address to serve on (-l) or ping: HOST:PORT, HOST or PORT [default: 127.0.0.1:7007]
    addr: Option<String>,
    /// Serve instead of ping.
    #[arg(short, long)]
    listen: bool,
    /// Server default: both; client default: tcp.
    #[arg(long, value_enum)]
    proto: Option<ProtoArg>,
    /// Client: pings to send.
    #[arg(short, long, default_value_t = 10)]
    count: u64,
    /// Client: payload bytes per ping.
    #[arg(short, long, default_value_t = 64)]
    size: usize,
    /// Client: time between pings (e.g. 0.2, 200ms).
    #[arg(short, long, value_parser = parse_duration, default_value = "1s")]
    interval: Duration,
    /// Client: how long to wait for each reply before counting it lost.
    #[arg(short = 'W', long, value_parser = parse_duration, default_value = "1s")]
    timeout: Duration,
    /// Client: print the summary as JSON (per-reply lines are then not printed).
    #[arg(long)]
    json: bool,
    /// Largest UDP datagram the server answers (bytes).
    #[arg(long, default_value_t = 65_507)]
    max_datagram: usize,
    /// TCP connections the server serves at once.
    #[arg(long, default_value_t = 1024)]
    max_conns: usize,
    /// Server: UDP datagrams answered per second per source address; more are dropped
    /// (0: unlimited).
    #[arg(long, default_value_t = echo::DEFAULT_UDP_RATE)]
    udp_rate: u32,
    /// Server: datagrams a source may get answered at once above --udp-rate.
    #[arg(long, default_value_t = echo::DEFAULT_UDP_BURST)]
    udp_burst: u32,
}

#[derive(Args)]
struct BenchArgs {
    /// Only these measurements (default: all).
    #[arg(value_enum)]
    parts: Vec<bench::suite::Part>,
    /// Measure against this `nettool echo -l` instead of an in-process server.
    #[arg(long)]
    connect: Option<String>,
    #[arg(long, value_enum, default_value = "both")]
    proto: ProtoArg,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write SVG charts into this directory.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// How long each round-trip, stream and fan-out measurement runs.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    duration: Duration,
    /// Round-trip payload (bytes).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// UDP stream datagram size (bytes).
    #[arg(long, default_value_t = 1200)]
    udp_size: usize,
    /// UDP stream target rate in bits/s (100M, 1G; 0 = unpaced).
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    rate: u64,
    /// Fan-out: clients in the room.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Fan-out: messages per second per client.
    #[arg(long, default_value_t = 200.0)]
    msg_rate: f64,
    /// Setup cost: repetitions at most.
    #[arg(long, default_value_t = 1000)]
    setup_count: u64,
    /// Run every part across an emulated link (root): servers here, clients inside a
    /// `nettool lab` namespace, e.g. "delay=10ms loss=1%".
    #[arg(long)]
    link: Option<String>,
    /// With --link: TCP goodput at each loss, beside the Mathis bound (SVG into --plot
    /// or .), e.g. "loss=0,0.5,1,2,5%".
    #[arg(long, requires = "link")]
    sweep: Option<String>,
    /// Fan-out against this running chat server instead of a child `nettool chat -l`.
    #[arg(long)]
    chat: Option<String>,
    /// With --chat: that server's pid, to measure its CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Fan-out in text lines (for chat servers that are not nettool).
    #[arg(long)]
    text: bool,
    /// Fan-out: extra TCP members that join and never read.
    #[arg(long, default_value_t = 0)]
    slow_readers: usize,
    /// Fan-out: the chat server's --slow policy.
    #[arg(long, value_enum, default_value_t = nettool::tcp::SlowPolicy::Disconnect)]
    slow: nettool::tcp::SlowPolicy,
    /// Fan-out: the chat server's --sndbuf.
    #[arg(long, value_parser = parse_size)]
    sndbuf: Option<usize>,
}

#[derive(Args)]
#[command(
    after_help = "SPEC: space-separated key=value: delay=25ms jitter=5ms loss=1% burst=4 dup=1% \
reorder=2% rate=20mbit queue=100 (packets; 64kb for bytes) seed=7. \
Inside, the host is at $NETTOOL_LAB_HOST."
)]
struct LabArgs {
    /// Impairment of both directions, e.g. "delay=25ms loss=1%" (empty: a perfect link).
    #[arg(long, default_value = "")]
    link: String,
    /// Inside -> host instead of --link.
    #[arg(long)]
    uplink: Option<String>,
    /// Host -> inside instead of --link.
    #[arg(long)]
    downlink: Option<String>,
    /// The command to run inside, after `--`.
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

/// A byte count with an optional K or M suffix (powers of 1024).
fn parse_size(s: &str) -> Result<usize, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1 << 10),
        Some('m' | 'M') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|v| v.checked_mul(mult))
        .ok_or_else(|| format!("{s}: not a size"))
}

/// A bit rate: a number with an optional k, M or G suffix (powers of 1000).
fn parse_rate(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        Some('g' | 'G') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("{s}: not a rate"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s}: not a rate"));
    }
    Ok((v * mult) as u64)
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    // Servers run on one thread: the room is one task anyway, and a single thread spares
    // every message the cross-thread wake-ups (measured: 0.42 -> 0.25 µs of server CPU per
    // delivery at 10 clients x 14 000 msg/s). Clients and the bench's load use all cores.
    let serving = match &cli.cmd {
        Cmd::Chat(a) => a.listen,
        Cmd::Echo(a) => a.listen,
        Cmd::Bench(_) | Cmd::Lab(_) => false,
    };
    let rt = if serving {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Runtime::new()?
    };
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Chat(a) => chat_cmd(a).await,
            Cmd::Echo(a) => echo_cmd(a).await,
            Cmd::Bench(a) => bench_cmd(a).await,
            Cmd::Lab(a) => lab_cmd(a).await,
        }
    })
}

async fn chat_cmd(a: ChatArgs) -> Result<()> {
    let addr = addr::resolve(a.addr.as_deref(), addr::CHAT_PORT).await?;
    let l = &a.limits;
    if a.listen {
        let cfg = chat::ServerConfig {
            room: nettool::chat::room::RoomConfig {
                max_members: l.max_members,
                max_text: l.max_text,
                keepalive: l.idle_timeout / 3,
            },
            tcp: nettool::tcp::TcpConfig {
                max_conns: l.max_conns,
                max_line: l.max_line,
                max_frame: l.max_frame,
                queue: l.queue,
                queue_bytes: l.queue_bytes,
                slow: l.slow,
                sndbuf: l.sndbuf,
                handshake_timeout: l.handshake_timeout,
                line_timeout: l.line_timeout,
                ..Default::default()
            },
            udp: nettool::udp::UdpConfig {
                max_datagram: l.max_datagram,
                max_peers: l.max_members,
                idle_timeout: l.idle_timeout,
                rate: nettool::udp::budget::Rate::new(l.udp_rate, l.udp_burst),
                ..Default::default()
            },
        };
        let server = chat::Server::bind(addr, &a.proto.protos(), cfg).await?;
        eprintln!(
            "nettool chat: serving {} on {}",
            server.protos_label(),
            server.local_addr()
        );
        let stats = server.run(shutdown::on_signal()).await?;
        tracing::info!(?stats, "room closed");
        Ok(())
    } else {
        let cfg = client::ClientConfig {
            addr,
            proto: a.proto.single()?,
            nick: a.nick,
            max_line: l.max_line,
            max_frame: l.max_frame,
            max_datagram: l.max_datagram,
            json: a.json,
            ..Default::default()
        };
        client::run_stdio(cfg).await
    }
}

async fn echo_cmd(a: EchoArgs) -> Result<()> {
    let addr = addr::resolve(a.addr.as_deref(), addr::ECHO_PORT).await?;
    if a.listen {
        let protos = a.proto.unwrap_or(ProtoArg::Both).protos();
        let cfg = echo::ServerConfig {
            max_datagram: a.max_datagram,
            max_conns: a.max_conns,
            udp_rate: nettool::udp::budget::Rate::new(a.udp_rate, a.udp_burst),
            ..Default::default()
        };
        let server = echo::Server::bind(addr, &protos, cfg).await?;
        eprintln!("nettool echo: serving on {}", server.local_addr());
        server.run(shutdown::on_signal()).await?;
        Ok(())
    } else {
        let cfg = echo::PingConfig {
            addr,
            proto: a.proto.unwrap_or(ProtoArg::Tcp).single()?,
            count: a.count,
            size: a.size,
            interval: a.interval,
            timeout: a.timeout,
        };
        let json = a.json;
        let summary = echo::ping(&cfg, move |reply| {
            if !json {
                println!("{reply}");
            }
        })
        .await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            println!("{summary}");
        }
        Ok(())
    }
}

async fn bench_cmd(a: BenchArgs) -> Result<()> {
    if let (Some(link), Some(sweep)) = (&a.link, &a.sweep) {
        let dir = a.plot.clone().unwrap_or_else(|| ".".into());
        let d = humantime::format_duration(a.duration).to_string();
        bench::sweep::run(link, sweep, &d, &dir).await?;
        return Ok(());
    }
    if let Some(link) = &a.link {
        let args = std::env::args().skip_while(|a| a != "bench").skip(1);
        std::process::exit(bench::link::run(link, args.collect()).await?);
    }
    let connect = match &a.connect {
        Some(spec) => Some(addr::resolve(Some(spec), addr::ECHO_PORT).await?),
        None => None,
    };
    let chat = match &a.chat {
        Some(spec) => Some((
            addr::resolve(Some(spec), addr::CHAT_PORT).await?,
            a.server_pid,
        )),
        None => None,
    };
    let cfg = bench::suite::SuiteConfig {
        connect,
        protos: a.proto.protos(),
        parts: a.parts,
        chat,
        text: a.text,
        rtt_size: a.size,
        rtt_duration: a.duration,
        stream_duration: a.duration,
        udp_size: a.udp_size,
        rate_bps: a.rate,
        fanout_clients: a.clients,
        fanout_rate: a.msg_rate,
        fanout_duration: a.duration,
        fanout_slow_readers: a.slow_readers,
        fanout_slow: a.slow,
        fanout_sndbuf: a.sndbuf,
        setup_count: a.setup_count,
        ..Default::default()
    };
    let report = bench::suite::run(&cfg).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if let Some(dir) = a.plot {
        for f in bench::plot::write(&report, &dir)? {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(())
}

async fn lab_cmd(a: LabArgs) -> Result<()> {
    use nettool::lab;
    // The lab's own failures (bad spec, missing privilege) are one line and status 125,
    // as `env` and `timeout` do, so they cannot be mistaken for the command's status.
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("nettool lab: {e}");
        std::process::exit(125)
    };
    let cfg = lab::LabConfig::parse(&a.link, a.uplink.as_deref(), a.downlink.as_deref())
        .unwrap_or_else(|e| fail(&e));
    let shutdown = shutdown::on_signal();
    let lab = lab::Lab::start(&cfg).unwrap_or_else(|e| fail(&e));
    eprintln!(
        "nettool lab: link {}; host is {} from inside (${}), inside is {}; replay with seed={}",
        cfg.describe(),
        lab.host_addr(),
        lab::HOST_ENV,
        lab.inside_addr(),
        lab.seeds().0
    );
    let status = lab::run::run_command(&lab, &a.cmd, shutdown).await;
    let counts = lab.stop();
    eprint!("{counts}");
    match status {
        Ok(status) => std::process::exit(lab::run::exit_code(status)),
        Err(e) => fail(&format!("running {}: {e}", a.cmd[0])),
    }
}
