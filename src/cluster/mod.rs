//! One room across several servers over NATS (`nettool chat -l --cluster nats://…`).
//!
//! The bus is one more source of the room's events, written beside the transports and
//! reaching the room only through the seam ([`crate::transport`]): the cluster task
//! attaches a *relay* to the room ([`Event::Relay`]) and brings in the members of the
//! other servers ([`Event::Remote`], then their lines and renames as `Message`, their
//! departures as `Left`). The room hands the relay each line said here and each arrival,
//! rename and departure here, once, and the relay's sink ([`outbox`]) publishes what one
//! round of the room produced as **one** NATS message on `nettool.chat.ROOM`, flushed
//! with the round: no timer, no wake-up per line. Every server subscribes to the
//! subject with `no_echo`, so it never hears its own publications, and turns the
//! others' into events for its room ([`others`]), which delivers them to its members as
//! it delivers their own: the same lines, the same binary `Chat` with the original
//! sender's sequence number and send time.
//!
//! | module | owns |
//! | --- | --- |
//! | [`bus`] | the publications: a header frame, then the room's own message frames |
//! | [`outbox`] | the relay's sink: one publication per round, this server's member list |
//! | [`others`] | the other servers: their members, heartbeats and expiry, rosters, gaps |
//! | [`link`] | URL, credentials from the environment, connection options, one-line errors |
//!
//! **Faults.** The broker unreachable at start is not fatal: the server serves its own
//! members and the client keeps trying. A lost link tells every member here once
//! ([`LINK_LOST`]) and once more when it is back ([`LINK_BACK`], with how many lines
//! said here the others never got). Lines said while the link is down are **lost, not
//! delivered late**: they are counted and dropped, because by the time the link is back
//! the other servers have been told our members were gone (after [`EXPIRY`]), and lines
//! from members a room was told had left, out of order with what was said meanwhile, are
//! worse than a counted gap. (Publications already handed to the client when the link
//! broke may still go out when it reconnects; receivers number every publication and
//! count those that never arrive.) A server that stops publishing is gone after
//! [`EXPIRY`] without a heartbeat (one each [`HEARTBEAT`]), checked each [`SWEEP`]: its
//! members leave within `EXPIRY + SWEEP` of its last heartbeat.

pub mod bus;
pub mod link;
pub mod others;
pub mod outbox;

pub use link::{check_url, Auth};

use crate::transport::{Event, EventTx, PeerId};
use async_nats::Client;
use futures_util::{FutureExt, StreamExt};
use outbox::{Counters, Outbox, RelaySink};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often a server says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A server not heard for this long is gone.
pub const EXPIRY: Duration = Duration::from_secs(3);
/// How often silent servers are looked for.
pub const SWEEP: Duration = Duration::from_millis(250);
/// The notice every member here gets when the link to the broker is lost.
pub const LINK_LOST: &str = "cluster link lost: members on other servers cannot hear you";
/// The start of the notice every member here gets when it is back.
pub const LINK_BACK: &str = "cluster link restored: the room is whole again";
/// The room given by default.
pub const DEFAULT_ROOM: &str = "main";

/// How a server joins a room on the bus.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The broker, `nats://HOST:PORT` or `tls://HOST:PORT`.
    pub url: String,
    /// The room's name (the subject is `nettool.chat.ROOM`).
    pub room: String,
    /// This server's name, unique on the bus (shown in `/who`).
    pub name: String,
    /// Credentials (from the environment).
    pub auth: Auth,
    /// CA certificates for a `tls://` broker (PEM file).
    pub ca: Option<PathBuf>,
}

/// A room name: 1 to 64 letters, digits, `_` or `-` (it is a NATS subject token).
pub fn check_room(room: &str) -> Result<(), String> {
    let ok = !room.is_empty()
        && room.len() <= 64
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid room name {room:?}: use 1 to 64 letters, digits, _ or -"
        ))
    }
}

/// A server's link to the room on the bus, connected (or still trying, when the broker
/// was unreachable at start) and not yet serving.
pub struct Cluster {
    cfg: ClusterConfig,
    client: Client,
    link: mpsc::Receiver<async_nats::Event>,
    up: bool,
}

