//! `nettool bench --link SPEC`: the whole suite across an emulated impaired link.
//!
//! A [`Lab`] is started; an echo server and a chat room (TCP and UDP on one port each,
//! TLS and QUIC on the next, with a certificate of this run's that the child pins) are
//! served in this process on the lab's host address; the client side runs inside
//! the lab as a child `nettool bench … --connect ECHO --chat CHAT` with the user's other
//! arguments, so every part (round trip, stream, fan-out, setup) crosses the emulator.
//! The table is the child's; the link is named before it and the emulator's counts are
//! printed after it (to stderr with `--json`, so stdout stays one JSON document).

use crate::chat;
use crate::echo;
use crate::lab::{Lab, LabConfig};
use crate::udp::budget::Rate;
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// The flags that belong to the lab (this process), not to the bench inside it.
const LAB_ONLY: [&str; 4] = ["--link", "--pcap", "--pcap-snaplen", "--pcap-max"];

/// The command line for the child: the user's bench arguments without `--link SPEC`
/// and the capture's flags.
/// Fails if they name their own server (`--connect`, `--chat`), which `--link` provides.
pub fn child_args(args: impl IntoIterator<Item = String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if LAB_ONLY.contains(&a.as_str()) {
            it.next();
        } else if LAB_ONLY.iter().any(|f| a.starts_with(&format!("{f}="))) {
        } else if a == "--connect"
            || a.starts_with("--connect=")
            || a == "--chat"
            || a.starts_with("--chat=")
        {
            bail!("--link runs its own servers on the lab's host side: drop {a}");
        } else {
            out.push(a);
        }
    }
    Ok(out)
}

/// The bench's own servers on the lab's host address: an echo server and a chat room
/// (TCP and UDP on one port each), until dropped.
///
/// They are configured for the load the bench offers, as the loopback fan-out's child
/// server is (`--udp-rate 0 --queue 4096`): no per-member UDP rate (20 members at
/// 200/s each are over the default 100/s, and the room would drop what the link did
/// not), no per-source echo budget (every simulated member and stream shares the lab's
/// one inside address). The bench measures the link and the protocols, not the flood
/// limits.
///
/// They run on a runtime of their own whose threads log at `warn` unless `RUST_LOG` says
/// otherwise, so the room's joins and leaves (one line per simulated member) do not
/// bury the table on stderr.
pub struct HostServers {
    /// Where the host-side echo server (with the stream sink) listens.
    pub echo: SocketAddr,
    /// Where the host-side chat server (TCP and UDP) listens.
    pub chat: SocketAddr,
    /// The servers' certificate (TLS, QUIC).
    pub fingerprint: String,
    stop: CancellationToken,
    rt: Option<tokio::runtime::Runtime>,
}

thread_local! {
    /// The quiet log dispatcher of a server thread, for the thread's life.
    static QUIET: std::cell::RefCell<Option<tracing::dispatcher::DefaultGuard>> =
        const { std::cell::RefCell::new(None) };
}

/// Logs as the process's, filtered at `warn` unless `RUST_LOG` is set.
fn quiet_dispatch() -> tracing::Dispatch {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal() && !no_color)
            .log_internal_errors(false)
            .with_env_filter(filter)
            .finish(),
    )
}

/// The server configs for the bench's load (see [`HostServers`]).
fn configs() -> (echo::ServerConfig, chat::ServerConfig) {
    let echo = echo::ServerConfig {
        udp_rate: Rate::new(0, 0),
        ..Default::default()
    };
    let mut chat = chat::ServerConfig::default();
    chat.udp.rate = Rate::new(0, 0);
    chat.tcp.queue = 4096;
    chat.quic.queue.messages = 4096;
    (echo, chat)
}

