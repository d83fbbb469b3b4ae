use super::*;

fn tcp(bytes: u64, retrans: u64, sent: u64, cwnd: u64) -> Cum {
    Cum {
        bytes,
        cc: Some(CcSample {
            source: "TCP_INFO",
            retransmits: retrans,
            spurious: Some(0),
            sent,
            acked_bytes: Some(bytes),
            cwnd_bytes: cwnd,
            srtt_us: 20_000,
            rttvar_us: Some(1_000),
            delivery_rate_bps: Some(8_000_000),
        }),
        ..Cum::default()
    }
}

fn udp(received: u64, highest: u64, reordered: u64) -> Cum {
    Cum {
        bytes: received * 1000,
        dgram: Some(DgramCum {
            received,
            highest,
            reordered,
            jitter_ns: 250_000,
        }),
        ..Cum::default()
    }
}

fn recorder(every_ms: u64, samples: bool) -> Recorder {
    let cfg = IntervalConfig {
        every: Some(Duration::from_millis(every_ms)),
        samples,
        lines: None,
    };
    Recorder::new(&cfg, "stream", Proto::Tcp).unwrap()
}

#[test]
fn nothing_asked_nothing_recorded() {
    assert!(Recorder::new(&IntervalConfig::default(), "stream", Proto::Tcp).is_none());
}

#[test]
fn tcp_intervals_are_differences_and_add_up_to_the_totals() {
    let mut r = recorder(1000, false);
    r.record(1, tcp(1_000, 2, 100, 50_000));
    r.record(2, tcp(3_000, 2, 300, 80_000));
    r.finish(tcp(3_500, 5, 350, 10_000));
    let iv = &r.intervals;
    assert_eq!(iv.len(), 3);
    assert_eq!((iv[0].start, iv[0].end, iv[1].start), (0.0, 1.0, 1.0));
    let retr: Vec<u64> = iv.iter().map(|i| i.cc.unwrap().retransmits).collect();
    assert_eq!(retr, [2, 0, 3]);
    assert_eq!(iv.iter().map(|i| i.bytes).sum::<u64>(), 3_500);
    assert_eq!(iv[1].bits_per_second, 16_000.0);
    assert_eq!(
        iv[1].cc.unwrap().snd_cwnd,
        80_000,
        "a gauge is the interval's last"
    );
    assert_eq!(iv[2].cc.unwrap().segments_sent, 50);
    assert!(r.samples.is_empty());
}

#[test]
fn udp_loss_is_counted_at_the_receiver_and_a_late_arrival_gives_it_back() {
    let mut r = recorder(1000, false);
    // 100 expected, 95 came: 5 missing.
    r.record(1, udp(95, 100, 0));
    // One of those five arrives late, 100 more expected and all came.
    r.record(2, udp(196, 200, 1));
    // At the end: 250 were sent, 240 came.
    r.finish(udp(240, 250, 1));
    let d: Vec<DgramInterval> = r.intervals.iter().map(|i| i.datagrams.unwrap()).collect();
    assert_eq!(d[0].lost_packets, 5);
    assert_eq!((d[0].packets, d[0].lost_percent), (100, 5.0));
    assert_eq!(d[1].lost_packets, -1);
    assert_eq!(d[1].out_of_order, 1);
    assert_eq!(d[2].lost_packets, 6);
    assert_eq!(
        d.iter().map(|d| d.lost_packets).sum::<i64>(),
        10,
        "= 250 - 240"
    );
    assert_eq!(d[0].jitter_ms, 0.25);
}

#[test]
fn a_missing_tick_merges_two_intervals_and_a_stale_one_is_ignored() {
    let mut r = recorder(1000, false);
    r.record(2, udp(200, 200, 0));
    r.record(1, udp(100, 100, 0));
    r.finish(udp(250, 250, 0));
    assert_eq!(r.intervals.len(), 2);
    assert_eq!((r.intervals[0].start, r.intervals[0].end), (0.0, 2.0));
    assert_eq!(r.intervals[0].seconds, 2.0);
}

#[test]
fn with_samples_intervals_span_several_ticks() {
    let mut r = recorder(300, true);
    assert_eq!(r.step, Duration::from_millis(100));
    for k in 1..=6 {
        r.record(k, tcp(k * 10, 0, k, 1));
    }
    assert_eq!(r.samples.len(), 6);
    assert_eq!(r.intervals.len(), 2);
    assert_eq!(r.intervals[1].bytes, 30);
    assert!((r.intervals[1].end - 0.6).abs() < 1e-9);
}

#[test]
fn due_ticks_skip_what_was_missed_but_not_an_interval_end() {
    let mut r = recorder(300, true);
    let t0 = r.start;
    assert_eq!(r.due(t0), None);
    assert_eq!(r.due(t0 + Duration::from_millis(100)), Some(1));
    // Busy until 0.75 s: ticks 2..7 missed, but tick 3 ends an interval.
    assert_eq!(r.due(t0 + Duration::from_millis(750)), Some(3));
    // Then up to the next interval's end at most.
    assert_eq!(r.due(t0 + Duration::from_millis(760)), Some(6));
    assert_eq!(r.due(t0 + Duration::from_millis(760)), Some(7));
}

#[test]
fn lines_go_out_as_intervals_end_with_a_header_first() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s = seen.clone();
    let cfg = IntervalConfig {
        every: Some(Duration::from_secs(1)),
        samples: false,
        lines: Some(LineSink(Arc::new(move |l: &str| {
            s.lock().unwrap().push(l.to_string())
        }))),
    };
    let mut r = Recorder::new(&cfg, "stream", Proto::Tcp).unwrap();
    r.record(1, tcp(125_000, 3, 100, 86_900));
    let lines = seen.lock().unwrap().clone();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("stream over tcp, every 1s (TCP_INFO"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("stream tcp     0.00-1.00 s"),
        "{}",
        lines[1]
    );
    for want in [
        "1.0 Mbit/s",
        "retr      3 (3.00 %)",
        "cwnd   86.9 KB",
        "srtt  20.00 ms ± 1.00 ms  delivery",
        "delivery 8.0 Mbit/s",
    ] {
        assert!(lines[1].contains(want), "{want} in {}", lines[1]);
    }
}

#[test]
fn json_uses_iperf3_names_and_leaves_out_what_does_not_apply() {
    let mut r = recorder(1000, false);
    r.record(1, udp(95, 100, 0));
    let v = serde_json::to_value(&r.intervals[0]).unwrap();
    for k in [
        "start",
        "end",
        "seconds",
        "bytes",
        "bits_per_second",
        "packets",
        "lost_packets",
        "lost_percent",
        "out_of_order",
        "jitter_ms",
    ] {
        assert!(v.get(k).is_some(), "{k} in {v}");
    }
    assert!(
        v.get("retransmits").is_none() && v.get("round_trips").is_none(),
        "{v}"
    );
}