impl Cluster {
    /// Connect to the broker. Refused credentials, a failed TLS handshake or a bad URL
    /// are errors (one line each); an unreachable broker is not: the server serves its
    /// own members and the client keeps trying (logged).
    pub async fn connect(cfg: ClusterConfig) -> Result<Cluster, String> {
        check_url(&cfg.url)?;
        check_room(&cfg.room)?;
        let (tx, link) = mpsc::channel(64);
        match link::options(&cfg, tx.clone())
            .connect(cfg.url.as_str())
            .await
        {
            Ok(client) => Ok(Cluster {
                cfg,
                client,
                link,
                up: true,
            }),
            Err(e) if link::transient(&e) => {
                tracing::warn!(
                    "cluster: {}; this server's members have the room to themselves until it answers",
                    link::explain(&cfg.url, &e)
                );
                let client = link::options(&cfg, tx)
                    .retry_on_initial_connect()
                    .connect(cfg.url.as_str())
                    .await
                    .map_err(|e| link::explain(&cfg.url, &e))?;
                Ok(Cluster {
                    cfg,
                    client,
                    link,
                    up: false,
                })
            }
            Err(e) => Err(link::explain(&cfg.url, &e)),
        }
    }

    /// The subject the room is published on.
    pub fn subject(&self) -> String {
        format!("nettool.chat.{}", self.cfg.room)
    }

