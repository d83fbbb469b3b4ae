//! The `nettool` binary: parse the command line ([`cli`]), start a runtime, and hand
//! each command to the library.

mod cli;

use anyhow::Result;
use clap::Parser;
use cli::{BenchArgs, ChatArgs, Cli, Cmd, EchoArgs, LabArgs};
use nettool::chat::client;
use nettool::{addr, bench, chat, echo, output, shutdown};
use std::process::ExitCode;

/// Logs on stderr: `RUST_LOG` (default `info`); colour only on a terminal and without
/// `NO_COLOR`. A log line that cannot be written (stderr closed, a pipe whose reader
/// left) is dropped: tracing-subscriber would otherwise report it with `eprintln!`,
/// which panics on that same stderr, killing whichever task logged (the signal
/// handler, so SIGTERM was ignored).
fn init_logging() {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .log_internal_errors(false)
        .with_env_filter(log_filter())
        .init();
}

/// `RUST_LOG`, or `info`. The NATS client's own logs are off unless `RUST_LOG` names
/// `async_nats`: the cluster says what matters in its own words (one line each).
fn log_filter() -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    let env = std::env::var("RUST_LOG").unwrap_or_default();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match "async_nats=off".parse() {
        Ok(off) if !env.contains("async_nats") => filter.add_directive(off),
        _ => filter,
    }
}

/// A failed command as one line on stderr (the error and its causes, no backtrace:
/// these are the user's errors, not crashes), exit status 1.
fn report(err: anyhow::Error) -> ExitCode {
    use std::io::Write;
    // Whoever read our results has gone (`| head`): nothing left to say, as for SIGPIPE.
    if output::is_closed_pipe(&err) {
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(std::io::stderr(), "nettool: {err:#}");
    ExitCode::FAILURE
}

/// A server's start line on stderr (not fatal if stderr is gone).
fn announce(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn main() -> ExitCode {
    init_logging();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}

fn run(cli: Cli) -> Result<()> {
    // Servers run on one thread unless told otherwise (`--threads`): the room is one task
    // anyway, and a single thread spares every message the cross-thread wake-ups
    // (measured: 0.42 -> 0.25 µs of server CPU per delivery at 10 clients x 14 000
    // msg/s). More threads spread the members' writes, which a large room's broadcast
    // can use where cores are free. Clients and the bench's load use all cores.
    let rt = match cli.cmd.server_threads() {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
        None => tokio::runtime::Runtime::new()?,
    };
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Chat(a) => chat_cmd(a).await,
            Cmd::Echo(a) => echo_cmd(a).await,
            Cmd::Bench(a) => bench_cmd(a).await,
            Cmd::Lab(a) => lab_cmd(a).await,
            Cmd::Completions(a) => Ok(cli::print(&cli::completions(a.shell))?),
            Cmd::Man(a) => match &a.dir {
                Some(dir) => Ok(cli::write_man_pages(dir)?),
                None => Ok(cli::print(&cli::man(a.page.as_deref())?)?),
            },
        }
    })
}

async fn chat_cmd(a: ChatArgs) -> Result<()> {
    let addr = addr::resolve(a.addr.as_deref(), addr::CHAT_PORT).await?;
    if a.listen {
        let protos = a.proto.protos(a.secure.tls);
        if protos.iter().any(|p| !p.is_udp()) {
            let wanted = (a.limits.max_conns as u64).saturating_add(nettool::limits::SPARE_FDS);
            nettool::limits::raise_nofile(wanted, "--max-conns");
        }
        let mut cfg = chat::ServerConfig::from(&a.limits);
        cfg.kx = a.secure.kx();
        cfg.quic.retry = !a.no_retry;
        if protos.iter().any(|p| p.is_secure()) {
            let id = a.secure.identity()?;
            announce(format_args!("nettool chat: {id}"));
            cfg.identity = Some(id);
        }
        let mut server = chat::Server::bind(addr, &protos, cfg).await?;
        let stop = shutdown::on_signal();
        if let Some(cfg) = a.cluster.config(server.local_addr())? {
            cluster(&mut server, cfg).await?;
        }
        announce(format_args!("nettool chat: serving {}", server.describe()));
        let stats = server.run(stop).await?;
        tracing::info!(?stats, "room closed");
        Ok(())
    } else {
        client::run_stdio(a.client_config(addr)?).await
    }
}

/// Join the room on the bus: one line if that cannot be done (credentials, TLS, URL).
async fn cluster(server: &mut chat::Server, cfg: nettool::cluster::ClusterConfig) -> Result<()> {
    let (url, room, name) = (cfg.url.clone(), cfg.room.clone(), cfg.name.clone());
    let bus = nettool::cluster::Cluster::connect(cfg)
        .await
        .map_err(|e| anyhow::anyhow!("--cluster: {e}"))?;
    server.room_config().server = Some(name.clone());
    server.add_source(Box::new(move |tx, stop| Box::pin(bus.run(tx, stop))));
    announce(format_args!(
        "nettool chat: room {room} on {url} (subject nettool.chat.{room}) as server {name}"
    ));
    Ok(())
}

