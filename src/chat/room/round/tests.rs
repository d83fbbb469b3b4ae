//! The room's rounds, seen from its members' sinks: every send of a round comes before
//! the one flush that ends it, and a quiet room's single line is flushed at once, with
//! no timer (tokio's paused clock does not move).

use super::super::{Room, RoomConfig};
use crate::transport::{Close, Event, Format, PeerId, PeerInfo, PeerSink, SendError};
use crate::wire::{ClientMsg, Outgoing, Proto};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one member's sink was asked to do, in order: each message as its text line, and
/// `FLUSH` for each flush.
#[derive(Clone, Default)]
struct Log {
    calls: Arc<Mutex<Vec<String>>>,
    flushed: Arc<Notify>,
}

const FLUSH: &str = "<flush>";
const WAIT: Duration = Duration::from_secs(10);

impl Log {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("log").clone()
    }
}

impl PeerSink for Log {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        let line = crate::wire::text::render(msg.msg()).unwrap_or_default();
        self.calls.lock().expect("log").push(line);
        Ok(())
    }

    fn flush(&self) {
        self.calls.lock().expect("log").push(FLUSH.into());
        self.flushed.notify_one();
    }

    fn close(&self, _: Close) {}
}

fn joined(nick: &str) -> (PeerId, Log, Event) {
    let peer = PeerId::next();
    let log = Log::default();
    let ev = Event::Joined {
        peer,
        info: PeerInfo {
            proto: Proto::Tcp,
            addr: ([127, 0, 0, 1], 9).into(),
            format: Format::Text,
        },
        nick: Some(nick.into()),
        sink: Box::new(log.clone()),
    };
    (peer, log, ev)
}

fn say(peer: PeerId, seq: u64, text: &str) -> Event {
    Event::Message(
        peer,
        ClientMsg::Say {
            seq,
            sent_us: 0,
            text: text.into(),
        },
    )
}

#[tokio::test(start_paused = true)]
async fn what_is_ready_is_one_round_with_one_flush_per_member_after_its_sends() {
    let (tx, rx) = mpsc::channel(64);
    let (a, alog, join_a) = joined("a");
    let (b, blog, join_b) = joined("b");
    // All of it is queued before the room runs: one round.
    for ev in [
        join_a,
        join_b,
        say(a, 1, "one"),
        say(a, 2, "two"),
        say(b, 1, "three"),
    ] {
        tx.send(ev).await.expect("room");
    }
    let stop = CancellationToken::new();
    let room = tokio::spawn(Room::new(RoomConfig::default()).run(rx, stop.clone()));
    tokio::time::timeout(WAIT, blog.flushed.notified())
        .await
        .expect("b flushed");
    assert_eq!(
        alog.calls(),
        [
            "* you are a; 1 online",
            "* b joined (tcp)",
            "b: three",
            FLUSH
        ]
    );
    assert_eq!(
        blog.calls(),
        ["* you are b; 2 online", "a: one", "a: two", FLUSH]
    );
    // The next round, a line of its own: its own flush.
    tx.send(say(a, 3, "four")).await.expect("room");
    tokio::time::timeout(WAIT, blog.flushed.notified())
        .await
        .expect("b flushed again");
    assert_eq!(blog.calls()[4..], ["a: four", FLUSH]);
    stop.cancel();
    room.await.expect("room task");
}

#[tokio::test(start_paused = true)]
async fn a_quiet_room_flushes_a_single_line_at_once_without_a_timer() {
    let (tx, rx) = mpsc::channel(64);
    let (a, _, join_a) = joined("a");
    let (_, blog, join_b) = joined("b");
    tx.send(join_a).await.expect("room");
    tx.send(join_b).await.expect("room");
    let stop = CancellationToken::new();
    let room = tokio::spawn(Room::new(RoomConfig::default()).run(rx, stop.clone()));
    tokio::time::timeout(WAIT, blog.flushed.notified())
        .await
        .expect("b welcomed");
    // The room is idle now; one line, then its flush, and the clock has not moved (a
    // paused clock jumps straight to any timer the room would wait for).
    let sent = Instant::now();
    tx.send(say(a, 1, "hello")).await.expect("room");
    tokio::time::timeout(WAIT, blog.flushed.notified())
        .await
        .expect("b flushed");
    assert_eq!(Instant::now(), sent, "the clock moved: the line waited");
    assert_eq!(blog.calls()[2..], ["a: hello", FLUSH]);
    stop.cancel();
    room.await.expect("room task");
}
