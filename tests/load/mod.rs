//! Load members for the fault and soak tests: nettool clients joined through the library
//! (`nettool::chat::client::connect`, TCP or UDP — never hand-made handshake datagrams), each
//! sending numbered chat lines at a steady rate and counting, per sender, every line it
//! receives ([`SeqTracker`]: gaps, reordering, duplicates). Notable messages (leaves,
//! marks, `/who` answers, errors, the final `Bye`) are forwarded to the test as events.
//!
//! Member `i` is named `t{i}` (TCP) or `u{i}` (UDP), so a receiver knows each line's
//! sender index from its nickname, and the test reads what each sender sent from a
//! shared counter: nothing is inferred from the stream it checks.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use nettool::chat::client::{self, connect::MsgSink, ClientConfig, Incoming, Mode};
use nettool::measure::seq::SeqTracker;
use nettool::wire::binary::WireError;
use nettool::wire::{now_us, ClientMsg, LeaveReason, Proto, ServerMsg};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// Text of every load line; marks start with [`MARK`].
pub const LOAD_TEXT: &str = "load";
pub const MARK: &str = "mark";
/// How long one join (connect + `Welcome`) may take.
const JOIN_WAIT: Duration = Duration::from_secs(15);
/// Receivers that are told to stop end after this long without a chat line.
const QUIET: Duration = Duration::from_millis(1000);
/// Hard bound on the drain after a stop.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// Lines a sender may have in flight (sent, not yet seen by its watcher, the next
/// member); beyond it the schedule skips instead of piling lines up in socket buffers,
/// so a saturated (debug, shared-CPU) server shows as a lower rate, not as seconds of
/// latency.
const WINDOW: u64 = 256;

type Rx = futures::stream::BoxStream<'static, Result<Incoming, WireError>>;

/// What a member is told to do besides its load.
enum Cmd {
    Say(String),
    Send(ClientMsg),
}

/// One sender as one receiver saw it.
#[derive(Debug, Default, Clone)]
pub struct FromSender {
    pub count: u64,
    pub first: Option<u64>,
    pub tracker: SeqTracker,
}

/// Everything one member received.
#[derive(Debug)]
pub struct Tally {
    pub idx: usize,
    pub proto: Proto,
    /// Indexed by sender.
    pub from: Vec<FromSender>,
    pub chats: u64,
    pub bye: Option<LeaveReason>,
    pub error: Option<String>,
    pub closed: bool,
}

struct Shared {
    /// Says sent by each member (its last sequence number).
    sent: Vec<AtomicU64>,
    /// The highest sequence number of member `i` seen by member `i + 1` (its watcher).
    seen: Vec<AtomicU64>,
    send_errors: AtomicU64,
    /// Every member has joined: the load starts.
    start: CancellationToken,
    stop_send: CancellationToken,
    stop_recv: CancellationToken,
    done: CancellationToken,
    events: mpsc::UnboundedSender<(usize, ServerMsg)>,
    /// One per sender once it has seen `stop_send` (its count is final).
    stopped: mpsc::UnboundedSender<()>,
}

struct Member {
    nick: String,
    proto: Proto,
    cmd: mpsc::UnboundedSender<Cmd>,
    send: JoinHandle<()>,
    recv: JoinHandle<Tally>,
}

/// A room full of load members.
pub struct Load {
    members: Vec<Member>,
    shared: Arc<Shared>,
    pub events: mpsc::UnboundedReceiver<(usize, ServerMsg)>,
    stopped: mpsc::UnboundedReceiver<()>,
}

/// Sender `idx` of a nickname `t{idx}`/`u{idx}`.
pub fn sender_index(nick: &str) -> Option<usize> {
    let rest = nick.strip_prefix('t').or_else(|| nick.strip_prefix('u'))?;
    rest.parse().ok()
}

pub fn nick_of(idx: usize, proto: Proto) -> String {
    match proto {
        Proto::Tcp => format!("t{idx}"),
        Proto::Udp => format!("u{idx}"),
    }
}

