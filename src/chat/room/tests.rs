//! The room fed events directly, its members' sinks recording what they are sent:
//! joins and leaves announced one by one in a small room and summed up in a large one,
//! and `/who` in pages.

use super::*;
use crate::transport::Format;
use crate::wire::Proto;
use std::sync::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What one member was sent.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<ServerMsg>>>);

impl Inbox {
    fn take(&self) -> Vec<ServerMsg> {
        std::mem::take(&mut *self.0.lock().expect("inbox"))
    }
}

impl PeerSink for Inbox {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        self.0.lock().expect("inbox").push(msg.msg().clone());
        Ok(())
    }

    fn close(&self, _: Close) {}
}

fn room(announce_limit: usize, who_page: usize) -> Room {
    Room::new(RoomConfig {
        announce_limit,
        who_page,
        ..Default::default()
    })
}

fn join(room: &mut Room, nick: &str) -> (PeerId, Inbox) {
    let peer = PeerId::next();
    let inbox = Inbox::default();
    room.handle(Event::Joined {
        peer,
        info: PeerInfo {
            proto: Proto::Tcp,
            addr: ([127, 0, 0, 1], 9).into(),
            format: Format::Text,
        },
        nick: Some(nick.into()),
        sink: Box::new(inbox.clone()),
    });
    (peer, inbox)
}

fn text(msgs: &[ServerMsg]) -> Vec<String> {
    msgs.iter().filter_map(crate::wire::text::render).collect()
}

#[test]
fn a_small_room_announces_each_join_and_leave() {
    let mut r = room(3, 64);
    let (_, a) = join(&mut r, "a");
    let (b, _) = join(&mut r, "b");
    let (_, _) = join(&mut r, "c");
    r.handle(Event::Left(b, LeaveReason::Quit));
    r.announce_presence();
    assert_eq!(
        text(&a.take()),
        [
            "* you are a; 1 online",
            "* b joined (tcp)",
            "* c joined (tcp)",
            "* b left (quit)",
        ]
    );
    assert_eq!(r.stats().presence, 0);
}

#[test]
fn a_large_room_sums_joins_and_leaves_up_once_per_period() {
    let mut r = room(2, 64);
    let (_, a) = join(&mut r, "a");
    let (b, _) = join(&mut r, "b");
    a.take();
    // Beyond 2 members: counted, not announced.
    let mut extra = Vec::new();
    for i in 0..5 {
        extra.push(join(&mut r, &format!("x{i}")));
    }
    r.handle(Event::Left(extra[0].0, LeaveReason::Closed));
    r.handle(Event::Left(extra[1].0, LeaveReason::Quit));
    assert!(a.take().is_empty(), "nothing announced one by one");
    r.announce_presence();
    assert_eq!(
        text(&a.take()),
        ["* 5 joined, 2 left in the last second (5 online)"]
    );
    // Nothing new: no summary.
    r.announce_presence();
    assert!(a.take().is_empty());
    assert_eq!(r.stats().presence, 1);
    // Back at the limit, a leave is announced one by one again.
    for (p, _) in &extra[2..] {
        r.handle(Event::Left(*p, LeaveReason::Quit));
    }
    r.announce_presence();
    r.handle(Event::Left(b, LeaveReason::Quit));
    assert_eq!(
        text(&a.take()),
        [
            "* 0 joined, 3 left in the last second (2 online)",
            "* b left (quit)"
        ]
    );
}

#[test]
fn a_rename_in_a_large_room_is_told_to_the_renamer_only() {
    let mut r = room(1, 64);
    let (_, a) = join(&mut r, "a");
    let (b, bi) = join(&mut r, "b");
    a.take();
    bi.take();
    r.handle(Event::Message(b, ClientMsg::Nick("bee".into())));
    assert!(a.take().is_empty());
    assert_eq!(text(&bi.take()), ["* b is now bee"]);
}

