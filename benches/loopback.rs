//! Criterion bench of a 64-byte loopback round trip per protocol against the in-process
//! echo server (the same loop as `nettool bench rtt`).

use criterion::{criterion_group, criterion_main, Criterion};
use nettool::wire::Proto;

fn loopback_round_trip(c: &mut Criterion) {
    use nettool::bench::rtt::{self, RttConfig};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(nettool::echo::Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            &[Proto::Tcp, Proto::Udp],
            Default::default(),
        ))
        .unwrap();
    let addr = server.local_addr();
    let shutdown = tokio_util::sync::CancellationToken::new();
    rt.spawn(server.run(shutdown.clone()));
    let mut g = c.benchmark_group("loopback_round_trip_64B");
    for proto in [Proto::Tcp, Proto::Udp] {
        g.bench_function(proto.to_string(), |b| {
            b.iter_custom(|iters| {
                let cfg = RttConfig {
                    addr,
                    proto,
                    size: 64,
                    warmup: 10,
                    count: iters,
                    duration: std::time::Duration::from_secs(60),
                    timeout: std::time::Duration::from_secs(1),
                    secure: Default::default(),
                    datagrams: false,
                    intervals: Default::default(),
                };
                // Only the round trips count, not connecting or warming up.
                let r = rtt::run(&cfg).unwrap();
                assert_eq!(r.received, iters);
                std::time::Duration::from_nanos((r.hist.mean() * iters as f64) as u64)
            })
        });
    }
    g.finish();
    shutdown.cancel();
}

criterion_group!(benches, loopback_round_trip);
criterion_main!(benches);
