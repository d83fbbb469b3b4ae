//! The load generator: members of one chat room, each sending numbered chat lines on a
//! steady schedule and counting, per sender, every line it receives (gaps, reordering,
//! duplicates, latency). `nettool bench fanout` measures a window of it; the fault and
//! soak tests assert on its counts.
//!
//! - Members join through the library's client (`chat::client::connect`: binary, TCP or
//!   UDP, never hand-made handshakes), or in text mode as TCP line peers, for servers
//!   that are not nettool.
//! - Member `i` sends `rate` lines per second, its schedule shifted by `i / n` of a
//!   period so that the members do not send in lock-step; a schedule that falls behind
//!   skips lines instead of owing them.
//! - Member `i` is named `t{i}` (TCP) or `u{i}` (UDP), so a receiver knows each line's
//!   sender from its nickname; a text-mode line carries it: `nt IDX SEQ SENT_US TEXT`.
//! - What each member sent is read from shared counters: nothing is inferred from the
//!   stream that is checked.
//!
//! | module | owns |
//! | --- | --- |
//! | `member.rs` | joining, and the two halves of a member in either mode |
//! | `send.rs` | the sending side: schedule, flow window, keepalives, commands |
//! | `receive.rs` | the receiving side: per-sender counts, latency, notable messages |
//! | `report.rs` | what a finished load counted, and totals over it |

mod member;
mod receive;
mod report;
mod send;

pub use member::{nick_of, sender_index};
pub use receive::{FromSender, Tally};
pub use report::{Report, Totals};

use crate::wire::{ClientMsg, Proto, ServerMsg};
use anyhow::{anyhow, bail, Result};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// Hard bound on the drain after a stop.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// How long every sender may take to acknowledge a stop.
const STOP_WAIT: Duration = Duration::from_secs(10);
/// Text mode: how long the members may take to hear member 0's probe, and how often
/// it is said again (a text server sends no welcome to wait for).
const PROBE_WAIT: Duration = Duration::from_secs(10);
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// What to load a room with.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The chat server's address.
    pub addr: SocketAddr,
    /// A room across servers: member `i` joins `servers[i % len]` (`addr` when empty).
    pub servers: Vec<SocketAddr>,
    /// One member per entry: its protocol and the lines per second it sends (0: none).
    pub members: Vec<(Proto, f64)>,
    /// Joins at a time (in member order).
    pub parallel: usize,
    /// The text of every load line.
    pub text: String,
    /// Speak text lines over TCP instead of the binary protocol.
    pub text_mode: bool,
    /// Lines a sender may have in flight (sent, not yet seen by the next member); beyond
    /// it the schedule skips, so a saturated server shows as a lower rate rather than as
    /// seconds of queued lines. `None`: no limit.
    pub in_flight: Option<u64>,
    /// After a stop, a receiver ends once no chat line has arrived for this long.
    pub quiet: Duration,
    /// `true`: every line counts. `false`: only lines sent inside the window that
    /// [`Load::measure`] sets.
    pub count_from_start: bool,
    /// TLS and QUIC members: how the server's certificate is trusted.
    pub trust: crate::cert::Trust,
    /// TLS and QUIC members: the key exchange groups offered.
    pub kx: crate::cert::Kx,
    /// QUIC members: lines relayed as DATAGRAM frames.
    pub datagrams: bool,
}

impl LoadConfig {
    /// The server member `i` joins.
    pub fn addr_of(&self, i: usize) -> SocketAddr {
        match self.servers.len() {
            0 => self.addr,
            n => self.servers[i % n],
        }
    }

    /// `members` against `addr`: binary, 16 joins at a time, lines of "load", no flow
    /// window, 500 ms quiet, every line counted.
    pub fn new(addr: SocketAddr, members: Vec<(Proto, f64)>) -> LoadConfig {
        LoadConfig {
            addr,
            servers: Vec::new(),
            members,
            parallel: 16,
            text: "load".into(),
            text_mode: false,
            in_flight: None,
            quiet: Duration::from_millis(500),
            count_from_start: true,
            trust: crate::cert::Trust::default(),
            kx: crate::cert::Kx::default(),
            datagrams: false,
        }
    }
}

/// What a member is told to do besides its load.
enum Cmd {
    /// Say this, numbered like the load lines.
    Say(String),
    /// Send this message as it is (binary mode).
    Send(ClientMsg),
    /// Text mode: say `probe` (unnumbered).
    Probe,
}

