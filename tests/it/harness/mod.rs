//! In-process test harness: a chat server on `127.0.0.1:0`, nettool members speaking the
//! binary protocol through the library's own client connection, and raw text peers (what
//! netcat does) over TCP and UDP; every one a [`Peer`]. Every wait is for an event,
//! bounded by [`WAIT`].
//!
//! | module | owns |
//! | --- | --- |
//! | [`peer`] | the [`Peer`] trait: send a line, expect a line, wait for one |
//! | [`per_proto`] | tests written once and run per protocol |
//! | [`raw`] | raw TCP and UDP text peers, a raw binary TCP peer |
//! | [`load_events`] | the fault and soak tests' settings for the library's load generator |
//! | [`skip`] | the one skip policy: a missing prerequisite fails under CI, skips visibly elsewhere |

pub mod load_events;
pub mod peer;
pub mod per_proto;
pub mod raw;
pub mod skip;

pub use peer::{challenge_code, Peer};
pub(crate) use per_proto::per_proto;
pub use raw::{raw_binary, reset, TcpText, UdpText};

use futures_util::{SinkExt, StreamExt};
use nettool::cert::{Identity, Trust};
use nettool::chat::client::{self, ClientConfig, Conn, Incoming};
use nettool::chat::room::RoomStats;
use nettool::chat::{Server, ServerConfig};
use nettool::wire::{now_us, text, ClientMsg, Proto, ServerMsg};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// The longest any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// The certificate every in-process test server of this run serves over TLS and QUIC.
pub fn test_identity() -> Arc<Identity> {
    static ID: OnceLock<Arc<Identity>> = OnceLock::new();
    ID.get_or_init(|| Arc::new(Identity::ephemeral().expect("a certificate")))
        .clone()
}

/// What a test member trusts: the test certificate, pinned.
pub fn test_trust() -> Trust {
    Trust::Pin(test_identity().fingerprint.clone())
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Each protocol's address (QUIC and TLS have ports of their own beside UDP and TCP).
    pub bound: Vec<(Proto, SocketAddr)>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<std::io::Result<RoomStats>>,
}

impl TestServer {
    pub async fn start(protos: &[Proto], mut cfg: ServerConfig) -> TestServer {
        if cfg.identity.is_none() {
            cfg.identity = Some(test_identity());
        }
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), protos, cfg)
            .await
            .expect("bind");
        let addr = server.local_addr();
        let bound = server.bound();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        TestServer {
            addr,
            bound,
            shutdown,
            task,
        }
    }

    /// Where `proto` is served.
    pub fn addr_of(&self, proto: Proto) -> SocketAddr {
        self.bound
            .iter()
            .find(|(p, _)| *p == proto)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("not serving {proto}"))
    }

    /// Cancel and wait for the server to finish; its room counters.
    pub async fn stop(self) -> RoomStats {
        self.shutdown.cancel();
        timeout(WAIT * 2, self.task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server result")
    }
}

/// A nettool member speaking the binary protocol.
pub struct Member {
    pub conn: Conn,
    pub nick: String,
    seq: u64,
}

impl Member {
    /// alice and bob in one room, alice having seen bob join.
    pub async fn pair(addr: SocketAddr, proto: Proto) -> (Member, Member) {
        let mut alice = Member::join(addr, proto, "alice").await;
        let bob = Member::join(addr, proto, "bob").await;
        alice.expect(&format!("* bob joined ({proto})")).await;
        (alice, bob)
    }

    /// Connect and wait for the `Welcome`.
    pub async fn join(addr: SocketAddr, proto: Proto, nick: &str) -> Member {
        let cfg = ClientConfig {
            addr,
            proto,
            nick: Some(nick.to_string()),
            trust: test_trust(),
            ..Default::default()
        };
        let conn = timeout(WAIT, client::connect(&cfg))
            .await
            .expect("connect in time")
            .expect("connect");
        assert_eq!(conn.mode, client::Mode::Binary, "server speaks nettool");
        let mut m = Member {
            conn,
            nick: String::new(),
            seq: 0,
        };
        let welcome = m.next_msg(|m| matches!(m, ServerMsg::Welcome { .. })).await;
        if let ServerMsg::Welcome { nick, .. } = welcome {
            m.nick = nick;
        }
        m
    }

    pub async fn send(&mut self, msg: ClientMsg) {
        self.conn.tx.send(msg).await.expect("send");
    }

    pub async fn say(&mut self, text: &str) {
        self.seq += 1;
        let msg = ClientMsg::Say {
            seq: self.seq,
            sent_us: now_us(),
            text: text.to_string(),
        };
        self.send(msg).await;
    }

    /// The next server message for which `want` holds, skipping others; pings the server
    /// every 100 ms meanwhile (a UDP member's keepalive).
    pub async fn next_msg(&mut self, want: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        let deadline = Instant::now() + WAIT;
        match self.next_msg_before(deadline, want).await {
            Ok(m) => m,
            Err(why) => panic!("{}: {why}", self.nick),
        }
    }

    /// [`Member::next_msg`], until `deadline`; otherwise why not, with what was seen.
    async fn next_msg_before(
        &mut self,
        deadline: Instant,
        want: impl Fn(&ServerMsg) -> bool,
    ) -> Result<ServerMsg, String> {
        let mut seen = Vec::new();
        loop {
            let step = timeout(Duration::from_millis(100), self.conn.rx.next()).await;
            match step {
                Ok(Some(Ok(Incoming::Msg(m)))) if want(&m) => return Ok(m),
                Ok(Some(Ok(other))) => seen.push(format!("{other:?}")),
                Ok(Some(Err(e))) => return Err(format!("receive error {e}; seen {seen:#?}")),
                Ok(None) => return Err(format!("connection ended; seen {seen:#?}")),
                Err(_) => {
                    let _ = self.conn.tx.send(ClientMsg::Ping { t_us: 0 }).await;
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("timed out; seen {seen:#?}"));
            }
        }
    }
}

/// A member's lines are what a person would see: each message rendered as text,
/// keepalive answers (`Pong`) skipped. Its lines out are chat (`Say`).
impl Peer for Member {
    fn name(&self) -> &str {
        &self.nick
    }

    fn wait(&self) -> Duration {
        WAIT
    }

    async fn send_line(&mut self, line: &str) {
        self.say(line).await;
    }

    async fn next_line(&mut self, deadline: Instant) -> Result<String, String> {
        let msg = self
            .next_msg_before(deadline, |m| !matches!(m, ServerMsg::Pong { .. }))
            .await?;
        Ok(text::render(&msg).unwrap_or_default())
    }
}

/// A number from the environment variable `name`, or `default`.
pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Prove `m` did not receive anything between what it already read and a sentinel that
/// `sender` says now: its next chat line must be the sentinel.
pub async fn assert_nothing_before_sentinel(m: &mut Member, sender: &mut Member) {
    sender.say("-- sentinel --").await;
    let line = m.line().await;
    assert_eq!(line, format!("{}: -- sentinel --", sender.nick));
}
