//! Criterion bench of a room broadcast to N in-memory members (half binary, half text):
//! the room's own cost per delivery, encode-once included, without sockets.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nettool::chat::room::{Room, RoomConfig};
use nettool::transport::{Close, Event, Format, PeerId, PeerInfo, PeerSink, SendError};
use nettool::wire::outgoing::Form;
use nettool::wire::{ClientMsg, Outgoing, Proto};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A member that counts what it is handed, as a transport's queue would take it.
struct CountingSink(Arc<AtomicU64>, Form);

impl PeerSink for CountingSink {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        // Touch the bytes, as a real sink does, so the encode-once cost is counted.
        let n = msg.bytes(self.1).map_or(0, |b| b.len());
        self.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(())
    }
    fn close(&self, _: Close) {}
}

fn room_broadcast(c: &mut Criterion) {
    let mut g = c.benchmark_group("room_broadcast");
    for members in [10usize, 100, 1000] {
        let counter = Arc::new(AtomicU64::new(0));
        let mut room = Room::new(RoomConfig {
            max_members: members + 1,
            ..Default::default()
        });
        let mut first = None;
        for i in 0..members {
            let peer = PeerId::next();
            first.get_or_insert(peer);
            let (format, form) = if i % 2 == 0 {
                (Format::Binary, Form::Frame)
            } else {
                (Format::Text, Form::Line)
            };
            room.handle(Event::Joined {
                peer,
                info: PeerInfo {
                    proto: Proto::Tcp,
                    addr: ([127, 0, 0, 1], 1000 + i as u16).into(),
                    format,
                },
                nick: Some(format!("m{i}")),
                sink: Box::new(CountingSink(counter.clone(), form)),
            });
        }
        let sender = first.expect("members");
        let mut seq = 0;
        g.throughput(Throughput::Elements(members as u64 - 1));
        g.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, _| {
            b.iter(|| {
                seq += 1;
                room.handle(Event::Message(
                    sender,
                    ClientMsg::Say {
                        seq,
                        sent_us: 0,
                        text: "hello, room".into(),
                    },
                ));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, room_broadcast);
criterion_main!(benches);
