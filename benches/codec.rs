//! Criterion benches of the wire codecs on a chat message: binary frame, UDP datagram,
//! text line, and decoding.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nettool::wire::{binary, text, ServerMsg};
use std::hint::black_box;

fn chat_msg() -> ServerMsg {
    ServerMsg::Chat {
        from: "alice".into(),
        seq: 123_456,
        sent_us: 1_732_000_000_000_000,
        text: "the quick brown fox jumps over the lazy dog".into(),
    }
}

fn codecs(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    let msg = chat_msg();
    g.bench_function("encode_frame", |b| {
        b.iter(|| binary::encode_frame(black_box(&msg)).unwrap())
    });
    g.bench_function("encode_datagram", |b| {
        b.iter(|| binary::encode_datagram(black_box(&msg)).unwrap())
    });
    g.bench_function("render_line", |b| b.iter(|| text::render(black_box(&msg))));
    let frame = binary::encode(&msg).unwrap();
    g.bench_function("decode_binary", |b| {
        b.iter(|| binary::decode::<ServerMsg>(black_box(&frame)).unwrap())
    });
    let mut seq = 0;
    g.bench_function("parse_line", |b| {
        b.iter(|| text::parse_line(black_box("hello there, everyone"), &mut seq))
    });
    g.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
