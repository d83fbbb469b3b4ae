//! The room's rounds of work, and its main loop.
//!
//! A round starts when an event arrives. The room handles it and everything else already
//! queued; then it lets the runtime run once more (`yield_now`: the runtime polls its
//! sockets without blocking and runs the readers that have input), and if that produced
//! more events, the round goes on with them. The round ends when a pass finds nothing new
//! — the room would otherwise go to sleep — or after [`ROUND_EVENTS`] events, so that a
//! room that never runs dry still delivers. Then every member the round queued something
//! for is flushed once: what the round produced leaves in one write per member.
//!
//! This is how Redis (`beforeSleep`) and the NATS server (`flushClients` after each read
//! buffer) batch: by work, not by time. A quiet room's round is one event, delivered at
//! once; a busy room's rounds hold more events, and each write carries more lines, without
//! a timer. (On a single-threaded server no writer runs inside a round at all; a member's
//! queue that grows past its transport's threshold may be written before the round ends.)

use super::Room;
use crate::transport::{Event, PeerId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events the room takes from its channel at a time.
pub const EVENT_BATCH: usize = 1024;
/// Events one round handles at most before it flushes: a bound on the delay a round adds
/// when input never runs dry (a few milliseconds of work at most).
pub const ROUND_EVENTS: usize = 4 * EVENT_BATCH;

/// Who the round under way queued something for.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// A broadcast happened: every member.
    everyone: bool,
    /// Members sent something on their own (replies, welcomes).
    some: Vec<PeerId>,
    /// Relays were sent something.
    pub(super) relays: bool,
}

impl Pending {
    /// Something was queued for every member.
    pub(super) fn all(&mut self) {
        self.everyone = true;
    }

    /// Something was queued for `peer`.
    pub(super) fn one(&mut self, peer: PeerId) {
        if !self.everyone {
            self.some.push(peer);
        }
    }
}

impl Room {
    /// Consume events until `shutdown` is cancelled (or every transport is gone), in
    /// rounds; then tell every member the server is going away and close them with a
    /// flush.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        shutdown: CancellationToken,
    ) -> super::RoomStats {
        let mut batch = Vec::with_capacity(EVENT_BATCH);
        let mut presence = tokio::time::interval(super::PRESENCE_EVERY);
        presence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = presence.tick() => self.announce_presence(),
                n = events.recv_many(&mut batch, EVENT_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.handle_all(&mut batch);
                    self.extend_round(&mut events, &mut batch, n).await;
                }
            }
            self.end_round();
        }
        self.shutdown();
        self.stats
    }

    /// Go on with the round while the runtime has more input ready for it.
    async fn extend_round(
        &mut self,
        events: &mut mpsc::Receiver<Event>,
        batch: &mut Vec<Event>,
        mut taken: usize,
    ) {
        while taken < ROUND_EVENTS {
            // Let the readers with input ready run (the runtime polls its sockets first).
            tokio::task::yield_now().await;
            while batch.len() < EVENT_BATCH {
                match events.try_recv() {
                    Ok(ev) => batch.push(ev),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                return;
            }
            taken += batch.len();
            self.handle_all(batch);
        }
    }

    fn handle_all(&mut self, batch: &mut Vec<Event>) {
        for ev in batch.drain(..) {
            self.handle(ev);
        }
    }

    /// End the round: flush every member it queued something for. Whoever drives the
    /// room with [`Room::handle`] calls this after each batch of events.
    pub fn end_round(&mut self) {
        let everyone = std::mem::take(&mut self.round.everyone);
        if std::mem::take(&mut self.round.relays) {
            // One batch per relay per round: what the round said leaves in one publication.
            for (_, relay) in &self.relays {
                relay.flush();
            }
        }
        let mut some = std::mem::take(&mut self.round.some);
        if everyone {
            for m in self.members.values() {
                m.sink.flush();
            }
        } else {
            for peer in &some {
                if let Some(m) = self.members.get(peer) {
                    m.sink.flush();
                }
            }
        }
        some.clear();
        self.round.some = some; // its buffer serves the next round
    }
}

#[cfg(test)]
mod tests;