/// Sent times `[from_us, to_us)` are measured.
struct Window {
    from_us: AtomicU64,
    to_us: AtomicU64,
}

impl Window {
    fn contains(&self, sent_us: u64) -> bool {
        sent_us >= self.from_us.load(Ordering::Relaxed)
            && sent_us < self.to_us.load(Ordering::Relaxed)
    }
}

/// State the members share with the load.
struct Shared {
    /// Lines said by each member (its last sequence number).
    sent: Vec<AtomicU64>,
    /// The highest sequence number of member `i` seen by member `i + 1` (its watcher).
    seen: Vec<AtomicU64>,
    /// Lines sent inside the window, all members together.
    sent_in_window: AtomicU64,
    send_errors: AtomicU64,
    window: Window,
    /// Text mode: members that have heard member 0's probe.
    heard_probe: AtomicU64,
    /// When the schedules began; set just before `start` is cancelled.
    start_at: OnceLock<Instant>,
    start: CancellationToken,
    stop_send: CancellationToken,
    stop_recv: CancellationToken,
    done: CancellationToken,
    events: mpsc::UnboundedSender<(usize, ServerMsg)>,
    /// One per sender once it has seen `stop_send` (its counts are final).
    stopped: mpsc::UnboundedSender<()>,
}

struct Member {
    nick: String,
    cmd: mpsc::UnboundedSender<Cmd>,
    send: JoinHandle<()>,
    recv: JoinHandle<Tally>,
}

/// A room full of load members.
pub struct Load {
    members: Vec<Member>,
    shared: Arc<Shared>,
    quiet: Duration,
    /// Notable messages, with the index of the member that got them: leaves, goodbyes,
    /// errors, `/who` answers, and chat lines other than load lines.
    pub events: mpsc::UnboundedReceiver<(usize, ServerMsg)>,
    stopped: mpsc::UnboundedReceiver<()>,
}

