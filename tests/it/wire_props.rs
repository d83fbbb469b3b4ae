//! Property tests of the wire codecs: every message round-trips through both binary
//! forms (TCP frames split at any byte boundary, UDP datagrams), text lines parse to the
//! expected message, a rendered line is one harmless line, and no decoder panics or
//! buffers without bound on arbitrary bytes. 256 cases per property by default;
//! `PROPTEST_CASES` overrides.

use bytes::BytesMut;
use nettool::wire::binary::{self, FrameCodec, WireError, MAX_MESSAGE};
use nettool::wire::testing::{self, with_length};
use nettool::wire::text::{self, LineCodec};
use nettool::wire::{ClientMsg, LeaveReason, MemberInfo, Proto, Refusal, ServerMsg};
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

// ---- Strategies -----------------------------------------------------------------------
//
// One strategy per enum, one `prop_oneof!` arm per variant. ADDING A VARIANT to
// `ClientMsg`, `ServerMsg` or `LeaveReason` is one line in its strategy below; the
// `*_variant` functions further down have no wildcard arm, so the compiler points here
// whenever a variant is added and not yet covered.

/// Any string: arbitrary unicode, control characters and line breaks included.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9 ]{0,12}",
        "[\\x00-\\x1f\\x7f\u{85}\u{2028}a/]{0,8}",
        "\\PC{0,300}",
    ]
}

/// A u64 from anywhere in its range, edges weighted.
fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), Just(0), Just(u64::MAX), 0u64..300]
}

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)]
}

fn leave_reason() -> impl Strategy<Value = LeaveReason> {
    prop_oneof![
        Just(LeaveReason::Quit),
        Just(LeaveReason::Closed),
        Just(LeaveReason::Reset),
        Just(LeaveReason::TimedOut),
        Just(LeaveReason::TooSlow),
        Just(LeaveReason::Shutdown),
        any_text().prop_map(LeaveReason::BadInput),
        any_text().prop_map(LeaveReason::Error),
        // New LeaveReason variant: add its arm here.
    ]
}

fn member_info() -> impl Strategy<Value = MemberInfo> {
    (any_text(), proto(), any_u64()).prop_map(|(nick, proto, online_s)| MemberInfo {
        nick,
        proto,
        online_s,
    })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        proptest::option::of(any_text()).prop_map(|nick| ClientMsg::Hello { nick }),
        (any_u64(), any_u64(), any_text()).prop_map(|(seq, sent_us, text)| ClientMsg::Say {
            seq,
            sent_us,
            text
        }),
        any_text().prop_map(ClientMsg::Nick),
        Just(ClientMsg::Who),
        any::<u32>().prop_map(ClientMsg::WhoPage),
        any_u64().prop_map(|t_us| ClientMsg::Ping { t_us }),
        Just(ClientMsg::Bye),
        // New ClientMsg variant: add its arm here.
    ]
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    prop_oneof![
        (any_text(), proto(), any::<u32>(), any_u64()).prop_map(
            |(nick, proto, members, keepalive_ms)| ServerMsg::Welcome {
                nick,
                proto,
                members,
                keepalive_ms
            }
        ),
        (any_text(), any_u64(), any_u64(), any_text()).prop_map(|(from, seq, sent_us, text)| {
            ServerMsg::Chat {
                from,
                seq,
                sent_us,
                text,
            }
        }),
        (any_text(), proto()).prop_map(|(nick, proto)| ServerMsg::Joined { nick, proto }),
        (any_text(), leave_reason()).prop_map(|(nick, reason)| ServerMsg::Left { nick, reason }),
        (any_text(), any_text()).prop_map(|(old, new)| ServerMsg::Renamed { old, new }),
        vec(member_info(), 0..20).prop_map(ServerMsg::Members),
        any_u64().prop_map(|t_us| ServerMsg::Pong { t_us }),
        any_text().prop_map(ServerMsg::Error),
        leave_reason().prop_map(|reason| ServerMsg::Bye { reason }),
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(joined, left, online)| {
            ServerMsg::Presence {
                joined,
                left,
                online,
            }
        }),
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(page, pages, online)| {
            ServerMsg::WhoPage {
                page,
                pages,
                online,
            }
        }),
        refusal().prop_map(ServerMsg::Refused),
        any_u64().prop_map(|count| ServerMsg::Dropped { count }),
        any_text().prop_map(|code| ServerMsg::Challenge { code }),
        (any_u64(), any_text()).prop_map(|(idle_ms, code)| ServerMsg::Expired { idle_ms, code }),
        any_u64().prop_map(|in_ms| ServerMsg::IdleWarning { in_ms }),
        // New ServerMsg variant: add its arm here.
    ]
}

fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        any_u64().prop_map(|max| Refusal::ServerFull { max }),
        Just(Refusal::RoomFull),
        Just(Refusal::PreambleTimedOut),
        Just(Refusal::BadPreamble),
        // New Refusal variant: add its arm here.
    ]
}

/// Exhaustive on purpose (no `_` arm): a new variant fails to compile here until its
/// strategy arm above exists.
fn client_variant(m: &ClientMsg) -> &'static str {
    match m {
        ClientMsg::Hello { .. } => "Hello",
        ClientMsg::Say { .. } => "Say",
        ClientMsg::Nick(_) => "Nick",
        ClientMsg::Who => "Who",
        ClientMsg::Ping { .. } => "Ping",
        ClientMsg::Bye => "Bye",
        ClientMsg::WhoPage(_) => "WhoPage",
    }
}

/// See [`client_variant`].
fn server_variant(m: &ServerMsg) -> &'static str {
    match m {
        ServerMsg::Welcome { .. } => "Welcome",
        ServerMsg::Chat { .. } => "Chat",
        ServerMsg::Joined { .. } => "Joined",
        ServerMsg::Left { .. } => "Left",
        ServerMsg::Renamed { .. } => "Renamed",
        ServerMsg::Members(_) => "Members",
        ServerMsg::Pong { .. } => "Pong",
        ServerMsg::Error(_) => "Error",
        ServerMsg::Bye { .. } => "Bye",
        ServerMsg::Presence { .. } => "Presence",
        ServerMsg::WhoPage { .. } => "WhoPage",
        ServerMsg::Refused(_) => "Refused",
        ServerMsg::Dropped { .. } => "Dropped",
        ServerMsg::Challenge { .. } => "Challenge",
        ServerMsg::Expired { .. } => "Expired",
        ServerMsg::IdleWarning { .. } => "IdleWarning",
    }
}

/// Split points for a byte stream: chunk lengths, cycled (0 would stall, so 1 at least).
fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![1]),
        vec(1usize..64, 1..16),
        vec(1usize..4096, 1..4)
    ]
}

/// What a decoder yielded for a stream: its items, then a stream error if one ended it.
type Fed<C> = Vec<Result<<C as Decoder>::Item, <C as Decoder>::Error>>;

/// Feed `bytes` to `codec` in chunks ([`testing::feed`]): every item, then a stream
/// error if one ended it, and the most the codec's buffer ever held.
fn feed<C: Decoder>(codec: &mut C, bytes: &[u8], chunks: &[usize]) -> (Fed<C>, usize) {
    let mut items = Vec::new();
    let high = testing::feed(codec, bytes, chunks, |item| items.push(item));
    (items, high)
}

/// Frames of `msgs` concatenated, encoded by the codec's own encoder.
fn frames_of<T: serde::Serialize + Clone>(msgs: &[T]) -> Vec<u8> {
    let mut codec = FrameCodec::<(), T>::new(MAX_MESSAGE);
    let mut dst = BytesMut::new();
    for m in msgs {
        codec.encode(m.clone(), &mut dst).expect("encode frame");
    }
    dst.to_vec()
}

/// Decoded messages of a frame stream, or a description of the first failure.
fn decode_frames<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    chunks: &[usize],
) -> Result<Vec<T>, String> {
    let mut codec = FrameCodec::<T, ()>::new(MAX_MESSAGE);
    let (items, _) = feed(&mut codec, bytes, chunks);
    items
        .into_iter()
        .map(|i| match i {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) | Err(e) => Err(e.to_string()),
        })
        .collect()
}

