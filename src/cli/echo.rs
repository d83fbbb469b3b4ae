//! `nettool echo`: its flags, and their conversion into the echo server's and the ping
//! client's configs.

use super::{duration, Dur, ProtoArg, SecureArgs};
use anyhow::{bail, Result};
use clap::Args;
use nettool::echo::{self, client as ping};
use nettool::udp::budget::Rate;
use nettool::wire::Proto;
use std::net::SocketAddr;

#[derive(Args)]
pub struct EchoArgs {
    /// Address to serve on (-l) or ping: HOST:PORT, HOST or PORT [default: 127.0.0.1:7007]
    pub addr: Option<String>,
    /// Serve instead of ping.
    #[arg(short, long)]
    pub listen: bool,
    /// Server default: both; client default: tcp (`both` and `all` are for -l only; `all`
    /// serves TCP and UDP on the port, TLS and QUIC on the next, as they cannot share
    /// plain TCP's and UDP's).
    #[arg(
        long,
        value_enum,
        requires_if("both", "listen"),
        requires_if("all", "listen")
    )]
    proto: Option<ProtoArg>,
    #[command(flatten)]
    pub secure: SecureArgs,
    /// Client, QUIC: ping with DATAGRAM frames instead of on a stream.
    #[arg(long)]
    quic_datagrams: bool,
    /// Client: pings to send.
    #[arg(short, long, default_value_t = ping::DEFAULT_COUNT)]
    count: u64,
    /// Client: payload bytes per ping.
    #[arg(short, long, default_value_t = ping::DEFAULT_SIZE)]
    size: usize,
    /// Client: time between pings (e.g. 0.2, 200ms).
    #[arg(short, long, value_parser = duration, default_value_t = ping::DEFAULT_INTERVAL.into())]
    interval: Dur,
    /// Client: how long to wait for each reply before counting it lost.
    #[arg(short = 'W', long, value_parser = duration, default_value_t = ping::DEFAULT_TIMEOUT.into())]
    timeout: Dur,
    /// Client: print the summary as JSON (per-reply lines are then not printed).
    #[arg(long)]
    pub json: bool,
    /// Server: threads to run on. 1 (the default) serves everyone from one thread, the
    /// least CPU per message; more serve many connections at once where cores are free
    /// (each connection's work stays on one thread at a time).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256), requires = "listen")]
    pub threads: u16,
    /// Largest UDP datagram the server answers (bytes).
    #[arg(long, default_value_t = echo::DEFAULT_MAX_DATAGRAM)]
    max_datagram: usize,
    /// TCP connections the server serves at once.
    #[arg(long, default_value_t = echo::DEFAULT_MAX_CONNS)]
    max_conns: usize,
    /// Server: UDP datagrams answered per second per source address; more are dropped
    /// (0: unlimited).
    #[arg(long, default_value_t = echo::DEFAULT_UDP_RATE)]
    udp_rate: u32,
    /// Server: datagrams a source may get answered at once above --udp-rate.
    #[arg(long, default_value_t = echo::DEFAULT_UDP_BURST)]
    udp_burst: u32,
}

impl EchoArgs {
    /// The protocols a server serves.
    pub fn server_protos(&self) -> Vec<Proto> {
        match self.proto.unwrap_or(ProtoArg::Both) {
            // Every protocol: TCP and UDP on the port, TLS and QUIC on the next (what
            // `nettool bench --connect` measures).
            ProtoArg::All if !self.secure.tls => nettool::bench::suite::ECHO_PROTOS.to_vec(),
            p => p.protos(self.secure.tls),
        }
    }

    /// The server's config.
    pub fn server_config(&self) -> echo::ServerConfig {
        echo::ServerConfig {
            max_datagram: self.max_datagram,
            max_conns: self.max_conns,
            udp_rate: Rate::new(self.udp_rate, self.udp_burst),
            ..Default::default()
        }
    }

    /// The client's config, to ping `addr`.
    pub fn ping_config(&self, addr: SocketAddr) -> Result<echo::PingConfig> {
        let proto = self
            .proto
            .unwrap_or(ProtoArg::Tcp)
            .single(self.secure.tls)?;
        if self.size == 0 || self.size > echo::MAX_PING_SIZE {
            bail!("--size must be 1..={} bytes", echo::MAX_PING_SIZE);
        }
        Ok(echo::PingConfig {
            addr,
            proto,
            count: self.count,
            size: self.size,
            interval: *self.interval,
            timeout: *self.timeout,
            secure: self.secure.client_options()?,
            datagrams: self.quic_datagrams,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_are_the_library_defaults() {
        let cli = Cli::try_parse_from(["nettool", "echo", "-l"]).unwrap();
        let Cmd::Echo(a) = cli.cmd else {
            panic!("not echo")
        };
        let cfg = a.server_config();
        let def = echo::ServerConfig::default();
        assert_eq!(cfg.max_datagram, def.max_datagram);
        assert_eq!(cfg.max_conns, def.max_conns);
        assert_eq!(cfg.udp_rate, def.udp_rate);
        assert_eq!(a.server_protos(), vec![Proto::Tcp, Proto::Udp]);
    }

    #[test]
    fn size_error_names_the_flag() {
        let cli = Cli::try_parse_from(["nettool", "echo", "--size", "0"]).unwrap();
        let Cmd::Echo(a) = cli.cmd else {
            panic!("not echo")
        };
        let e = a.ping_config("127.0.0.1:7".parse().unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "--size must be 1..=65507 bytes");
    }
}
