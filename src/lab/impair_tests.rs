//! Deterministic tests of the impairment engine: made-up instants, fixed seeds, exact
//! counts. No sleeps, no wall clock in any assertion.

use super::*;

fn spec(s: &str) -> LinkSpec {
    LinkSpec::parse(s).expect("valid spec")
}

fn pkt(i: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(4)];
    p[..4].copy_from_slice(&i.to_be_bytes());
    p
}

fn id(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[0], p[1], p[2], p[3]])
}

/// Deliver everything due by `at`, as packet ids.
fn drain(e: &mut Engine, at: Instant) -> Vec<u32> {
    let mut out = Vec::new();
    e.deliver_due(at, |p| out.push(id(p)));
    out
}

/// Loss pattern (true = lost) of `n` packets, one per ms.
fn loss_pattern(s: &str, seed: u64, n: u32) -> (Vec<bool>, Counts) {
    let mut e = Engine::new(spec(s), seed);
    let t0 = Instant::now();
    let mut lost = Vec::new();
    for i in 0..n {
        let t = t0 + Duration::from_millis(u64::from(i));
        let before = e.counts().dropped_loss;
        e.submit(t, &pkt(i, 64));
        lost.push(e.counts().dropped_loss > before);
        drain(&mut e, t);
    }
    (lost, *e.counts())
}

#[test]
fn transparent_spec_passes_everything_at_once_in_order() {
    let mut e = Engine::new(spec(""), 1);
    let t0 = Instant::now();
    for i in 0..100 {
        e.submit(t0, &pkt(i, 100));
    }
    assert_eq!(e.next_due(), Some(t0));
    assert_eq!(drain(&mut e, t0), (0..100).collect::<Vec<_>>());
    let c = e.counts();
    assert_eq!((c.received, c.passed, c.delay_sum_ns), (100, 100, 0));
    assert_eq!(e.in_flight(), 0);
    assert_eq!(e.next_due(), None);
}

#[test]
fn independent_loss_exact_count_for_a_seed_and_replays() {
    let (a, ca) = loss_pattern("loss=10%", 42, 10_000);
    let (b, cb) = loss_pattern("loss=10%", 42, 10_000);
    let (c, _) = loss_pattern("loss=10%", 43, 10_000);
    assert_eq!(a, b, "same seed, same pattern");
    assert_ne!(a, c, "another seed, another pattern");
    assert_eq!(ca, cb);
    assert_eq!(ca.dropped_loss, 1_045);
    assert_eq!(ca.passed, 10_000 - 1_045);
    let (_, all) = loss_pattern("loss=100%", 1, 500);
    assert_eq!((all.dropped_loss, all.passed), (500, 0));
}

#[test]
fn gilbert_elliott_bursts_have_the_asked_mean_length_and_rate() {
    let (lost, c) = loss_pattern("loss=5% burst=4", 7, 100_000);
    // Runs of consecutive losses.
    let mut runs = Vec::new();
    let mut run = 0u32;
    for l in lost {
        if l {
            run += 1;
        } else if run > 0 {
            runs.push(run);
            run = 0;
        }
    }
    let mean = f64::from(runs.iter().sum::<u32>()) / runs.len() as f64;
    assert_eq!(c.dropped_loss, 5_051);
    assert_eq!(runs.len(), 1_260);
    assert!((3.5..4.5).contains(&mean), "mean burst {mean}");
}

#[test]
fn delay_is_exact_without_jitter() {
    let mut e = Engine::new(spec("delay=20ms"), 1);
    let t0 = Instant::now();
    e.submit(t0, &pkt(1, 64));
    e.submit(t0 + Duration::from_millis(1), &pkt(2, 64));
    assert_eq!(e.next_due(), Some(t0 + Duration::from_millis(20)));
    assert!(drain(&mut e, t0 + Duration::from_micros(19_999)).is_empty());
    assert_eq!(drain(&mut e, t0 + Duration::from_millis(20)), vec![1]);
    assert_eq!(drain(&mut e, t0 + Duration::from_millis(21)), vec![2]);
    assert_eq!(e.counts().mean_delay_ms(), 20.0);
}

#[test]
fn jitter_stays_within_bounds_and_never_reorders() {
    let mut e = Engine::new(spec("delay=10ms jitter=2ms seed=3"), 3);
    let t0 = Instant::now();
    let mut dues = Vec::new();
    for i in 0..1000u32 {
        // 10 ms apart: wider than the jitter spread, so no FIFO clamping.
        let t = t0 + Duration::from_millis(10 * u64::from(i));
        e.submit(t, &pkt(i, 64));
        let due = e.next_due().expect("one packet held");
        let added = due - t;
        assert!(added >= Duration::from_millis(8) && added <= Duration::from_millis(12));
        dues.push(added);
        assert_eq!(drain(&mut e, due), vec![i]);
    }
    dues.sort();
    assert!(dues[0] < Duration::from_micros(8_100), "low end reached");
    assert!(
        dues[999] > Duration::from_micros(11_900),
        "high end reached"
    );

    // Back to back: jitter may not let a packet overtake the one in front.
    let mut e = Engine::new(spec("delay=10ms jitter=5ms"), 9);
    for i in 0..200u32 {
        e.submit(t0 + Duration::from_micros(u64::from(i)), &pkt(i, 64));
    }
    let got = drain(&mut e, t0 + Duration::from_secs(1));
    assert_eq!(got, (0..200).collect::<Vec<_>>());
    assert_eq!(e.counts().reordered, 0);
}