async fn echo_cmd(a: EchoArgs) -> Result<()> {
    let addr = addr::resolve(a.addr.as_deref(), addr::ECHO_PORT).await?;
    if a.listen {
        let protos = a.server_protos();
        let mut cfg = a.server_config();
        cfg.kx = a.secure.kx();
        if protos.iter().any(|p| p.is_secure()) {
            let id = a.secure.identity()?;
            announce(format_args!("nettool echo: {id}"));
            cfg.identity = Some(id);
        }
        let server = echo::Server::bind(addr, &protos, cfg).await?;
        let stop = shutdown::on_signal();
        announce(format_args!("nettool echo: serving {}", server.describe()));
        server.run(stop).await?;
        Ok(())
    } else {
        echo::ping_stdio(&a.ping_config(addr)?, a.json).await
    }
}

async fn bench_cmd(a: BenchArgs) -> Result<()> {
    if let Some(addr) = a.capacity_worker {
        return bench::capacity::worker(addr, a.members, a.join_rate).await;
    }
    if let Some(c) = a.cluster_config()? {
        let report = tokio::select! {
            r = bench::cluster::run(&c) => r?,
            _ = shutdown::interrupted() => {
                announce(format_args!("nettool: bench interrupted: no report"));
                std::process::exit(1);
            }
        };
        return if a.json {
            let text = serde_json::to_string_pretty(&report)?;
            Ok(output::print(format_args!("{text}\n"))?)
        } else {
            Ok(output::print(format_args!("{report}"))?)
        };
    }
    if let (Some(link), Some(sweep)) = (&a.link, &a.sweep) {
        let dir = a.plot.clone().unwrap_or_else(|| ".".into());
        let d = humantime::format_duration(a.duration()).to_string();
        bench::sweep::run(link, sweep, &d, &dir).await?;
        return Ok(());
    }
    if let Some(link) = &a.link {
        let args = std::env::args().skip_while(|a| a != "bench").skip(1);
        let code = bench::link::run(link, args.collect(), a.pcap.config()).await?;
        std::process::exit(code);
    }
    if a.pcap.pcap.is_some() {
        anyhow::bail!("--pcap captures the lab's emulated link: use it with --link");
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
    let cfg = a.suite_config(connect, chat)?;
    let report = tokio::select! {
        r = bench::suite::run(&cfg) => Some(r?),
        _ = shutdown::interrupted() => None,
    };
    let Some(report) = report else {
        // Ctrl-C: the run is dropped by now, which kills its child servers. Exit at
        // once rather than through the runtime's drop, which would wait for a blocking
        // measurement thread (a round trip waiting out its timeout) to finish.
        announce(format_args!("nettool: bench interrupted: no report"));
        std::process::exit(1);
    };
    if a.json {
        let text = serde_json::to_string_pretty(&report)?;
        output::print(format_args!("{text}\n"))?;
    } else {
        output::print(format_args!("{report}"))?;
    }
    if let Some(dir) = &a.plot {
        for f in bench::plot::write(&report, dir)? {
            announce(format_args!("wrote {}", f.display()));
        }
    }
    Ok(())
}

async fn lab_cmd(a: LabArgs) -> Result<()> {
    use nettool::lab;
    // The lab's own failures (bad spec, missing privilege) are one line and status 125,
    // as `env` and `timeout` do, so they cannot be mistaken for the command's status.
    let fail = |e: &dyn std::fmt::Display| -> ! {
        announce(format_args!("nettool lab: {e}"));
        std::process::exit(125)
    };
    let mut cfg = lab::LabConfig::parse(&a.link, a.uplink.as_deref(), a.downlink.as_deref())
        .unwrap_or_else(|e| fail(&e));
    cfg.capture = a.pcap.config();
    let shutdown = shutdown::on_signal();
    let lab = lab::Lab::start(&cfg).unwrap_or_else(|e| fail(&e));
    announce(format_args!(
        "nettool lab: link {}; host is {} from inside (${}), inside is {}; replay with seed={}",
        cfg.describe(),
        lab.host_addr(),
        lab::HOST_ENV,
        lab.inside_addr(),
        lab.seeds().0
    ));
    let status = lab::run::run_command(&lab, &a.cmd, shutdown).await;
    let (counts, capture) = lab.finish();
    eprint!("{counts}");
    if let Some(c) = capture {
        eprintln!("{c}");
    }
    match status {
        Ok(status) => std::process::exit(lab::run::exit_code(status)),
        Err(e) => fail(&format!("running {}: {e}", a.cmd[0])),
    }
}
