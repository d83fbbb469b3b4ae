//! `nettool chat`: its flags, and their conversion into the chat server's and client's
//! configs.

use super::{coalesce_window, duration, parse_size, Dur, ProtoArg, SecureArgs, SlowArg};
use anyhow::Result;
use clap::Args;
use nettool::chat::{self, client::ClientConfig, room};
use nettool::tcp::{self, SlowPolicy};
use nettool::udp::{self, budget::Rate};
use nettool::wire::{binary, text};
use std::net::SocketAddr;

#[derive(Args)]
pub struct ChatArgs {
    /// Address to serve on (-l) or connect to: HOST:PORT, HOST or PORT [default: 127.0.0.1:7070]
    pub addr: Option<String>,
    /// Serve a room instead of joining one.
    #[arg(short, long)]
    pub listen: bool,
    /// `both` serves TCP and UDP on one port; `all` TCP, UDP and QUIC, QUIC on the next
    /// port number since it cannot share plain UDP's (-l only: a client speaks one
    /// protocol). The start-up line says which port each uses.
    #[arg(
        long,
        value_enum,
        default_value = "tcp",
        requires_if("both", "listen"),
        requires_if("all", "listen")
    )]
    pub proto: ProtoArg,
    #[command(flatten)]
    pub secure: SecureArgs,
    /// Client, QUIC: chat lines as DATAGRAM frames (unreliable, loss counted per sender as
    /// over UDP) instead of a stream per sender.
    #[arg(long)]
    pub quic_datagrams: bool,
    /// Server, QUIC: serve clients without validating their address first (a Retry
    /// round trip; on by default).
    #[arg(long, requires = "listen")]
    pub no_retry: bool,
    /// Client: the nickname to ask for.
    #[arg(long)]
    pub nick: Option<String>,
    /// Print results (client `/stats` on exit) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Server: threads to run on. 1 (the default) serves everyone from one thread, the
    /// least CPU per message; more spread the members' writes over that many threads,
    /// which shortens a large room's broadcast where cores are free, at some CPU per
    /// message.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256), requires = "listen")]
    pub threads: u16,
    #[command(flatten)]
    pub limits: ChatLimits,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `--cluster`: one room across servers over NATS (see docs/cluster.md). Credentials come
/// from the environment (NETTOOL_NATS_USER and NETTOOL_NATS_PASSWORD, or
/// NETTOOL_NATS_TOKEN), never the command line; NETTOOL_NATS_CA names CA certificates
/// for a tls:// broker.
#[derive(Args)]
pub struct ClusterArgs {
    /// Server: join the room across servers on this NATS broker, nats://HOST:PORT (or
    /// tls://HOST:PORT). Without it the room is this server's alone and no broker is used.
    #[arg(long, value_name = "URL", requires = "listen")]
    pub cluster: Option<String>,
    /// With --cluster: the room's name on the bus.
    #[arg(long, value_name = "NAME", requires = "cluster", default_value = nettool::cluster::DEFAULT_ROOM)]
    pub room: String,
    /// With --cluster: this server's name, unique on the bus, shown in /who
    /// [default: the address it serves on].
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub name: Option<String>,
}

impl ClusterArgs {
    /// The cluster config for a server bound at `addr`, if --cluster was given.
    pub fn config(&self, addr: SocketAddr) -> Result<Option<nettool::cluster::ClusterConfig>> {
        use nettool::cluster::{Auth, ClusterConfig};
        let Some(url) = &self.cluster else {
            return Ok(None);
        };
        let name = self.name.clone().unwrap_or_else(|| addr.to_string());
        if name.is_empty() || name.len() > 64 || name.contains(char::is_whitespace) {
            anyhow::bail!("--name {name:?}: use 1 to 64 characters, no spaces");
        }
        Ok(Some(ClusterConfig {
            url: url.clone(),
            room: self.room.clone(),
            name,
            auth: Auth::from_env().map_err(anyhow::Error::msg)?,
            ca: std::env::var_os(nettool::cluster::link::CA_ENV).map(Into::into),
        }))
    }
}