impl Load {
    /// Join one member per `(proto, rate)` (messages/s; 0: none), at most `parallel`
    /// joins at a time, in order. Each starts receiving as soon as it is welcomed and
    /// starts sending once all have joined.
    pub async fn join(addr: SocketAddr, specs: &[(Proto, f64)], parallel: usize) -> Load {
        let (etx, events) = mpsc::unbounded_channel();
        let (stx, stopped) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            sent: specs.iter().map(|_| AtomicU64::new(0)).collect(),
            seen: specs.iter().map(|_| AtomicU64::new(0)).collect(),
            send_errors: AtomicU64::new(0),
            start: CancellationToken::new(),
            stop_send: CancellationToken::new(),
            stop_recv: CancellationToken::new(),
            done: CancellationToken::new(),
            events: etx,
            stopped: stx,
        });
        let n = specs.len();
        let joins = futures::stream::iter(specs.iter().enumerate().map(|(i, &(proto, rate))| {
            let shared = shared.clone();
            async move {
                let nick = nick_of(i, proto);
                let (tx, rx, keepalive) = join_one(addr, proto, &nick).await;
                let recv = tokio::spawn(receive(i, proto, rx, n, shared.clone()));
                let (cmd, cmds) = mpsc::unbounded_channel();
                let phase = i as f64 / n as f64;
                let send = tokio::spawn(send_loop(i, tx, rate, phase, keepalive, cmds, shared));
                Member {
                    nick,
                    proto,
                    cmd,
                    send,
                    recv,
                }
            }
        }))
        .buffered(parallel.max(1))
        .collect::<Vec<Member>>()
        .await;
        shared.start.cancel();
        Load {
            members: joins,
            shared,
            events,
            stopped,
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

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

    /// Wait (bounded by `wait`) until every member in `who` has had an event for which
    /// `want` holds; returns those events in member order. A load member leaving or
    /// being told goodbye meanwhile fails the test: the room must keep them.
    pub async fn wait_all(
        &mut self,
        who: &[usize],
        wait: Duration,
        what: &str,
        want: impl Fn(&ServerMsg) -> bool,
    ) -> Vec<ServerMsg> {
        let mut got: Vec<Option<ServerMsg>> = vec![None; self.members.len()];
        let deadline = Instant::now() + wait;
        while who.iter().any(|&i| got[i].is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let (i, msg) = match timeout(left, self.events.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => panic!("event channel closed waiting for {what}"),
                Err(_) => {
                    let missing: Vec<_> = who.iter().filter(|&&i| got[i].is_none()).collect();
                    panic!("no {what} within {wait:?} at members {missing:?}")
                }
            };
            if want(&msg) {
                got[i].get_or_insert(msg);
                continue;
            }
            match &msg {
                ServerMsg::Left { nick, reason } if sender_index(nick).is_some() => {
                    panic!("load member {nick} left ({reason}), seen by {i}")
                }
                ServerMsg::Bye { reason } => panic!("load member {i} told bye ({reason})"),
                _ => {}
            }
        }
        who.iter().filter_map(|&i| got[i].take()).collect()
    }

    /// Stop the load, drain what is in flight, and collect every member's tally.
    pub async fn finish(mut self) -> Report {
        self.shared.stop_send.cancel();
        // Senders keep pinging (UDP keepalive) until `done`; each acknowledges the stop
        // once its last line is out, after which its sent counter is final.
        for k in 0..self.members.len() {
            timeout(Duration::from_secs(10), self.stopped.recv())
                .await
                .unwrap_or_else(|_| panic!("only {k} senders stopped in time"))
                .expect("stop acknowledgements");
        }
        let mut tallies = Vec::new();
        let mut senders = Vec::new();
        for m in self.members {
            senders.push(m.send);
            tallies.push(m.recv);
        }
        // Nothing more is sent: receivers drain until quiet.
        self.shared.stop_recv.cancel();
        let mut out = Vec::new();
        for t in tallies {
            out.push(
                timeout(DRAIN_MAX + QUIET, t)
                    .await
                    .expect("receiver drains in time")
                    .expect("receiver task"),
            );
        }
        self.shared.done.cancel();
        for s in senders {
            let _ = timeout(Duration::from_secs(5), s).await;
        }
        let sent = self
            .shared
            .sent
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .collect();
        Report {
            tallies: out,
            sent,
            send_errors: self.shared.send_errors.load(Ordering::SeqCst),
        }
    }

    /// Wait for every member's receiver to end on its own (the server said goodbye or
    /// closed), bounded by `wait`; their tallies. Senders are then stopped.
    pub async fn until_closed(self, wait: Duration) -> Vec<Tally> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut senders = Vec::new();
        for m in self.members {
            senders.push(m.send);
            let left = deadline.saturating_duration_since(Instant::now());
            let t = timeout(left, m.recv)
                .await
                .unwrap_or_else(|_| panic!("member {} not closed within {wait:?}", m.nick))
                .expect("receiver task");
            out.push(t);
        }
        self.shared.done.cancel();
        for s in senders {
            let _ = timeout(Duration::from_secs(5), s).await;
        }
        out
    }
}