impl HostServers {
    /// Bind both servers on `lab`'s host address and start serving.
    pub async fn start(lab: &Lab) -> Result<HostServers> {
        let dispatch = quiet_dispatch();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lab-servers")
            .enable_all()
            .on_thread_start(move || {
                QUIET.with(|q| *q.borrow_mut() = Some(tracing::dispatcher::set_default(&dispatch)));
            })
            .build()
            .context("a runtime for the lab's servers")?;
        let stop = CancellationToken::new();
        let host = SocketAddr::from((lab.host_addr(), 0));
        let (mut echo_cfg, mut chat_cfg) = configs();
        let identity = std::sync::Arc::new(crate::cert::Identity::ephemeral()?);
        let fingerprint = identity.fingerprint.clone();
        echo_cfg.identity = Some(identity.clone());
        chat_cfg.identity = Some(identity);
        let serving = stop.clone();
        let bound = rt.spawn(async move {
            // TCP and UDP on one port, TLS and QUIC on the next, as the bench expects.
            let all = crate::bench::suite::ECHO_PROTOS;
            let echo = echo::Server::bind(host, &all, echo_cfg)
                .await
                .context("echo server on the lab's host side")?;
            let echo_addr = echo.local_addr();
            tokio::spawn(echo.run(serving.clone()));
            let room = chat::Server::bind(host, &all, chat_cfg)
                .await
                .context("chat server on the lab's host side")?;
            let chat_addr = room.local_addr();
            tokio::spawn(room.run(serving));
            anyhow::Ok((echo_addr, chat_addr))
        });
        let (echo, chat) = bound.await.context("starting the lab's servers")??;
        Ok(HostServers {
            echo,
            chat,
            fingerprint,
            stop,
            rt: Some(rt),
        })
    }
}

impl Drop for HostServers {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Run the bench across `link`, capturing it if asked; `args` are the bench's own
/// arguments (after `bench`). Returns the child's exit code (130 after Ctrl-C).
pub async fn run(
    link: &str,
    args: Vec<String>,
    capture: Option<crate::lab::pcap::CaptureConfig>,
) -> Result<i32> {
    let mut cfg = LabConfig::parse(link, None, None)?;
    cfg.capture = capture;
    let mut forwarded = child_args(args)?;
    let json = forwarded.iter().any(|a| a == "--json");
    let lab = Lab::start(&cfg)?;
    let servers = HostServers::start(&lab).await?;
    let (echo_addr, chat_addr) = (servers.echo, servers.chat);

    forwarded.extend([
        "--connect".to_string(),
        echo_addr.to_string(),
        "--chat".to_string(),
        chat_addr.to_string(),
        "--cert-pin".to_string(),
        servers.fingerprint.clone(),
    ]);
    let mut argv = vec!["bench".to_string()];
    argv.extend(forwarded);
    let exe = std::env::current_exe().context("finding the nettool binary")?;
    let banner = format!(
        "across an emulated link: {} (servers on the host side at {}, clients inside the lab; seed={})",
        cfg.describe(),
        lab.host_addr(),
        lab.seeds().0
    );
    if json {
        eprintln!("nettool bench {banner}");
    } else {
        crate::output::print(format_args!("nettool bench {banner}\n"))?;
    }
    // Ctrl-C reaches the child too (it ends its run); this side then closes the lab and
    // its capture properly instead of dying halfway.
    let interrupted = crate::shutdown::interrupted();
    let mut cmd = tokio::process::Command::from(lab.command(&exe.to_string_lossy(), &argv));
    let mut child = cmd.kill_on_drop(true).spawn();
    let status = match &mut child {
        Ok(child) => tokio::select! {
            s = child.wait() => s.map(crate::lab::run::exit_code),
            _ = interrupted => {
                let _ = tokio::time::timeout(crate::lab::run::KILL_AFTER, child.wait()).await;
                Ok(130)
            }
        },
        Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
    };
    drop(child);
    drop(servers);
    let (counts, capture) = lab.finish();
    let capture = capture.map(|c| format!("{c}\n")).unwrap_or_default();
    if json {
        eprint!("{counts}{capture}");
    } else {
        crate::output::print(format_args!("{counts}{capture}"))?;
    }
    status.context("running the bench inside the lab")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn link_is_removed_and_own_servers_are_refused() {
        let got = child_args(v(&["rtt", "--link", "loss=1%", "--duration", "1s"])).unwrap();
        assert_eq!(got, v(&["rtt", "--duration", "1s"]));
        let got = child_args(v(&["--link=delay=5ms", "--json"])).unwrap();
        assert_eq!(got, v(&["--json"]));
        let got = child_args(v(&["--pcap", "f", "--pcap-max=1M", "--pcap-snaplen", "64"]));
        assert_eq!(got.unwrap(), v(&[]));
        assert!(child_args(v(&["--link", "x", "--connect", "h"])).is_err());
        assert!(child_args(v(&["--chat=h:1"])).is_err());
    }

    #[test]
    fn the_bench_servers_do_not_limit_the_load_the_bench_offers() {
        let (echo, chat) = configs();
        assert!(echo.udp_rate.is_unlimited());
        assert!(chat.udp.rate.is_unlimited());
        assert_eq!(chat.tcp.queue, 4096);
        // Defaults elsewhere are kept.
        assert_eq!(
            chat.room.max_members,
            chat::ServerConfig::default().room.max_members
        );
    }
}