#[derive(Args)]
pub struct ChatLimits {
    /// Members per room at most (TCP and UDP together).
    #[arg(long, default_value_t = room::DEFAULT_MAX_MEMBERS)]
    max_members: usize,
    /// TCP connections at most (including ones not yet joined); QUIC's too.
    #[arg(long, default_value_t = tcp::DEFAULT_MAX_CONNS)]
    pub max_conns: usize,
    /// UDP members at most.
    #[arg(long, default_value_t = udp::DEFAULT_MAX_PEERS)]
    max_udp: usize,
    /// Longest chat line (bytes).
    #[arg(long, default_value_t = room::DEFAULT_MAX_TEXT)]
    max_text: usize,
    /// Longest text-protocol line (bytes).
    #[arg(long, default_value_t = text::DEFAULT_MAX_LINE)]
    max_line: usize,
    /// Largest binary TCP frame (bytes).
    #[arg(long, default_value_t = binary::DEFAULT_MAX_FRAME)]
    max_frame: usize,
    /// Largest UDP datagram (bytes).
    #[arg(long, default_value_t = binary::DEFAULT_MAX_DATAGRAM)]
    max_datagram: usize,
    /// Messages queued per TCP member before it is too slow (see --slow).
    #[arg(long, default_value_t = tcp::DEFAULT_QUEUE)]
    queue: usize,
    /// Bytes queued per TCP member before it is too slow (see --slow).
    #[arg(long, default_value_t = tcp::DEFAULT_QUEUE_BYTES)]
    queue_bytes: usize,
    /// A TCP member whose queue is full: disconnect it ("too slow"), or drop its oldest
    /// queued messages and tell it how many it missed.
    #[arg(long, value_enum, default_value_t = SlowPolicy::default().into())]
    slow: SlowArg,
    /// TCP: kernel send buffer per member (SO_SNDBUF), e.g. 64K [default: kernel autotuning].
    #[arg(long, value_parser = parse_size)]
    sndbuf: Option<usize>,
    /// TCP: an optional coalescing window. By default (0) the room batches by rounds of
    /// work: what one round produced leaves in one write per member, with no timer. With
    /// a window, a member written to less than this long ago also waits for the rest of
    /// it (fewer writes, more latency; see docs/fanout.md). Timers tick in milliseconds;
    /// at most 1s.
    #[arg(long, value_parser = coalesce_window, default_value_t = tcp::writer::DEFAULT_COALESCE.into())]
    coalesce: Dur,
    /// TCP: a nettool handshake, or a text peer's first line once begun, must complete
    /// within this long.
    #[arg(long, value_parser = duration, default_value_t = tcp::DEFAULT_HANDSHAKE_TIMEOUT.into())]
    handshake_timeout: Dur,
    /// TCP: how long a silent new connection is waited for before it is taken for a text
    /// peer that listens first (and welcomed). A nettool client's preamble must come
    /// within it: raise it on a path whose round trip comes near it.
    #[arg(long, value_parser = duration, default_value_t = tcp::DEFAULT_DETECT.into())]
    detect: Dur,
    /// TCP: a peer holding an incomplete line or frame this long is disconnected.
    #[arg(long, value_parser = duration, default_value_t = tcp::DEFAULT_LINE_TIMEOUT.into())]
    line_timeout: Dur,
    /// UDP members silent this long are dropped (clients send keepalives at a third of
    /// it); QUIC connections too (QUIC keep-alives).
    #[arg(long, value_parser = duration, default_value_t = udp::DEFAULT_IDLE_TIMEOUT.into())]
    idle_timeout: Dur,
    /// Messages per second each UDP member may send; more are dropped (0: unlimited).
    #[arg(long, default_value_t = udp::DEFAULT_RATE)]
    udp_rate: u32,
    /// Messages a UDP member may send at once above --udp-rate.
    #[arg(long, default_value_t = udp::DEFAULT_BURST)]
    udp_burst: u32,
}

impl From<&ChatLimits> for chat::ServerConfig {
    fn from(l: &ChatLimits) -> Self {
        chat::ServerConfig {
            quic: nettool::quic::QuicConfig {
                max_conns: l.max_conns,
                max_frame: l.max_frame,
                queue: tcp::writer::QueueLimits {
                    messages: l.queue,
                    bytes: l.queue_bytes,
                    policy: l.slow.into(),
                },
                idle_timeout: *l.idle_timeout,
                handshake_timeout: *l.handshake_timeout,
                ..Default::default()
            },
            identity: None,
            kx: Default::default(),
            room: room::RoomConfig {
                max_members: l.max_members,
                max_text: l.max_text,
                // Two keepalives may be lost before a member counts as gone.
                keepalive: *l.idle_timeout / 3,
                ..Default::default()
            },
            tcp: tcp::TcpConfig {
                max_conns: l.max_conns,
                max_line: l.max_line,
                max_frame: l.max_frame,
                queue: l.queue,
                queue_bytes: l.queue_bytes,
                slow: l.slow.into(),
                sndbuf: l.sndbuf,
                coalesce: *l.coalesce,
                detect: *l.detect,
                handshake_timeout: *l.handshake_timeout,
                line_timeout: *l.line_timeout,
                ..Default::default()
            },
            udp: udp::UdpConfig {
                max_datagram: l.max_datagram,
                max_peers: l.max_udp.min(l.max_members),
                idle_timeout: *l.idle_timeout,
                rate: Rate::new(l.udp_rate, l.udp_burst),
                ..Default::default()
            },
        }
    }
}