/// Connect through the library and wait for the `Welcome`: the sink, the stream, and
/// the keepalive period the server asked for.
async fn join_one(addr: SocketAddr, proto: Proto, nick: &str) -> (MsgSink, Rx, Duration) {
    let cfg = ClientConfig {
        addr,
        proto,
        nick: Some(nick.to_string()),
        ..Default::default()
    };
    let mut conn = timeout(JOIN_WAIT, client::connect(&cfg))
        .await
        .unwrap_or_else(|_| panic!("{nick}: connect timed out"))
        .unwrap_or_else(|e| panic!("{nick}: connect: {e:#}"));
    assert_eq!(conn.mode, Mode::Binary, "{nick}: server speaks nettool");
    let deadline = Instant::now() + JOIN_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, conn.rx.next()).await {
            Ok(Some(Ok(Incoming::Msg(ServerMsg::Welcome {
                nick: got,
                keepalive_ms,
                ..
            })))) => {
                assert_eq!(got, nick, "nickname granted as asked");
                let keepalive = Duration::from_millis(keepalive_ms.max(2));
                return (conn.tx, conn.rx, keepalive);
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => panic!("{nick}: receive error before welcome: {e}"),
            Ok(None) => panic!("{nick}: closed before welcome"),
            Err(_) => panic!("{nick}: no welcome within {JOIN_WAIT:?}"),
        }
    }
}