    /// Serve the room's bus side, feeding `events`, until `shutdown`: then say goodbye
    /// on the bus and flush.
    pub async fn run(self, events: EventTx, shutdown: CancellationToken) -> std::io::Result<()> {
        let Cluster {
            cfg,
            client,
            mut link,
            up,
        } = self;
        let subject = format!("nettool.chat.{}", cfg.room);
        let mut sub = match client.subscribe(subject.clone()).await {
            Ok(s) => s,
            Err(e) => return Err(std::io::Error::other(format!("cluster: subscribe: {e}"))),
        };
        let boot = u64::from_le_bytes(rand_bytes());
        let (tx, rx) = mpsc::channel(outbox::PUBLISH_QUEUE);
        let outbox = Arc::new(Outbox::new(cfg.name.clone(), boot, tx));
        outbox.set_up(up);
        let via = PeerId::next();
        let relay = Event::Relay {
            peer: via,
            sink: Box::new(RelaySink(outbox.clone())),
        };
        if events.send(relay).await.is_err() {
            return Ok(());
        }
        let publisher = tokio::spawn(publish(client.clone(), subject, rx));
        let mut others = others::Others::new(cfg.name.clone(), boot, via);
        let mut gen = 0u64;
        if up {
            greet(&outbox, &mut gen);
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        let mut sweep = tokio::time::interval(SWEEP);
        let mut out = Vec::new();
        let mut lost_at_split = 0;
        let c = &outbox.counters;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                ev = link.recv() => match ev {
                    Some(async_nats::Event::Disconnected) if outbox.is_up() => {
                        outbox.set_up(false);
                        Counters::add(&c.splits, 1);
                        lost_at_split = Counters::get(&c.lost_split);
                        tracing::warn!("cluster: link to the broker lost; this server's members have the room to themselves until it is back");
                        out.push(Event::Notice(LINK_LOST.into()));
                    }
                    Some(async_nats::Event::Connected) if !outbox.is_up() => {
                        outbox.set_up(true);
                        others.link_restored(Instant::now());
                        let lost = Counters::get(&c.lost_split) - lost_at_split;
                        tracing::info!(lost_lines = lost, "cluster: link to the broker restored");
                        let note = match lost {
                            0 => LINK_BACK.to_string(),
                            1 => format!("{LINK_BACK} (1 line said here while it was split never reached the other servers)"),
                            n => format!("{LINK_BACK} ({n} lines said here while it was split never reached the other servers)"),
                        };
                        out.push(Event::Notice(note));
                        greet(&outbox, &mut gen);
                    }
                    Some(async_nats::Event::SlowConsumer(_)) => {
                        Counters::add(&c.slow_consumer, 1);
                        let n = Counters::get(&c.slow_consumer);
                        if n.is_power_of_two() {
                            tracing::warn!(events = n, "cluster: slow consumer: the client dropped publications this server read too slowly");
                        }
                    }
                    Some(async_nats::Event::ServerError(e)) => tracing::warn!(error = %e, "cluster: broker error"),
                    Some(async_nats::Event::ClientError(e)) => tracing::debug!(error = %e, "cluster: client error"),
                    Some(ev) => tracing::debug!(event = %ev, "cluster: link event"),
                    None => break,
                },
                msg = sub.next() => {
                    let Some(msg) = msg else { break };
                    // Every publication the client has already read goes to the room in
                    // one go: one round there, not one per publication.
                    let now = Instant::now();
                    let mut next = Some(msg);
                    let mut taken = 0;
                    while let Some(msg) = next.take() {
                        receive(&mut others, &outbox, &msg.payload, now, &mut gen, &mut out);
                        taken += 1;
                        if taken < DRAIN {
                            next = sub.next().now_or_never().flatten();
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    let members = outbox.members() as u32;
                    outbox.control(bus::Kind::Heartbeat { members });
                }
                _ = sweep.tick(), if outbox.is_up() => {
                    for name in others.expire(Instant::now(), EXPIRY, &mut out) {
                        tracing::warn!(server = %name, "cluster: server went silent; its members have left");
                    }
                }
            }
            for ev in out.drain(..) {
                if events.send(ev).await.is_err() {
                    break;
                }
            }
        }
        // Goodbye, so the others announce our members gone at once (not after EXPIRY);
        // with the link down there is nobody to tell, and no reason to wait.
        let up = outbox.is_up();
        outbox.control(bus::Kind::Bye);
        outbox.close();
        if up {
            let _ = tokio::time::timeout(Duration::from_secs(2), publisher).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
        }
        tracing::info!(
            published = Counters::get(&c.published),
            lines_out = Counters::get(&c.lines_out),
            received = Counters::get(&c.received),
            lines_in = Counters::get(&c.lines_in),
            missing = Counters::get(&c.missing),
            lost_split = Counters::get(&c.lost_split),
            lost_backlog = Counters::get(&c.lost_backlog),
            slow_consumer = Counters::get(&c.slow_consumer),
            splits = Counters::get(&c.splits),
            "cluster closed"
        );
        Ok(())
    }
}

/// Publications read off the subscription at most before their events go to the room.
const DRAIN: usize = 256;

/// One publication of another server: its events into `out`, and what it asks of us.
fn receive(
    others: &mut others::Others,
    outbox: &Outbox,
    payload: &bytes::Bytes,
    now: Instant,
    gen: &mut u64,
    out: &mut Vec<Event>,
) {
    match others.receive(payload, now, &outbox.counters, out) {
        Ok(todo) => {
            if todo.roster {
                *gen += 1;
                outbox.roster(*gen);
            }
            for of in todo.ask {
                outbox.control(bus::Kind::RosterPlease { of });
            }
        }
        Err(e) => tracing::warn!(error = %e, "cluster: a publication was refused"),
    }
}

/// Say who we are: our member list, and a request for everyone's.
fn greet(outbox: &Outbox, gen: &mut u64) {
    *gen += 1;
    outbox.roster(*gen);
    outbox.control(bus::Kind::RosterPlease { of: "*".into() });
}

/// The publishing task: what the outbox sealed, in order, to the client.
async fn publish(client: Client, subject: String, mut rx: mpsc::Receiver<bytes::Bytes>) {
    let subject: async_nats::Subject = subject.into();
    while let Some(p) = rx.recv().await {
        if let Err(e) = client.publish(subject.clone(), p).await {
            tracing::debug!(error = %e, "cluster: publish failed");
        }
    }
}

fn rand_bytes() -> [u8; 8] {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        let t = crate::wire::now_us() ^ u64::from(std::process::id());
        b = t.to_le_bytes();
    }
    b
}
