//! `nettool bench stream` as a user runs it: the UDP row also carries the highest rate
//! with (near) zero loss (table, JSON, chart), and the charts carry their loss figure,
//! y-axis title and maxima; fan-out plots latency and CPU per delivery.

#[tokio::test]
async fn stream_reports_the_zero_loss_rate_in_json_and_charts() {
    let dir = std::env::temp_dir().join(format!("nettool-charts-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let args = [
        "bench",
        "stream",
        "rtt",
        "fanout",
        "--proto",
        "tcp,udp",
        "--duration",
        "300ms",
        "--clients",
        "3",
        "--msg-rate",
        "50",
        "--json",
        "--plot",
        d,
    ];
    let v = crate::process::bench_json(&args).await;
    let udp = &v["stream"]["udp"];
    let z = &udp["zero_loss"];
    assert_eq!(z["max_loss_pct"], 0.1, "{z}");
    let trials = z["trials"].as_u64().unwrap();
    assert!((1..=6).contains(&trials), "{z}");
    assert_eq!(z["trial_ms"], 200);
    // Never above what the unpaced run sent, and a pass is a pass.
    let ceiling = udp["sent_bytes"].as_f64().unwrap() * 8.0 / udp["seconds"].as_f64().unwrap();
    assert!(
        z["rate_bps"].as_f64().unwrap() <= ceiling + 1.0,
        "{z} vs {ceiling}"
    );
    if z["rate_bps"].as_u64().unwrap() > 0 {
        assert!(z["loss_pct"].as_f64().unwrap() <= 0.1, "{z}");
    }
    assert!(
        v["stream"]["tcp"]["zero_loss"].is_null(),
        "TCP has no such search"
    );

    let stream = std::fs::read_to_string(dir.join("stream.svg")).expect("stream.svg");
    assert!(stream.contains("Gbit/s received"), "a y-axis title");
    assert!(stream.contains("% lost"), "the UDP bar carries its loss");
    assert!(stream.contains("UDP at ≤ 0.1 % loss"), "the zero-loss bar");
    let cdf = std::fs::read_to_string(dir.join("rtt_cdf.svg")).expect("rtt_cdf.svg");
    assert!(
        cdf.contains("TCP: max ") && cdf.contains("UDP: max "),
        "the maxima"
    );
    let fanout = std::fs::read_to_string(dir.join("fanout.svg")).expect("fanout.svg");
    assert!(
        fanout.contains("Delivery latency") && fanout.contains("Server CPU per delivery"),
        "fan-out plots what differs, not the offered load"
    );
    assert!(fanout.contains("loss: TCP 0.00 %"), "the loss in the title");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The round-trip chart and JSON carry all four protocols, QUIC's DATAGRAM round trips
/// beside them.
#[tokio::test]
async fn every_protocol_is_charted() {
    let dir = std::env::temp_dir().join(format!("nettool-charts4-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let args = [
        "bench",
        "rtt",
        "--proto",
        "all",
        "--duration",
        "200ms",
        "--json",
        "--plot",
        d,
    ];
    let v = crate::process::bench_json(&args).await;
    for p in ["tcp", "tls", "udp", "quic"] {
        assert!(
            v["rtt"][p]["latency"]["p50_us"].as_f64().unwrap() > 0.0,
            "{p}: {v}"
        );
    }
    assert!(v["rtt_datagrams"]["received"].as_u64().unwrap() > 0, "{v}");
    let svg = std::fs::read_to_string(dir.join("rtt_cdf.svg")).expect("rtt_cdf.svg");
    for name in ["TCP:", "TCP+TLS:", "UDP:", "QUIC:"] {
        assert!(svg.contains(name), "{name} in rtt_cdf.svg");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
