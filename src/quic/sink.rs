//! The room's handle on a QUIC member, and the writer behind it.
//!
//! [`QuicSink::send`] only queues: a bounded queue (messages and bytes, as TCP's, with
//! the same slow-consumer policy). The room's end-of-round [`flush`](PeerSink::flush)
//! wakes the writer, which takes everything the round queued in one go (as does a queue
//! reaching half its bounds, so that a long round never makes a reader too slow). The writer sorts it into *lanes*: the
//! member's own bidirectional stream for what is said to it alone, and one
//! unidirectional stream per sender (opened on its first line, finished when it
//! leaves, and a new one when the same nick joins again), so that a sender whose
//! stream is held up (a lost packet, a full stream window) holds up no other sender.
//! Each lane writes on its own (a future per lane with bytes pending), all of them
//! within the writer task. Bytes handed to a lane still count against the queue's
//! bounds until quinn has taken them.
//!
//! In datagram mode chat lines go out as DATAGRAM frames instead, when they fit.

use crate::tcp::writer::QueueLimits;
use crate::tcp::SlowPolicy;
use crate::transport::{Close, PeerSink, SendError};
use crate::wire::outgoing::Form;
use crate::wire::{Outgoing, ServerMsg};
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use quinn::{Connection, SendStream};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Sender lanes kept open per member; beyond it the least recently used is finished.
const MAX_LANES: usize = 256;
/// How long a member that has its goodbye has to close the connection itself.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Lane id of the member's own stream.
const CONTROL: u64 = 0;

#[derive(Default)]
struct State {
    q: VecDeque<Arc<Outgoing>>,
    /// Messages and bytes queued, and those handed to lanes but not yet to quinn.
    count: usize,
    bytes: usize,
    dropped: u64,
    close: Option<Close>,
    sink_gone: bool,
    writer_gone: bool,
}

pub(super) struct Shared {
    state: Mutex<State>,
    wake: Notify,
    limits: QueueLimits,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn len(msg: &Outgoing) -> usize {
    msg.bytes(Form::Frame).map_or(0, |b| b.len())
}

/// The room's handle on one QUIC member.
pub(super) struct QuicSink(Arc<Shared>);

impl PeerSink for QuicSink {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        let n = len(msg);
        let limits = self.0.limits;
        let mut st = self.0.lock();
        if st.writer_gone || st.close.is_some() {
            return Err(SendError::Closed);
        }
        while st.count > 0 && (st.count >= limits.messages || st.bytes + n > limits.bytes) {
            match limits.policy {
                SlowPolicy::Disconnect => return Err(SendError::Full),
                SlowPolicy::DropOldest => match st.q.pop_front() {
                    Some(old) => {
                        st.count -= 1;
                        st.bytes -= len(&old);
                        st.dropped += 1;
                    }
                    None => {
                        // All of it is with the lanes already: this one is the oldest
                        // that can go.
                        st.dropped += 1;
                        return Ok(());
                    }
                },
            }
        }
        let half = |c: usize, b: usize| c >= limits.messages / 2 || b >= limits.bytes / 2;
        let before = half(st.count, st.bytes);
        st.q.push_back(msg.clone());
        st.count += 1;
        st.bytes += n;
        let hurry = !before && half(st.count, st.bytes);
        drop(st);
        // The round's flush wakes the writer; a queue half full does not wait for it.
        if hurry {
            self.0.wake.notify_one();
        }
        Ok(())
    }

    fn flush(&self) {
        // `notify_one` keeps a permit while the writer is busy: it looks again after.
        if !self.0.lock().q.is_empty() {
            self.0.wake.notify_one();
        }
    }

    fn close(&self, how: Close) {
        self.0.lock().close = Some(how);
        self.0.wake.notify_one();
    }
}

impl Drop for QuicSink {
    fn drop(&mut self) {
        self.0.lock().sink_gone = true;
        self.0.wake.notify_one();
    }
}

/// A sink and the shared state its writer drains.
pub(super) fn queue(limits: QueueLimits) -> (QuicSink, Arc<Shared>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        wake: Notify::new(),
        limits: QueueLimits {
            messages: limits.messages.max(1),
            ..limits
        },
    });
    (QuicSink(shared.clone()), shared)
}