fn config() -> ProptestConfig {
    // 256 cases unless PROPTEST_CASES says otherwise.
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(256),
    )
}

proptest! {
    #![proptest_config(config())]

    // ---- Round trips ------------------------------------------------------------------

    #[test]
    fn client_frames_round_trip_at_any_split(msgs in vec(client_msg(), 1..8), chunks in chunking()) {
        let bytes = frames_of(&msgs);
        prop_assert_eq!(decode_frames::<ClientMsg>(&bytes, &chunks), Ok(msgs));
    }

    #[test]
    fn server_frames_round_trip_at_any_split(msgs in vec(server_msg(), 1..8), chunks in chunking()) {
        let bytes = frames_of(&msgs);
        prop_assert_eq!(decode_frames::<ServerMsg>(&bytes, &chunks), Ok(msgs));
    }

    #[test]
    fn a_stream_cut_inside_a_frame_ends_in_an_error(msgs in vec(client_msg(), 1..4), cut in any::<prop::sample::Index>(), chunks in chunking()) {
        let bytes = frames_of(&msgs);
        let cut = cut.index(bytes.len());
        let mut ends = Vec::new();
        let mut at = 0;
        for m in &msgs {
            at += binary::encode_frame(m).expect("encode").len();
            ends.push(at);
        }
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        let mut codec = FrameCodec::<ClientMsg, ()>::new(MAX_MESSAGE);
        let (items, _) = feed(&mut codec, &bytes[..cut], &chunks);
        let mut items = items.into_iter();
        for m in &msgs[..whole] {
            prop_assert_eq!(items.next().map(|i| i.ok().and_then(Result::ok)), Some(Some(m.clone())));
        }
        let at_boundary = cut == 0 || ends.contains(&cut);
        match items.next() {
            None => prop_assert!(at_boundary, "cut at {} inside a frame went unnoticed", cut),
            Some(Err(WireError::Io(e))) => {
                prop_assert!(!at_boundary);
                prop_assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
            }
            Some(other) => prop_assert!(false, "{:?}", other.map(|i| i.map(|m| client_variant(&m)))),
        }
    }

    #[test]
    fn encode_frame_matches_the_codec(msg in server_msg()) {
        let direct = binary::encode_frame(&msg).expect("encode");
        prop_assert_eq!(&direct[..], &frames_of(std::slice::from_ref(&msg))[..]);
        prop_assert_eq!(&direct[4..], &binary::encode(&msg).expect("encode")[..]);
    }

    #[test]
    fn client_datagrams_round_trip(msg in client_msg()) {
        let d = binary::encode_datagram(&msg).expect("encode");
        prop_assert!(binary::is_binary_datagram(&d));
        prop_assert_eq!(binary::decode_datagram::<ClientMsg>(&d).ok(), Some(msg));
    }

    #[test]
    fn server_datagrams_round_trip(msg in server_msg()) {
        let d = binary::encode_datagram(&msg).expect("encode");
        prop_assert!(binary::is_binary_datagram(&d));
        prop_assert_eq!(binary::decode_datagram::<ServerMsg>(&d).ok(), Some(msg));
    }

    #[test]
    fn a_truncated_datagram_or_frame_payload_is_refused(msg in server_msg(), cut in any::<prop::sample::Index>()) {
        let d = binary::encode_datagram(&msg).expect("encode");
        let cut = 2 + cut.index(d.len() - 2);
        prop_assert!(binary::decode_datagram::<ServerMsg>(&d[..cut]).is_err());
        let mut extended = d.to_vec();
        extended.push(0);
        prop_assert!(binary::decode_datagram::<ServerMsg>(&extended).is_err(), "trailing byte accepted");
    }

    // ---- Text -------------------------------------------------------------------------

    #[test]
    fn a_rendered_line_is_one_line_without_control_characters(msg in server_msg()) {
        if let Some(line) = text::render(&msg) {
            prop_assert!(testing::is_harmless_line(&line), "{:?}", line);
        }
    }

    #[test]
    fn a_chat_line_parses_to_say(line in "[^/\n][^\n]{0,200}", start in 0u64..1000) {
        let mut seq = start;
        let got = text::parse_line(&line, &mut seq);
        let want = line.trim_end_matches('\r');
        if want.trim().is_empty() {
            prop_assert_eq!(got, Ok(None));
            prop_assert_eq!(seq, start);
        } else {
            match got {
                Ok(Some(ClientMsg::Say { seq: s, text, .. })) => {
                    prop_assert_eq!(s, start + 1);
                    prop_assert_eq!(seq, start + 1);
                    prop_assert_eq!(text, want);
                }
                other => prop_assert!(false, "{:?} -> {:?}", line, other),
            }
        }
    }

    #[test]
    fn commands_parse_to_their_messages(name in "[\\w.-]{1,20}", pad in "[ \t]{0,3}", cr in any::<bool>()) {
        let cr = if cr { "\r" } else { "" };
        let mut seq = 7;
        prop_assert_eq!(
            text::parse_line(&format!("/nick {pad}{name}{pad}{cr}"), &mut seq),
            Ok(Some(ClientMsg::Nick(name.clone())))
        );
        prop_assert_eq!(text::parse_line(&format!("/who{pad}{cr}"), &mut seq), Ok(Some(ClientMsg::Who)));
        prop_assert_eq!(text::parse_line(&format!("/quit{pad}{cr}"), &mut seq), Ok(Some(ClientMsg::Bye)));
        let unknown = format!("/{name}x {name}");
        let two_names = format!("/nick {name} {name}");
        prop_assert!(text::parse_line(&unknown, &mut seq).is_err());
        prop_assert!(text::parse_line(&two_names, &mut seq).is_err());
        prop_assert_eq!(seq, 7, "commands do not count as chat lines");
    }

    #[test]
    fn lines_survive_any_chunking(lines in vec("[^\n]{0,80}", 1..10), chunks in chunking(), crlf in any::<bool>()) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let bytes: String = lines.iter().map(|l| format!("{l}{eol}")).collect();
        let mut codec = LineCodec::new(1024);
        let (items, _) = feed(&mut codec, bytes.as_bytes(), &chunks);
        let got: Vec<String> = items
            .into_iter()
            .map(|i| i.expect("no stream error").expect("valid line"))
            .collect();
        let want: Vec<String> = lines
            .iter()
            .map(|l| if crlf { l.clone() } else { l.strip_suffix('\r').unwrap_or(l).to_string() })
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn an_oversize_line_costs_one_error_and_bounded_memory(
        before in "[a-z]{0,10}", big in 65usize..20_000, after in "[a-z]{1,10}", chunks in chunking(), newline in any::<bool>()
    ) {
        let max = 64;
        let mut bytes = format!("{before}\n").into_bytes();
        bytes.extend(std::iter::repeat_n(b'y', big));
        if newline {
            bytes.extend_from_slice(format!("\n{after}\n").as_bytes());
        }
        let mut codec = LineCodec::new(max);
        let (items, high) = feed(&mut codec, &bytes, &chunks);
        let largest_chunk = chunks.iter().max().copied().unwrap_or(1);
        prop_assert!(high <= max + largest_chunk + before.len() + 1, "buffered {high}");
        let mut items = items.into_iter().map(|i| i.expect("no stream error"));
        prop_assert_eq!(items.next().map(|r| r.ok()), Some(Some(before.clone())));
        let refused = matches!(items.next(), Some(Err(WireError::TooLarge { max: 64 })));
        prop_assert!(refused, "one TooLarge item");
        let rest: Vec<_> = items.map(|r| r.ok()).collect();
        if newline {
            prop_assert_eq!(rest, vec![Some(after)]);
        }
    }

    // ---- Arbitrary bytes: no panic, bounded, stable -----------------------------------

    #[test]
    fn the_frame_decoder_takes_any_bytes(bytes in vec(any::<u8>(), 0..2048), chunks in chunking()) {
        // Valid frame headers are likely: many of the arbitrary streams below are short
        // length prefixes followed by noise.
        let _ = decode_frames::<ClientMsg>(&bytes, &chunks);
        let _ = decode_frames::<ServerMsg>(&bytes, &chunks);
    }

    #[test]
    fn framed_noise_decodes_stably(payloads in vec(vec(any::<u8>(), 0..64), 1..8), chunks in chunking()) {
        let mut bytes = Vec::new();
        for p in &payloads {
            bytes.extend_from_slice(&(p.len() as u32).to_be_bytes());
            bytes.extend_from_slice(p);
        }
        let mut codec = FrameCodec::<ServerMsg, ()>::new(1024);
        let (items, _) = feed(&mut codec, &bytes, &chunks);
        prop_assert_eq!(items.len(), payloads.len(), "one item per frame, good or bad");
        for item in items {
            if let Ok(Ok(msg)) = item {
                let again = binary::encode_frame(&msg).expect("re-encode");
                prop_assert_eq!(decode_frames::<ServerMsg>(&again, &[4096]), Ok(vec![msg]));
            }
        }
    }

    #[test]
    fn the_datagram_decoder_takes_any_bytes(mut bytes in vec(any::<u8>(), 0..512), tagged in any::<bool>()) {
        if tagged && bytes.len() >= 2 {
            bytes[..2].copy_from_slice(&binary::DATAGRAM_TAG);
        }
        if let Ok(msg) = binary::decode_datagram::<ClientMsg>(&bytes) {
            let again = binary::encode_datagram(&msg).expect("re-encode");
            prop_assert_eq!(binary::decode_datagram::<ClientMsg>(&again).ok(), Some(msg));
        }
        if let Ok(msg) = binary::decode_datagram::<ServerMsg>(&bytes) {
            let again = binary::encode_datagram(&msg).expect("re-encode");
            prop_assert_eq!(binary::decode_datagram::<ServerMsg>(&again).ok(), Some(msg));
        }
    }

    #[test]
    fn the_line_decoder_takes_any_bytes(bytes in vec(any::<u8>(), 0..2048), chunks in chunking()) {
        let max = 100;
        let mut codec = LineCodec::new(max);
        let (items, high) = feed(&mut codec, &bytes, &chunks);
        let largest_chunk = chunks.iter().max().copied().unwrap_or(1);
        prop_assert!(high <= max + 2 * largest_chunk, "buffered {high}");
        for item in items {
            let line = item.expect("LineCodec has no stream errors on bytes");
            if let Ok(line) = line {
                prop_assert!(line.len() <= max && !line.contains('\n'));
                let mut seq = 0;
                let _ = text::parse_line(&line, &mut seq);
            }
        }
    }
}