/// Once `start`, `rate` load lines per second (shifted by `phase` of a period so members
/// do not send in lock-step) until `stop_send`; a `Ping` whenever nothing went out for half the
/// keepalive period, until `done`; commands at any time.
async fn send_loop(
    idx: usize,
    mut tx: MsgSink,
    rate: f64,
    phase: f64,
    keepalive: Duration,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    shared: Arc<Shared>,
) {
    let half = keepalive / 2;
    // Line k (from 0) is due at `begun + (k + phase) / rate`: steady, and spread over
    // the members rather than in bursts. The schedule starts once every member has
    // joined; keepalives start at once.
    let mut begun: Option<Instant> = None;
    let mut seq = 0u64;
    let mut loads = 0u64;
    let mut last_out = Instant::now();
    let mut acked = false;
    let far = Duration::from_secs(3600);
    loop {
        let stopping = shared.stop_send.is_cancelled();
        if !acked && stopping {
            let _ = shared.stopped.send(());
            acked = true;
        }
        let next_load = match begun {
            Some(b) if rate > 0.0 && !stopping => {
                b + Duration::from_secs_f64((loads as f64 + phase) / rate)
            }
            _ => Instant::now() + far,
        };
        let wake = next_load.min(last_out + half);
        let mut batch: Vec<ClientMsg> = Vec::new();
        tokio::select! {
            _ = shared.done.cancelled() => break,
            _ = shared.start.cancelled(), if begun.is_none() => {
                begun = Some(Instant::now());
                continue;
            }
            _ = shared.stop_send.cancelled(), if !stopping => continue,
            _ = tokio::time::sleep_until(wake) => {
                if let (Some(b), false) = (begun, stopping) {
                    let x = b.elapsed().as_secs_f64() * rate - phase;
                    let due = if rate > 0.0 && x >= 0.0 { x as u64 + 1 } else { 0 };
                    let limit = match shared.seen.len() {
                        0 | 1 => u64::MAX, // no watcher
                        _ => shared.seen[idx].load(Ordering::Relaxed) + WINDOW,
                    };
                    while loads < due && seq < limit {
                        loads += 1;
                        seq += 1;
                        batch.push(ClientMsg::Say { seq, sent_us: now_us(), text: LOAD_TEXT.into() });
                    }
                    loads = loads.max(due); // skipped, not owed
                }
                if batch.is_empty() && last_out.elapsed() >= half {
                    batch.push(ClientMsg::Ping { t_us: now_us() });
                }
            }
            Some(cmd) = cmds.recv() => match cmd {
                Cmd::Say(text) => {
                    seq += 1;
                    batch.push(ClientMsg::Say { seq, sent_us: now_us(), text });
                }
                Cmd::Send(msg) => batch.push(msg),
            },
        }
        if batch.is_empty() {
            continue;
        }
        let says = batch
            .iter()
            .filter(|m| matches!(m, ClientMsg::Say { .. }))
            .count();
        let mut ok = true;
        for m in batch {
            if tx.feed(m).await.is_err() {
                ok = false;
                break;
            }
        }
        if ok && tx.flush().await.is_err() {
            ok = false;
        }
        if !ok {
            // The server went away (shutdown) or dropped us: counted, not sent.
            shared.send_errors.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if says > 0 {
            shared.sent[idx].store(seq, Ordering::SeqCst);
        }
        last_out = Instant::now();
    }
    if !acked {
        let _ = shared.stopped.send(());
    }
}

/// Count every chat line per sender; forward notable messages; end on `Bye`, on the
/// stream's end, or once told to stop and quiet for [`QUIET`].
async fn receive(idx: usize, proto: Proto, mut rx: Rx, n: usize, shared: Arc<Shared>) -> Tally {
    let mut t = Tally {
        idx,
        proto,
        from: vec![FromSender::default(); n],
        chats: 0,
        bye: None,
        error: None,
        closed: false,
    };
    let mut last_chat = Instant::now();
    let mut drain_end: Option<Instant> = None;
    loop {
        let next = if let Some(end) = drain_end {
            let until = (last_chat + QUIET).min(end);
            match tokio::time::timeout_at(until, rx.next()).await {
                Ok(x) => x,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                x = rx.next() => x,
                _ = shared.stop_recv.cancelled() => {
                    last_chat = Instant::now();
                    drain_end = Some(Instant::now() + DRAIN_MAX);
                    continue;
                }
            }
        };
        let msg = match next {
            Some(Ok(Incoming::Msg(m))) => m,
            Some(Ok(Incoming::Line(_))) => continue,
            Some(Err(e)) => {
                t.error = Some(e.to_string());
                break;
            }
            None => {
                t.closed = true;
                break;
            }
        };
        match &msg {
            ServerMsg::Chat {
                from, seq, text, ..
            } => {
                last_chat = Instant::now();
                t.chats += 1;
                let j = sender_index(from).filter(|&j| j < n);
                if let Some(j) = j.filter(|&j| (j + 1) % n == idx) {
                    shared.seen[j].fetch_max(*seq, Ordering::Relaxed);
                }
                if let Some(s) = j.and_then(|j| t.from.get_mut(j)) {
                    s.count += 1;
                    s.first.get_or_insert(*seq);
                    s.tracker.observe(*seq);
                }
                if text.starts_with(MARK) {
                    let _ = shared.events.send((idx, msg));
                }
            }
            ServerMsg::Bye { reason } => {
                t.bye = Some(reason.clone());
                let _ = shared.events.send((idx, msg));
                break;
            }
            ServerMsg::Left { .. } | ServerMsg::Members(_) | ServerMsg::Error(_) => {
                let _ = shared.events.send((idx, msg));
            }
            _ => {}
        }
    }
    t
}

/// What a finished load counted.
pub struct Report {
    pub tallies: Vec<Tally>,
    /// Lines sent by each member.
    pub sent: Vec<u64>,
    pub send_errors: u64,
}

/// Totals over one kind of (sender, receiver) pair.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub pairs: u64,
    pub expected: u64,
    pub received: u64,
    pub missing: u64,
    pub reordered: u64,
    pub duplicates: u64,
}