/// One stream's pending bytes.
#[derive(Default)]
struct Lane {
    stream: Option<SendStream>,
    /// Opened (or being written): `stream` is `None` while a write holds it.
    busy: bool,
    chunks: Vec<Bytes>,
    /// Messages in `chunks`.
    msgs: usize,
    /// Finish the stream once `chunks` is written.
    finishing: bool,
    used: u64,
}

type Write = Pin<Box<dyn Future<Output = (u64, Result<SendStream, String>, usize, usize)> + Send>>;

/// The writer: drain the queue into lanes until closed. `datagrams`: chat lines as
/// DATAGRAM frames.
pub(super) async fn run(
    conn: Connection,
    control: SendStream,
    shared: Arc<Shared>,
    datagrams: bool,
    grace: Duration,
) {
    let mut w = Writer {
        conn: conn.clone(),
        lanes: HashMap::from([(
            CONTROL,
            Lane {
                stream: Some(control),
                ..Default::default()
            },
        )]),
        by_nick: HashMap::new(),
        next: CONTROL + 1,
        tick: 0,
        writes: FuturesUnordered::new(),
        datagrams,
    };
    let end = loop {
        let (msgs, dropped, close, gone) = {
            let mut st = shared.lock();
            let msgs: Vec<_> = st.q.drain(..).collect();
            let dropped = std::mem::take(&mut st.dropped);
            (msgs, dropped, st.close, st.sink_gone)
        };
        if close == Some(Close::Abort) {
            break Close::Abort;
        }
        if dropped > 0 {
            let notice = Arc::new(Outgoing::new(ServerMsg::Dropped { count: dropped }));
            {
                let mut st = shared.lock();
                st.count += 1;
                st.bytes += len(&notice);
            }
            w.route(&notice, &shared);
        }
        for m in &msgs {
            w.route(m, &shared);
        }
        w.start_writes();
        if (close.is_some() || gone) && w.writes.is_empty() && w.idle() {
            break Close::Flush;
        }
        tokio::select! {
            biased;
            _ = shared.wake.notified() => {}
            Some((id, r, n, b)) = w.writes.next() => {
                {
                    let mut st = shared.lock();
                    st.count = st.count.saturating_sub(n);
                    st.bytes = st.bytes.saturating_sub(b);
                }
                match r {
                    Ok(s) => w.returned(id, s),
                    Err(e) => {
                        tracing::debug!(error = %e, "QUIC write failed");
                        break Close::Abort;
                    }
                }
            }
            _ = conn.closed() => break Close::Abort,
        }
    };
    shared.lock().writer_gone = true;
    if end == Close::Flush {
        // Everything is with quinn: finish every stream, wait (bounded) for the member to
        // have it all (or to close first), then close.
        let mut streams: Vec<SendStream> = w.lanes.drain().filter_map(|(_, l)| l.stream).collect();
        for s in &mut streams {
            let _ = s.finish();
        }
        let acked = async {
            for s in &mut streams {
                let _ = s.stopped().await;
            }
            // The member normally closes once it has read the goodbye.
            let _ = tokio::time::timeout(CLOSE_LINGER, conn.closed()).await;
        };
        let _ = tokio::time::timeout(grace, acked).await;
        conn.close(0u32.into(), b"bye");
    } else {
        conn.close(1u32.into(), b"closed");
    }
}

struct Writer {
    conn: Connection,
    lanes: HashMap<u64, Lane>,
    by_nick: HashMap<String, u64>,
    next: u64,
    tick: u64,
    writes: FuturesUnordered<Write>,
    datagrams: bool,
}

impl Writer {
    fn idle(&self) -> bool {
        self.lanes.values().all(|l| l.chunks.is_empty() && !l.busy)
    }