// ---- Hostile length fields, refused before anything is allocated ----------------------

#[test]
fn huge_declared_lengths_are_refused_without_allocating() {
    let lens = [1 << 32, 1 << 60, u64::MAX, MAX_MESSAGE as u64 + 1];
    let say = binary::encode(&ClientMsg::Say {
        seq: 1,
        sent_us: 0,
        text: String::new(),
    })
    .unwrap();
    let nick = binary::encode(&ClientMsg::Nick(String::new())).unwrap();
    let members = binary::encode(&ServerMsg::Members(Vec::new())).unwrap();
    let error = binary::encode(&ServerMsg::Error(String::new())).unwrap();
    for len in lens {
        for payload in [with_length(&say, len), with_length(&nick, len)] {
            let e = binary::decode::<ClientMsg>(&payload).unwrap_err();
            assert!(matches!(e, WireError::Malformed(_)), "{len}: {e}");
        }
        for payload in [with_length(&members, len), with_length(&error, len)] {
            let e = binary::decode::<ServerMsg>(&payload).unwrap_err();
            assert!(matches!(e, WireError::Malformed(_)), "{len}: {e}");
            // The same inside a well-formed frame: an error item, the stream goes on.
            let mut frames = payload.clone();
            frames.splice(0..0, (payload.len() as u32).to_be_bytes());
            frames.extend_from_slice(&binary::encode_frame(&ServerMsg::Pong { t_us: 9 }).unwrap());
            let mut codec = FrameCodec::<ServerMsg, ()>::new(1024);
            let (items, _) = feed(&mut codec, &frames, &[frames.len()]);
            assert!(matches!(items[0], Ok(Err(WireError::Malformed(_)))));
            assert!(matches!(items[1], Ok(Ok(ServerMsg::Pong { t_us: 9 }))));
        }
    }
}