impl Load {
    /// Join every member, at most `cfg.parallel` at a time; each receives from the
    /// moment it is welcomed (text mode: from the moment all have heard a probe). No
    /// load line is sent before [`Load::start`].
    pub async fn join(cfg: &LoadConfig) -> Result<Load> {
        if cfg.text_mode && cfg.members.iter().any(|&(p, _)| p != Proto::Tcp) {
            bail!("text-mode load is TCP only");
        }
        let n = cfg.members.len();
        let (etx, events) = mpsc::unbounded_channel();
        let (stx, stopped) = mpsc::unbounded_channel();
        let all = if cfg.count_from_start { 0 } else { u64::MAX };
        let shared = Arc::new(Shared {
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..n).map(|_| AtomicU64::new(0)).collect(),
            sent_in_window: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            window: Window {
                from_us: AtomicU64::new(all),
                to_us: AtomicU64::new(u64::MAX),
            },
            heard_probe: AtomicU64::new(0),
            start_at: OnceLock::new(),
            start: CancellationToken::new(),
            stop_send: CancellationToken::new(),
            stop_recv: CancellationToken::new(),
            done: CancellationToken::new(),
            events: etx,
            stopped: stx,
        });
        let text: Arc<str> = cfg.text.as_str().into();
        let joins = futures_util::stream::iter(cfg.members.iter().enumerate().map(
            |(i, &(proto, rate))| {
                let shared = shared.clone();
                let text = text.clone();
                async move {
                    let nick = nick_of(i, proto);
                    let (tx, rx, keepalive) =
                        member::connect(cfg, cfg.addr_of(i), proto, &nick).await?;
                    let recv = receive::Receiver {
                        idx: i,
                        proto,
                        n,
                        text: text.clone(),
                        quiet: cfg.quiet,
                    };
                    let recv = tokio::spawn(recv.run(rx, shared.clone()));
                    let (cmd, cmds) = mpsc::unbounded_channel();
                    let sender = send::Sender {
                        idx: i,
                        rate,
                        phase: i as f64 / n as f64,
                        keepalive,
                        text,
                        in_flight: cfg.in_flight.filter(|_| n > 1),
                    };
                    let send = tokio::spawn(sender.run(tx, cmds, shared));
                    Ok::<_, anyhow::Error>(Member {
                        nick,
                        cmd,
                        send,
                        recv,
                    })
                }
            },
        ))
        .buffered(cfg.parallel.max(1))
        .collect::<Vec<_>>()
        .await;
        let members = joins.into_iter().collect::<Result<Vec<_>>>()?;
        let load = Load {
            members,
            shared,
            quiet: cfg.quiet,
            events,
            stopped,
        };
        if cfg.text_mode && n > 1 {
            load.probe().await?;
        }
        Ok(load)
    }

    /// Text mode: member 0 says `probe` until every other member has heard it (then all
    /// are in the room), bounded.
    async fn probe(&self) -> Result<()> {
        let others = self.members.len() as u64 - 1;
        let deadline = Instant::now() + PROBE_WAIT;
        let mut every = tokio::time::interval(PROBE_EVERY);
        while self.shared.heard_probe.load(Ordering::Relaxed) < others {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {others} members heard the probe",
                    self.shared.heard_probe.load(Ordering::Relaxed)
                );
            }
            let _ = self.members[0].cmd.send(Cmd::Probe);
            every.tick().await;
        }
        Ok(())
    }

    /// Begin every member's schedule, from now.
    pub fn start(&self) {
        let _ = self.shared.start_at.set(Instant::now());
        self.shared.start.cancel();
    }

    /// Count only lines sent at `[from_us, to_us)` (microseconds since the Unix epoch,
    /// as `wire::now_us`) from now on.
    pub fn measure(&self, from_us: u64, to_us: u64) {
        let w = &self.shared.window;
        w.to_us.store(to_us, Ordering::Relaxed);
        w.from_us.store(from_us, Ordering::Relaxed);
    }

    /// Members in the load.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the load has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The nickname of member `idx` (panics if out of range).
    pub fn nick(&self, idx: usize) -> &str {
        &self.members[idx].nick
    }

    /// Member `idx` says `text` (numbered like its load lines).
    pub fn say(&self, idx: usize, text: &str) {
        let _ = self.members[idx].cmd.send(Cmd::Say(text.to_string()));
    }

    /// Member `idx` sends `msg` as it is.
    pub fn send(&self, idx: usize, msg: ClientMsg) {
        let _ = self.members[idx].cmd.send(Cmd::Send(msg));
    }

    /// Stop the load, drain what is in flight, and collect every member's tally. Each
    /// member then says goodbye.
    pub async fn finish(mut self) -> Result<Report> {
        self.shared.stop_send.cancel();
        // Senders keep pinging (UDP keepalive) until `done`; each acknowledges the stop
        // once its last line is out, after which its sent counter is final.
        for k in 0..self.members.len() {
            match timeout(STOP_WAIT, self.stopped.recv()).await {
                Ok(Some(())) => {}
                _ => bail!("only {k} senders stopped within {STOP_WAIT:?}"),
            }
        }
        // Nothing more is sent: receivers drain until quiet.
        self.shared.stop_recv.cancel();
        let mut tallies = Vec::new();
        let mut senders = Vec::new();
        for m in self.members {
            senders.push(m.send);
            let t = timeout(DRAIN_MAX + self.quiet, m.recv)
                .await
                .map_err(|_| anyhow!("{}: receiver did not drain in time", m.nick))??;
            tallies.push(t);
        }
        self.shared.done.cancel();
        for s in senders {
            let _ = timeout(Duration::from_secs(5), s).await;
        }
        let mut events = Vec::new();
        while let Ok(ev) = self.events.try_recv() {
            events.push(ev);
        }
        let sh = &self.shared;
        Ok(Report {
            tallies,
            sent: sh.sent.iter().map(|s| s.load(Ordering::SeqCst)).collect(),
            sent_in_window: sh.sent_in_window.load(Ordering::SeqCst),
            send_errors: sh.send_errors.load(Ordering::SeqCst),
            events,
        })
    }

    /// Wait for every member's receiver to end on its own (the server said goodbye or
    /// closed), bounded by `wait`; their tallies. Senders are then stopped.
    pub async fn until_closed(self, wait: Duration) -> Result<Vec<Tally>> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut senders = Vec::new();
        for m in self.members {
            senders.push(m.send);
            let t = tokio::time::timeout_at(deadline, m.recv)
                .await
                .map_err(|_| anyhow!("{} not closed within {wait:?}", m.nick))??;
            out.push(t);
        }
        self.shared.done.cancel();
        for s in senders {
            let _ = timeout(Duration::from_secs(5), s).await;
        }
        Ok(out)
    }
}