impl Totals {
    pub fn loss_pct(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.missing as f64 * 100.0 / self.expected as f64
        }
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expected {} received {} missing {} ({:.4} %) reordered {} duplicates {}",
            self.expected,
            self.received,
            self.missing,
            self.loss_pct(),
            self.reordered,
            self.duplicates
        )
    }
}

impl Report {
    fn proto_of(&self, idx: usize) -> Proto {
        self.tallies[idx].proto
    }

    /// Totals over pairs whose sender uses `from` and receiver uses `to`. Expected is
    /// what the sender sent (every member heard every line from seq 1: all joined
    /// before anyone sent); missing counts what never arrived, late ones included.
    pub fn totals(&self, from: Proto, to: Proto) -> Totals {
        let mut t = Totals::default();
        for r in self.tallies.iter().filter(|r| r.proto == to) {
            for (j, s) in r.from.iter().enumerate() {
                if j == r.idx || self.proto_of(j) != from {
                    continue;
                }
                t.pairs += 1;
                t.expected += self.sent[j];
                t.received += s.count;
                let unique = s.count - s.tracker.duplicates;
                t.missing += self.sent[j].saturating_sub(unique);
                t.reordered += s.tracker.reordered;
                t.duplicates += s.tracker.duplicates;
            }
        }
        t
    }

    /// TCP senders to TCP receivers: every line exactly once, in order per sender. From
    /// UDP senders (whose lines may be lost on their way in) TCP receivers get no
    /// duplicates and all agree on the count: what reached the room reached every TCP
    /// member.
    pub fn assert_tcp_exact(&self) {
        for r in self.tallies.iter().filter(|r| r.proto == Proto::Tcp) {
            assert!(r.error.is_none(), "t{}: {:?}", r.idx, r.error);
            assert!(r.bye.is_none(), "t{} told bye: {:?}", r.idx, r.bye);
            for (j, s) in r.from.iter().enumerate() {
                if j == r.idx {
                    assert_eq!(s.count, 0, "t{} got its own lines back", r.idx);
                    continue;
                }
                let what = format!("t{} from {}", r.idx, nick_of(j, self.proto_of(j)));
                assert_eq!(s.tracker.duplicates, 0, "{what}: duplicates");
                if self.proto_of(j) == Proto::Tcp {
                    assert_eq!(s.tracker.reordered, 0, "{what}: reordered");
                    assert_eq!(s.tracker.missing, 0, "{what}: gaps");
                    assert_eq!(s.count, self.sent[j], "{what}: count");
                    if self.sent[j] > 0 {
                        assert_eq!(s.first, Some(1), "{what}: first seq");
                    }
                }
            }
        }
        let tcp: Vec<&Tally> = self
            .tallies
            .iter()
            .filter(|r| r.proto == Proto::Tcp)
            .collect();
        for j in (0..self.tallies.len()).filter(|&j| self.proto_of(j) == Proto::Udp) {
            let counts: Vec<u64> = tcp.iter().map(|r| r.from[j].count).collect();
            assert!(
                counts.windows(2).all(|w| w[0] == w[1]),
                "TCP members disagree on u{j}: {counts:?}"
            );
        }
    }
}