#[test]
fn a_4_gib_length_prefix_is_refused_before_buffering() {
    let mut codec = FrameCodec::<ClientMsg, ()>::new(binary::DEFAULT_MAX_FRAME);
    let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
    buf.extend_from_slice(b"payload");
    let before = buf.capacity();
    assert!(matches!(
        codec.decode(&mut buf),
        Err(WireError::TooLarge { max }) if max == binary::DEFAULT_MAX_FRAME
    ));
    assert_eq!(
        buf.capacity(),
        before,
        "nothing reserved for the claimed length"
    );
}

#[test]
fn a_chat_text_cannot_forge_a_line_for_text_peers() {
    let msg = ServerMsg::Chat {
        from: "mallory".into(),
        seq: 1,
        sent_us: 0,
        text: "hi\n* alice left (quit)\r\u{1b}[2Jbob: send me your password".into(),
    };
    assert_eq!(
        text::render(&msg).as_deref(),
        Some("mallory: hi\\n* alice left (quit)\\r\\u{1b}[2Jbob: send me your password")
    );
    // Tabs and ordinary unicode stay as they are.
    let msg = ServerMsg::Error("a\tb é 你好".into());
    assert_eq!(text::render(&msg).as_deref(), Some("! a\tb é 你好"));
}

// ---- Fuzz seed corpus -----------------------------------------------------------------

