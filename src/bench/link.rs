//! `nettool bench --link SPEC`: the whole suite across an emulated impaired link.
//!
//! A [`Lab`] is started; an echo server and a chat room (TCP and UDP on one port each)
//! are served in this process on the lab's host address; the client side runs inside
//! the lab as a child `nettool bench … --connect ECHO --chat CHAT` with the user's other
//! arguments, so every part (round trip, stream, fan-out, setup) crosses the emulator.
//! The table is the child's; the link is named before it and the emulator's counts are
//! printed after it (to stderr with `--json`, so stdout stays one JSON document).

use crate::chat;
use crate::echo;
use crate::lab::{Lab, LabConfig};
use crate::wire::Proto;
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// The command line for the child: the user's bench arguments without `--link SPEC`.
/// Fails if they name their own server (`--connect`, `--chat`), which `--link` provides.
pub fn child_args(args: impl IntoIterator<Item = String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--link" {
            it.next();
        } else if a.starts_with("--link=") {
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

/// An echo server and a chat room (TCP and UDP each) on the lab's host address, until
/// `stop`: their addresses.
pub async fn host_servers(lab: &Lab, stop: &CancellationToken) -> Result<(SocketAddr, SocketAddr)> {
    let host = SocketAddr::from((lab.host_addr(), 0));
    let both = [Proto::Tcp, Proto::Udp];
    let echo = echo::Server::bind(host, &both, Default::default())
        .await
        .context("echo server on the lab's host side")?;
    let echo_addr = echo.local_addr();
    tokio::spawn(echo.run(stop.clone()));
    let room = chat::Server::bind(host, &both, Default::default())
        .await
        .context("chat server on the lab's host side")?;
    let chat_addr = room.local_addr();
    tokio::spawn(room.run(stop.clone()));
    Ok((echo_addr, chat_addr))
}

/// Run the bench across `link`; `args` are the bench's own arguments (after `bench`).
/// Returns the child's exit code.
pub async fn run(link: &str, args: Vec<String>) -> Result<i32> {
    let cfg = LabConfig::parse(link, None, None)?;
    let mut forwarded = child_args(args)?;
    let json = forwarded.iter().any(|a| a == "--json");
    let lab = Lab::start(&cfg)?;
    let stop = CancellationToken::new();
    let (echo_addr, chat_addr) = host_servers(&lab, &stop).await?;

    forwarded.extend([
        "--connect".to_string(),
        echo_addr.to_string(),
        "--chat".to_string(),
        chat_addr.to_string(),
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
        println!("nettool bench {banner}");
    }
    let mut cmd = tokio::process::Command::from(lab.command(&exe.to_string_lossy(), &argv));
    let status = cmd.kill_on_drop(true).status().await;
    stop.cancel();
    let counts = lab.stop();
    if json {
        eprint!("{counts}");
    } else {
        print!("{counts}");
    }
    Ok(crate::lab::run::exit_code(
        status.context("running the bench inside the lab")?,
    ))
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
        assert!(child_args(v(&["--link", "x", "--connect", "h"])).is_err());
        assert!(child_args(v(&["--chat=h:1"])).is_err());
    }
}