    /// The lane for `nick`'s lines (a new one if it has none).
    fn lane_of(&mut self, nick: &str) -> u64 {
        if let Some(&id) = self.by_nick.get(nick) {
            return id;
        }
        if self.by_nick.len() >= MAX_LANES {
            let oldest = self
                .by_nick
                .iter()
                .min_by_key(|(_, id)| self.lanes.get(id).map_or(0, |l| l.used))
                .map(|(n, _)| n.clone());
            if let Some(n) = oldest {
                self.retire(&n);
            }
        }
        let id = self.next;
        self.next += 1;
        self.lanes.insert(id, Lane::default());
        self.by_nick.insert(nick.to_string(), id);
        id
    }

    /// `nick`'s lane ends once what it holds is written.
    fn retire(&mut self, nick: &str) {
        if let Some(id) = self.by_nick.remove(nick) {
            if let Some(l) = self.lanes.get_mut(&id) {
                l.finishing = true;
            }
        }
    }

    /// Put `msg` in its lane (or send it as a datagram).
    fn route(&mut self, msg: &Arc<Outgoing>, shared: &Shared) {
        let id = match msg.msg() {
            ServerMsg::Chat { from, .. } => {
                if self.datagrams && self.datagram(msg) {
                    let mut st = shared.lock();
                    st.count = st.count.saturating_sub(1);
                    st.bytes = st.bytes.saturating_sub(len(msg));
                    return;
                }
                self.lane_of(from)
            }
            ServerMsg::Joined { nick, .. } => {
                self.retire(nick); // a new join: a new stream
                self.lane_of(nick)
            }
            ServerMsg::Left { nick, .. } => {
                let id = self.lane_of(nick);
                self.retire(nick);
                id
            }
            ServerMsg::Renamed { old, new } => {
                let id = self.lane_of(old);
                if let Some(id) = self.by_nick.remove(old) {
                    self.by_nick.insert(new.clone(), id);
                }
                id
            }
            _ => CONTROL,
        };
        self.tick += 1;
        let Some(lane) = self.lanes.get_mut(&id) else {
            return;
        };
        lane.used = self.tick;
        match msg.bytes(Form::Frame) {
            Some(b) => {
                lane.msgs += 1;
                lane.chunks.push(b.clone());
            }
            None => {
                // Nothing to write: it leaves the queue's count at once.
                let mut st = shared.lock();
                st.count = st.count.saturating_sub(1);
            }
        }
    }

    /// Send `msg` as a DATAGRAM frame; `false` if it does not fit one.
    fn datagram(&self, msg: &Outgoing) -> bool {
        let Some(b) = msg.bytes(Form::Datagram) else {
            return false;
        };
        match self.conn.max_datagram_size() {
            Some(max) if b.len() <= max => self.conn.send_datagram(b.clone()).is_ok(),
            _ => false,
        }
    }

    /// Start a write on every lane with bytes pending and no write in flight; drop
    /// finished lanes.
    fn start_writes(&mut self) {
        let mut done = Vec::new();
        for (&id, lane) in &mut self.lanes {
            if lane.busy {
                continue;
            }
            if lane.chunks.is_empty() {
                if lane.finishing {
                    if let Some(mut s) = lane.stream.take() {
                        let _ = s.finish();
                    }
                    done.push(id);
                }
                continue;
            }
            let mut chunks = std::mem::take(&mut lane.chunks);
            let n = std::mem::take(&mut lane.msgs);
            let bytes: usize = chunks.iter().map(|c| c.len()).sum();
            let stream = lane.stream.take();
            lane.busy = true;
            let conn = self.conn.clone();
            self.writes.push(Box::pin(async move {
                let r = async {
                    let mut s = match stream {
                        Some(s) => s,
                        None => conn.open_uni().await.map_err(|e| e.to_string())?,
                    };
                    s.write_all_chunks(&mut chunks)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(s)
                }
                .await;
                (id, r, n, bytes)
            }));
        }
        for id in done {
            self.lanes.remove(&id);
        }
    }

    /// A lane's write is done: its stream is back.
    fn returned(&mut self, id: u64, s: SendStream) {
        if let Some(lane) = self.lanes.get_mut(&id) {
            lane.stream = Some(s);
            lane.busy = false;
        }
    }
}

#[cfg(test)]
mod tests;