#[test]
fn reorder_holds_a_packet_behind_the_next() {
    let mut e = Engine::new(spec("reorder=100%"), 1);
    let t0 = Instant::now();
    for i in 0..4u32 {
        e.submit(t0 + Duration::from_millis(u64::from(i)), &pkt(i, 64));
    }
    // 0 held, 1 overtakes it; 2 held, 3 overtakes it.
    assert_eq!(
        drain(&mut e, t0 + Duration::from_millis(3)),
        vec![1, 0, 3, 2]
    );
    assert_eq!(e.counts().reordered, 2);
    // A held packet with no successor leaves REORDER_WAIT after its due time.
    e.submit(t0 + Duration::from_millis(5), &pkt(9, 64));
    let release = t0 + Duration::from_millis(5) + REORDER_WAIT;
    assert_eq!(e.next_due(), Some(release));
    assert!(drain(&mut e, release - Duration::from_nanos(1)).is_empty());
    assert_eq!(drain(&mut e, release), vec![9]);
    assert_eq!(e.counts().reordered, 2);
}

#[test]
fn dup_sends_each_packet_twice() {
    let mut e = Engine::new(spec("dup=100%"), 1);
    let t0 = Instant::now();
    for i in 0..3u32 {
        e.submit(t0, &pkt(i, 64));
    }
    assert_eq!(drain(&mut e, t0), vec![0, 0, 1, 1, 2, 2]);
    let c = e.counts();
    assert_eq!((c.passed, c.duplicated), (3, 3));
}

#[test]
fn rate_queue_drops_at_its_packet_limit() {
    // 8 Mbit/s: a 1000-byte packet takes exactly 1 ms.
    let mut e = Engine::new(spec("rate=8mbit queue=3"), 1);
    let t0 = Instant::now();
    for i in 0..10u32 {
        e.submit(t0, &pkt(i, 1000));
    }
    // One on the wire, three waiting, six dropped.
    let c = *e.counts();
    assert_eq!((c.passed, c.dropped_queue), (4, 6));
    assert_eq!(e.next_due(), Some(t0 + Duration::from_millis(1)));
    assert_eq!(drain(&mut e, t0 + Duration::from_millis(2)), vec![0, 1]);
    assert_eq!(drain(&mut e, t0 + Duration::from_millis(4)), vec![2, 3]);
    // Drained: room again. At 2.5 ms only packet 3 is still waiting, so two more fit.
    let mut e2 = Engine::new(spec("rate=8mbit queue=3"), 1);
    for i in 0..4u32 {
        e2.submit(t0, &pkt(i, 1000));
    }
    let t = t0 + Duration::from_micros(2_500);
    e2.submit(t, &pkt(4, 1000)); // waiting: 3 (starts at 3 ms) and 4
    e2.submit(t, &pkt(5, 1000)); // waiting: 3, 4 and 5
    e2.submit(t, &pkt(6, 1000)); // full
    assert_eq!(e2.counts().dropped_queue, 1);
    assert_eq!(
        drain(&mut e2, t0 + Duration::from_millis(6)),
        vec![0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn rate_queue_in_bytes() {
    let mut e = Engine::new(spec("rate=8mbit queue=2500b"), 1);
    let t0 = Instant::now();
    for i in 0..5u32 {
        e.submit(t0, &pkt(i, 1000));
    }
    // On the wire: 0; waiting: 1 and 2 (2000 bytes); 3 would make 3000.
    assert_eq!(e.counts().passed, 3);
    assert_eq!(e.counts().dropped_queue, 2);
    // Mean added delay: 1, 2 and 3 ms.
    assert_eq!(e.counts().mean_delay_ms(), 2.0);
}

#[test]
fn hard_cap_bounds_memory() {
    let mut e = Engine::new(spec("delay=1s"), 1);
    let t0 = Instant::now();
    for i in 0..(MAX_PACKETS as u32 + 5) {
        e.submit(t0, &pkt(i, 16));
    }
    assert_eq!(e.in_flight(), MAX_PACKETS);
    assert_eq!(e.counts().dropped_queue, 5);
    assert_eq!(
        drain(&mut e, t0 + Duration::from_secs(1)).len(),
        MAX_PACKETS
    );
    assert_eq!(e.in_flight(), 0);
}

#[test]
fn garbage_and_empty_packets_are_just_bytes() {
    let mut e = Engine::new(spec("delay=1ms dup=50% reorder=50% seed=5"), 5);
    let t0 = Instant::now();
    for len in [0usize, 1, 3, 20, 9000] {
        e.submit(t0, &vec![0xff; len]);
    }
    let mut lens = Vec::new();
    e.deliver_due(t0 + Duration::from_secs(1), |p| lens.push(p.len()));
    let c = e.counts();
    assert_eq!(lens.len() as u64, c.passed + c.duplicated);
}
