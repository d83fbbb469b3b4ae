//! The command line: clap's definition of every subcommand and flag, and the conversions
//! from parsed arguments into the library's configs. Defaults are the library's
//! `DEFAULT_*` constants, so each is written once, beside the config it belongs to.
//! Shell completions and the man page are generated from this same definition.

mod bench;
mod chat;
mod docs;
mod echo;
mod lab;
mod secure;

pub use bench::BenchArgs;
pub use chat::ChatArgs;
pub use docs::{completions, man, print, write_man_pages, CompletionsArgs, ManArgs};
pub use echo::EchoArgs;
pub use lab::{LabArgs, PcapArgs};
pub use secure::SecureArgs;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};
use nettool::addr::parse_duration;
use nettool::tcp::SlowPolicy;
use nettool::wire::Proto;

#[derive(Parser)]
#[command(
    name = "nettool",
    version,
    about = "Chat and echo over TCP and UDP, side by side"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Chat room: serve one with -l, otherwise join one (stdin lines out, room lines in).
    Chat(ChatArgs),
    /// RFC 862 echo: serve with -l, otherwise ping a server and summarise.
    Echo(EchoArgs),
    /// TCP vs UDP on loopback (or against `nettool echo -l` with --connect): round trip,
    /// stream, setup cost, chat fan-out; a side-by-side table.
    Bench(BenchArgs),
    /// Run a command behind an emulated impaired link (root: TUN + a network namespace).
    Lab(LabArgs),
    /// Print a shell completion script to stdout (e.g. `nettool completions bash`).
    Completions(CompletionsArgs),
    /// Print a man page (roff) to stdout (e.g. `nettool man chat | man -l -`), or write
    /// them all into a directory.
    Man(ManArgs),
}

impl Cmd {
    /// The threads a serving command runs on (`--threads`, one by default: see `main`);
    /// `None` for the commands that do not serve.
    pub fn server_threads(&self) -> Option<usize> {
        match self {
            Cmd::Chat(a) if a.listen => Some(a.threads.into()),
            Cmd::Echo(a) if a.listen => Some(a.threads.into()),
            _ => None,
        }
    }
}

/// `--proto`. QUIC runs over UDP and cannot share plain UDP's port: served beside it,
/// it takes the next port number (as TLS does beside plain TCP).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    Tcp,
    Udp,
    /// QUIC (its own UDP port beside plain UDP: the next one).
    Quic,
    /// TCP with TLS (the same as `tcp --tls`).
    Tls,
    /// TCP and UDP on one port number.
    Both,
    /// TCP and UDP on one port number, QUIC on the next.
    All,
}

impl ProtoArg {
    /// The protocols served; `tls`: TCP is TCP with TLS.
    pub fn protos(self, tls: bool) -> Vec<Proto> {
        let tcp = if tls { Proto::Tls } else { Proto::Tcp };
        match self {
            ProtoArg::Tcp => vec![tcp],
            ProtoArg::Udp => vec![Proto::Udp],
            ProtoArg::Quic => vec![Proto::Quic],
            ProtoArg::Tls => vec![Proto::Tls],
            ProtoArg::Both => vec![tcp, Proto::Udp],
            ProtoArg::All => vec![tcp, Proto::Udp, Proto::Quic],
        }
    }

    /// The one protocol a client uses.
    pub fn single(self, tls: bool) -> Result<Proto> {
        match self.protos(tls).as_slice() {
            [one] => Ok(*one),
            _ => bail!("a client speaks one protocol: --proto tcp, udp, quic or tls"),
        }
    }
}

/// [`SlowPolicy`] on the command line (the library does not depend on clap).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SlowArg {
    /// Refuse the message: the room drops the peer as too slow.
    Disconnect,
    /// Discard the oldest queued message, count it, and tell the peer how many it missed.
    DropOldest,
}

// Both ways, so that a variant added on either side fails to compile here.
impl From<SlowArg> for SlowPolicy {
    fn from(a: SlowArg) -> Self {
        match a {
            SlowArg::Disconnect => SlowPolicy::Disconnect,
            SlowArg::DropOldest => SlowPolicy::DropOldest,
        }
    }
}

impl From<SlowPolicy> for SlowArg {
    fn from(p: SlowPolicy) -> Self {
        match p {
            SlowPolicy::Disconnect => SlowArg::Disconnect,
            SlowPolicy::DropOldest => SlowArg::DropOldest,
        }
    }
}

/// A duration flag: parsed by [`parse_duration`] (a bare number is seconds), shown in
/// `--help` as humantime (`10s`).
type Dur = humantime::Duration;

fn duration(s: &str) -> Result<Dur, String> {
    parse_duration(s).map(Dur::from)
}

/// A `--coalesce` window (chat server, and the bench's fan-out server): a duration of at
/// most [`MAX_COALESCE`] (a longer one would hold a quiet room's lines back for that long).
fn coalesce_window(s: &str) -> Result<Dur, String> {
    let d = duration(s)?;
    if *d > MAX_COALESCE {
        return Err(format!("{s}: at most {}", Dur::from(MAX_COALESCE)));
    }
    Ok(d)
}

/// The longest `--coalesce` accepted.
const MAX_COALESCE: std::time::Duration = std::time::Duration::from_secs(1);

/// A byte count with an optional K, M or G suffix (powers of 1024).
fn parse_size(s: &str) -> Result<usize, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1 << 10),
        Some('m' | 'M') => (&s[..s.len() - 1], 1 << 20),
        Some('g' | 'G') => (&s[..s.len() - 1], 1 << 30),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn slow_policy_mirrors_the_library() {
        for &s in SlowArg::value_variants() {
            assert!(SlowArg::from(SlowPolicy::from(s)) == s);
        }
    }

    #[test]
    fn sizes_and_rates() {
        assert_eq!(parse_size("64K"), Ok(65_536));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_rate("100M"), Ok(100_000_000));
        assert_eq!(parse_rate("1.5k"), Ok(1500));
        assert!(parse_rate("-1").is_err());
    }
}