/// One of each message, small: the seeds the fuzz targets start from.
fn samples() -> (Vec<ClientMsg>, Vec<ServerMsg>) {
    let client = vec![
        ClientMsg::Hello {
            nick: Some("alice".into()),
        },
        ClientMsg::Hello { nick: None },
        ClientMsg::Say {
            seq: 1,
            sent_us: 1_700_000_000_000_000,
            text: "hi é\n".into(),
        },
        ClientMsg::Nick("bob".into()),
        ClientMsg::Who,
        ClientMsg::Ping { t_us: 300 },
        ClientMsg::Bye,
    ];
    let server = vec![
        ServerMsg::Welcome {
            nick: "alice".into(),
            proto: Proto::Udp,
            members: 2,
            keepalive_ms: 5000,
        },
        ServerMsg::Chat {
            from: "bob".into(),
            seq: u64::MAX,
            sent_us: 7,
            text: "x\r\u{1b}".into(),
        },
        ServerMsg::Joined {
            nick: "c".into(),
            proto: Proto::Tcp,
        },
        ServerMsg::Left {
            nick: "c".into(),
            reason: LeaveReason::BadInput("big".into()),
        },
        ServerMsg::Renamed {
            old: "a".into(),
            new: "b".into(),
        },
        ServerMsg::Members(vec![MemberInfo {
            nick: "a".into(),
            proto: Proto::Tcp,
            online_s: 3,
        }]),
        ServerMsg::Pong { t_us: 1 },
        ServerMsg::Error("no".into()),
        ServerMsg::Bye {
            reason: LeaveReason::TimedOut,
        },
        ServerMsg::Refused(Refusal::ServerFull { max: 4 }),
        ServerMsg::Dropped { count: 37 },
        ServerMsg::Challenge {
            code: "K7Q2MX".into(),
        },
        ServerMsg::Expired {
            idle_ms: 30_000,
            code: "K7Q2MX".into(),
        },
        ServerMsg::IdleWarning { in_ms: 10_000 },
    ];
    (client, server)
}