impl ChatArgs {
    /// The client's config, to join the room at `addr`.
    pub fn client_config(&self, addr: SocketAddr) -> Result<ClientConfig> {
        let l = &self.limits;
        Ok(ClientConfig {
            addr,
            proto: self.proto.single(self.secure.tls)?,
            trust: self.secure.trust()?,
            kx: self.secure.kx(),
            datagrams: self.quic_datagrams,
            nick: self.nick.clone(),
            max_line: l.max_line,
            max_frame: l.max_frame,
            max_datagram: l.max_datagram,
            json: self.json,
            ..Default::default()
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
        let cli = Cli::try_parse_from(["nettool", "chat", "-l"]).unwrap();
        let Cmd::Chat(a) = cli.cmd else {
            panic!("not chat")
        };
        let cfg = chat::ServerConfig::from(&a.limits);
        let def = chat::ServerConfig::default();
        assert_eq!(cfg.room.max_members, def.room.max_members);
        assert_eq!(cfg.room.max_text, def.room.max_text);
        assert_eq!(cfg.room.keepalive, def.room.keepalive);
        assert_eq!(cfg.tcp.max_conns, def.tcp.max_conns);
        assert_eq!(cfg.tcp.max_line, def.tcp.max_line);
        assert_eq!(cfg.tcp.max_frame, def.tcp.max_frame);
        assert_eq!(cfg.tcp.queue, def.tcp.queue);
        assert_eq!(cfg.tcp.queue_bytes, def.tcp.queue_bytes);
        assert_eq!(cfg.tcp.slow, def.tcp.slow);
        assert_eq!(cfg.tcp.sndbuf, def.tcp.sndbuf);
        assert_eq!(cfg.tcp.coalesce, def.tcp.coalesce);
        let long = Cli::try_parse_from(["nettool", "chat", "-l", "--coalesce", "2s"]);
        let err = long.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("2s: at most 1s"), "{err}");
        assert_eq!(cfg.tcp.detect, def.tcp.detect);
        assert_eq!(cfg.tcp.handshake_timeout, def.tcp.handshake_timeout);
        assert_eq!(cfg.tcp.line_timeout, def.tcp.line_timeout);
        assert_eq!(cfg.udp.max_datagram, def.udp.max_datagram);
        assert_eq!(cfg.udp.max_peers, def.udp.max_peers);
        assert_eq!(cfg.udp.idle_timeout, def.udp.idle_timeout);
        assert_eq!(cfg.udp.rate, def.udp.rate);

        let cli = Cli::try_parse_from(["nettool", "chat"]).unwrap();
        let Cmd::Chat(a) = cli.cmd else {
            panic!("not chat")
        };
        let def = ClientConfig::default();
        let cfg = a.client_config(def.addr).unwrap();
        assert_eq!(cfg.proto, def.proto);
        assert_eq!(cfg.max_line, def.max_line);
        assert_eq!(cfg.max_frame, def.max_frame);
        assert_eq!(cfg.max_datagram, def.max_datagram);
    }

    #[test]
    fn threads_are_a_servers_and_at_least_one() {
        let threads = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.cmd.server_threads());
        assert_eq!(threads(&["nettool", "chat", "-l"]).ok(), Some(Some(1)));
        assert_eq!(
            threads(&["nettool", "chat", "-l", "--threads", "4"]).ok(),
            Some(Some(4))
        );
        assert_eq!(
            threads(&["nettool", "echo", "-l", "--threads", "2"]).ok(),
            Some(Some(2))
        );
        assert_eq!(threads(&["nettool", "chat"]).ok(), Some(None));
        let err = |args: &[&str]| {
            threads(args)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(&["nettool", "chat", "--threads", "2"]).contains("--listen"));
        assert!(err(&["nettool", "echo", "--threads", "2"]).contains("--listen"));
        assert!(err(&["nettool", "chat", "-l", "--threads", "0"]).contains("0 is not in 1..=256"));
    }
}