#[test]
fn who_answers_in_pages_oldest_first() {
    let mut r = room(1000, 3);
    let (a, ai) = join(&mut r, "a");
    for n in ["b", "c", "d", "e", "f", "g"] {
        join(&mut r, n);
    }
    ai.take();
    let nicks = |msgs: &[ServerMsg]| -> Vec<String> {
        msgs.iter()
            .flat_map(|m| match m {
                ServerMsg::Members(list) => list.iter().map(|m| m.nick.clone()).collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    r.handle(Event::Message(a, ClientMsg::Who));
    let page1 = ai.take();
    assert_eq!(nicks(&page1), ["a", "b", "c"]);
    assert_eq!(
        text(&page1).last().map(String::as_str),
        Some("* 7 online, page 1 of 3: /who 2 for more")
    );
    r.handle(Event::Message(a, ClientMsg::WhoPage(3)));
    let page3 = ai.take();
    assert_eq!(nicks(&page3), ["g"]);
    assert_eq!(
        text(&page3).last().map(String::as_str),
        Some("* 7 online, page 3 of 3")
    );
    // Past the end: the last page.
    r.handle(Event::Message(a, ClientMsg::WhoPage(99)));
    assert_eq!(nicks(&ai.take()), ["g"]);
}

#[test]
fn who_pages_are_split_into_messages_that_fit_a_datagram() {
    let mut r = room(1000, 40);
    let (a, ai) = join(&mut r, "a");
    for i in 0..50 {
        join(&mut r, &format!("m{i}"));
    }
    ai.take();
    r.handle(Event::Message(a, ClientMsg::Who));
    let sizes: Vec<usize> = ai
        .take()
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Members(list) => Some(list.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [WHO_CHUNK, WHO_CHUNK, 40 - 2 * WHO_CHUNK]);
}

#[tokio::test(start_paused = true)]
async fn the_running_room_sums_up_a_burst_of_joins_each_period() {
    let (tx, rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(room(1, 64).run(rx, shutdown.clone()));
    let (a, ai) = (PeerId::next(), Inbox::default());
    let joined = |peer, sink: Inbox| Event::Joined {
        peer,
        info: PeerInfo {
            proto: Proto::Udp,
            addr: ([127, 0, 0, 1], 9).into(),
            format: Format::Text,
        },
        nick: None,
        sink: Box::new(sink),
    };
    tx.send(joined(a, ai.clone())).await.expect("room");
    for _ in 0..10 {
        tx.send(joined(PeerId::next(), Inbox::default()))
            .await
            .expect("room");
    }
    tokio::time::sleep(PRESENCE_EVERY * 2).await;
    shutdown.cancel();
    let stats = task.await.expect("room task");
    assert_eq!(stats.joined, 11);
    let lines = text(&ai.take());
    assert_eq!(
        lines,
        [
            "* you are guest1; 1 online",
            "* 10 joined, 0 left in the last second (11 online)",
            "* disconnected: server shutdown",
        ]
    );
}

// ---- A room across servers: relays and remote members ----------------------------------

fn cluster_room(server: &str, announce_limit: usize) -> Room {
    Room::new(RoomConfig {
        announce_limit,
        server: Some(server.into()),
        ..Default::default()
    })
}

fn relay(room: &mut Room) -> (PeerId, Inbox) {
    let peer = PeerId::next();
    let inbox = Inbox::default();
    room.handle(Event::Relay {
        peer,
        sink: Box::new(inbox.clone()),
    });
    (peer, inbox)
}

fn remote(room: &mut Room, via: PeerId, server: &str, nick: &str) -> PeerId {
    let peer = PeerId::next();
    room.handle(Event::Remote {
        peer,
        via,
        server: server.into(),
        proto: Proto::Udp,
        nick: nick.into(),
    });
    peer
}

fn say(peer: PeerId, seq: u64, text: &str) -> Event {
    let (sent_us, text) = (seq * 10, text.into());
    Event::Message(peer, ClientMsg::Say { seq, sent_us, text })
}

#[test]
fn a_relay_carries_what_is_said_here_once_and_never_back_what_it_brought() {
    let mut r = cluster_room("s1", 100);
    let (via, out) = relay(&mut r);
    let (a, a_in) = join(&mut r, "a");
    let b = remote(&mut r, via, "s2", "b");
    assert_eq!(text(&out.take()), ["* a joined (tcp)"]);
    r.handle(say(a, 1, "hi"));
    r.handle(say(b, 7, "hello"));
    r.handle(Event::Left(b, LeaveReason::ServerLost("s2".into())));
    assert_eq!(
        text(&out.take()),
        ["a: hi"],
        "b's line and leave are not relayed back"
    );
    let got = a_in.take();
    assert!(got.contains(&ServerMsg::Chat {
        from: "b".into(),
        seq: 7,
        sent_us: 70,
        text: "hello".into()
    }));
    assert_eq!(
        text(&got)[1..],
        [
            "* b joined (udp)",
            "b: hello",
            "* b left (its server s2 went silent)"
        ]
    );
    assert_eq!(
        r.stats().delivered,
        1,
        "only a, here, was delivered b's line"
    );
}

#[test]
fn a_relay_hears_every_join_even_where_the_room_sums_them_up() {
    let mut r = cluster_room("s1", 1);
    let (_, out) = relay(&mut r);
    let (_, a_in) = join(&mut r, "a");
    join(&mut r, "b");
    join(&mut r, "c");
    assert_eq!(
        text(&out.take()),
        ["* a joined (tcp)", "* b joined (tcp)", "* c joined (tcp)"]
    );
    r.announce_presence();
    assert_eq!(
        text(&a_in.take()),
        [
            "* you are a; 1 online",
            "* 2 joined, 0 left in the last second (3 online)"
        ]
    );
    assert!(out.take().is_empty(), "a summary is not relayed");
}

#[test]
fn a_nickname_given_twice_goes_to_the_server_that_sorts_first() {
    // Here is s2; its alice and s1's alice joined at once.
    let mut r = cluster_room("s2", 100);
    let (via, out) = relay(&mut r);
    let (alice, alice_in) = join(&mut r, "alice");
    out.take();
    let theirs = remote(&mut r, via, "s1", "alice");
    assert!(text(&alice_in.take()).contains(&"* alice is now alice2".to_string()));
    assert_eq!(text(&out.take()), ["* alice is now alice2"]);
    // s2's bob meets s3's bob: s2 sorts first, s3's member is renamed here (and by s3).
    let (_, bob_here) = join(&mut r, "bob");
    let bob = remote(&mut r, via, "s3", "bob");
    assert_eq!(text(&bob_here.take())[1], "* bob2 joined (udp)");
    r.handle(Event::Message(theirs, ClientMsg::Nick("alice".into())));
    r.handle(Event::Message(bob, ClientMsg::Nick("bob2".into())));
    r.handle(Event::Message(alice, ClientMsg::Who));
    let who = text(&alice_in.take());
    let who = who.iter().find(|l| l.starts_with("* online:")).cloned();
    assert_eq!(
        who.as_deref(),
        Some("* online: alice2 (tcp on s2, 0s), alice (udp on s1, 0s), bob (tcp on s2, 0s), bob2 (udp on s3, 0s)")
    );
}

#[test]
fn a_notice_goes_to_members_here_and_a_detached_relay_takes_its_members() {
    let mut r = cluster_room("s1", 100);
    let (via, out) = relay(&mut r);
    let (_, a_in) = join(&mut r, "a");
    remote(&mut r, via, "s2", "b");
    out.take();
    a_in.take();
    r.handle(Event::Notice("cluster link lost".into()));
    r.handle(Event::Left(via, LeaveReason::Closed));
    assert_eq!(
        text(&a_in.take()),
        ["* cluster link lost", "* b left (closed)"]
    );
    assert!(out.take().is_empty());
    assert_eq!(r.len(), 1);
}