/// Writes `fuzz/corpus/<target>/seed-*`. Run after changing the messages:
/// `cargo test --test it wire_props:: -- --ignored write_fuzz_seed_corpus`.
#[test]
#[ignore = "writes the fuzz seed corpus into the source tree"]
fn write_fuzz_seed_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
    };
    let (client, server) = samples();
    // frame: a chunk-size byte, then frames.
    let mut stream = vec![6u8];
    stream.extend(frames_of(&client));
    write("frame", "client", &stream);
    let mut stream = vec![0u8];
    stream.extend(frames_of(&server));
    write("frame", "server", &stream);
    write(
        "frame",
        "huge-length",
        &[3, 0xff, 0xff, 0xff, 0xff, 1, 2, 3],
    );
    for m in &client {
        let name = format!("client-{}", client_variant(m).to_lowercase());
        write(
            "datagram",
            &name,
            &binary::encode_datagram(m).expect("encode"),
        );
    }
    for m in &server {
        let name = format!("server-{}", server_variant(m).to_lowercase());
        write(
            "datagram",
            &name,
            &binary::encode_datagram(m).expect("encode"),
        );
        write("render", &name, &binary::encode(m).expect("encode"));
    }
    write(
        "line",
        "commands",
        b"\x05hello\n/nick bob\r\n/who\n/quit\n/x y\n",
    );
    write("line", "bad-utf8", b"\x00\xff\xfe\nok\n\xc3\x28\n");
    write("line", "long", &[b'y'; 300]);
}

// ---- Answers within a budget, notices read back ---------------------------------------

proptest! {
    #![proptest_config(config())]

    /// What an unvalidated UDP address is sent is one harmless line within its budget
    /// (3× what it sent); what is sent to strangers looks like a server's line (so
    /// servers never answer it) and never starts with the `/ok` line itself.
    #[test]
    fn a_line_within_a_budget_fits_it(msg in server_msg(), budget in 0usize..200) {
        if let Some(line) = text::line_within(&msg, budget) {
            prop_assert!(line.len() <= budget, "{} > {budget}: {:?}", line.len(), line);
            let body = line.strip_suffix('\n').expect("ends in a newline");
            prop_assert!(!body.chars().any(|c| c.is_control() && c != '\t'), "{:?}", line);
            if matches!(msg, ServerMsg::Challenge { .. } | ServerMsg::Expired { .. } | ServerMsg::Refused(_)) {
                prop_assert!(text::is_server_line(body), "{:?}", line);
                prop_assert!(text::proof(body).is_none(), "{:?}", line);
            }
        }
    }

    /// A challenge (or a dropped member's notice) carries its code back as soon as the
    /// input is 5 bytes, and says something from 3 bytes on.
    #[test]
    fn a_challenge_carries_its_code_from_five_bytes(code in "[A-Z2-9]{6}", input in 1usize..100, expired in any::<bool>(), idle_ms in any_u64()) {
        let msg = if expired {
            ServerMsg::Expired { idle_ms, code: code.clone() }
        } else {
            ServerMsg::Challenge { code: code.clone() }
        };
        let line = text::line_within(&msg, 3 * input);
        prop_assert_eq!(line.is_some(), input >= 3);
        if input >= 5 {
            let line = line.expect("a line");
            prop_assert!(line.ends_with(&format!("/ok {code}\n")), "{:?}", line);
        }
    }

    #[test]
    fn a_dropped_notice_reads_back_as_its_message(count in any_u64()) {
        let msg = ServerMsg::Dropped { count };
        let line = text::render(&msg).expect("a line");
        prop_assert_eq!(text::parse_notice(&line), Some(msg));
    }

    #[test]
    fn only_dropped_notices_read_back(msg in server_msg()) {
        if let Some(line) = text::render(&msg) {
            if let Some(back) = text::parse_notice(&line) {
                prop_assert!(matches!(back, ServerMsg::Dropped { .. }), "{:?}", back);
                prop_assert_eq!(text::render(&back), Some(line));
            }
        }
    }
}
