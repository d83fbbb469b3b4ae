use super::*;
use crate::lab::Counts;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::{Block, PcapNgReader};

fn tcp_packet(payload: usize) -> Vec<u8> {
    let total = 40 + payload;
    let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 6];
    p.resize(20, 0);
    p.resize(40, 0);
    p[32] = 5 << 4;
    p.resize(total, 0x5a);
    p
}

fn cfg(path: PathBuf, max_bytes: u64) -> CaptureConfig {
    CaptureConfig {
        path,
        snaplen: None,
        max_bytes,
    }
}

fn start(c: &CaptureConfig) -> Capture {
    let specs = ["loss=1%".to_string(), "".to_string()];
    Capture::start(c, "test link", specs, false).unwrap()
}

/// (direction flags, original length, captured length, comment) of every packet.
fn packets(path: &std::path::Path) -> Vec<(u32, u32, usize, Option<String>)> {
    let file = std::fs::File::open(path).unwrap();
    let mut r = PcapNgReader::new(file).unwrap();
    let mut out = Vec::new();
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(p) = b.unwrap() {
            let c = p.options.iter().find_map(|o| match o {
                EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                _ => None,
            });
            assert_eq!(p.interface_id, 0);
            let flags = p.options.iter().find_map(|o| match o {
                EnhancedPacketOption::Flags(f) => Some(*f),
                _ => None,
            });
            out.push((flags.unwrap(), p.original_len, p.data.len(), c));
        }
    }
    out
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nettool-pcap-{}-{name}.pcapng", std::process::id()))
}

#[test]
fn packets_are_written_in_time_order_with_the_labs_verdicts() {
    let path = temp("verdicts");
    let cap = start(&cfg(path.clone(), DEFAULT_MAX_BYTES));
    let (up, down) = (cap.tap(0), cap.tap(1));
    let t = Instant::now();
    let ms = Duration::from_millis;
    up.record(t, &tcp_packet(1000), Some(Verdict::Lost));
    down.record(t + ms(1), &tcp_packet(0), None);
    up.record(
        t + ms(2),
        &tcp_packet(1000),
        Some(Verdict::Passed {
            held: false,
            duplicated: true,
        }),
    );
    up.record(t + ms(3), &tcp_packet(10), Some(Verdict::QueueFull));
    let s = cap.finish(LinkCounts {
        uplink: Counts {
            received: 3,
            dropped_loss: 1,
            dropped_queue: 1,
            ..Counts::default()
        },
        downlink: Counts::default(),
    });
    assert_eq!((s.packets, s.dropped, s.duplicated, s.missed), (4, 2, 1, 0));
    assert_eq!(s.stopped, None);
    let p = packets(&path);
    assert_eq!(p.len(), 4);
    assert_eq!(
        p[0],
        (
            1,
            1040,
            40 + PAYLOAD_KEPT,
            Some("nettool lab: dropped (loss)".into())
        )
    );
    assert_eq!(p[1], (2, 40, 40, None), "outbound");
    assert_eq!(p[2].3.as_deref(), Some("nettool lab: duplicated"));
    assert_eq!(p[3].3.as_deref(), Some("nettool lab: dropped (queue full)"));
    assert_eq!(s.bytes, std::fs::metadata(&path).unwrap().len());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn at_the_size_cap_the_capture_stops_and_the_file_stays_readable() {
    let path = temp("cap");
    let cap = start(&cfg(path.clone(), 2_000));
    let tap = cap.tap(0);
    let t = Instant::now();
    for i in 0..100u32 {
        tap.record(t + Duration::from_micros(i.into()), &tcp_packet(500), None);
    }
    let s = cap.finish(LinkCounts::default());
    assert!(s.stopped.as_deref().unwrap().contains("size cap"), "{s:?}");
    assert!(s.packets > 0 && s.packets < 100, "{s:?}");
    assert_eq!(packets(&path).len() as u64, s.packets);
    assert!(std::fs::metadata(&path).unwrap().len() <= 2_000);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_unwritable_path_fails_at_the_start_naming_it() {
    let c = cfg("/nonexistent-dir/x.pcapng".into(), DEFAULT_MAX_BYTES);
    let e = Capture::start(&c, "l", [String::new(), String::new()], false).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("capture file /nonexistent-dir/x.pcapng: "),
        "{e}"
    );
}

#[test]
fn a_fixed_snap_length_and_offload_headers() {
    let path = temp("snap");
    let c = CaptureConfig {
        snaplen: Some(24),
        ..cfg(path.clone(), DEFAULT_MAX_BYTES)
    };
    let cap = Capture::start(&c, "l", [String::new(), String::new()], true).unwrap();
    let mut with_vnet = vec![0u8; tun_rs::VIRTIO_NET_HDR_LEN];
    with_vnet.extend(tcp_packet(3000));
    cap.tap(1).record(Instant::now(), &with_vnet, None);
    cap.finish(LinkCounts::default());
    assert_eq!(packets(&path), vec![(2, 3040, 24, None)]);
    let _ = std::fs::remove_file(&path);
}
