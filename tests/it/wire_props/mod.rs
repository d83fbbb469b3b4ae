//! Property tests of the wire codecs: every message round-trips through both binary
//! forms (TCP frames split at any byte boundary, UDP datagrams), text lines parse to the
//! expected message, a rendered line is one harmless line, and no decoder panics or
//! buffers without bound on arbitrary bytes. 256 cases per property by default;
//! `PROPTEST_CASES` overrides.

use bytes::BytesMut;
use nettool::wire::binary::{self, FrameCodec, WireError, MAX_MESSAGE};
use nettool::wire::testing::{self, with_length};
use nettool::wire::text::{self, LineCodec};
use nettool::wire::{ClientMsg, ServerMsg};
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

mod corpus;
mod strategies;

use strategies::*;

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
        // Every message but `Pong` (a keepalive's answer) has a line to show.
        let line = text::render(&msg);
        prop_assert_eq!(line.is_none(), matches!(msg, ServerMsg::Pong { .. }), "{:?}", msg);
        if let Some(line) = line {
            prop_assert!(testing::is_harmless_line(&line), "{:?}", line);
        }
    }

    #[test]
    fn a_chat_line_parses_to_say(line in "[^/\n][^\n]{0,200}", start in 0u64..1000) {
        let mut seq = start;
        let got = text::parse_line(&line, &mut seq);
        // Telnet's CR NUL ends a line as CR LF does.
        let want = line.strip_suffix("\r\0").unwrap_or(&line).trim_end_matches('\r');
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

// ---- Answers within a budget, notices read back ---------------------------------------

proptest! {
    #![proptest_config(config())]

    /// What an unvalidated UDP address is sent is one harmless line within its budget
    /// (3× what it sent); what is sent to strangers looks like a server's line (so
    /// servers never answer it) and never starts with the `/ok` line itself.
    #[test]
    fn a_line_within_a_budget_fits_it(msg in server_msg(), budget in 0usize..200) {
        // With room enough the answer is the full rendering; a budget that holds it
        // always gets a line.
        let full = text::render(&msg).map(|l| l + "\n");
        prop_assert_eq!(text::line_within(&msg, usize::MAX), full.clone());
        let within = text::line_within(&msg, budget);
        if full.is_some_and(|l| l.len() <= budget) {
            prop_assert!(within.is_some(), "nothing within {} for {:?}", budget, msg);
        }
        if let Some(line) = within {
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
        let Some(line) = text::render(&msg) else {
            prop_assert!(matches!(msg, ServerMsg::Pong { .. }), "no line for {:?}", msg);
            return Ok(());
        };
        match text::parse_notice(&line) {
            Some(back) => {
                prop_assert!(matches!(back, ServerMsg::Dropped { .. }), "{:?}", back);
                prop_assert_eq!(text::render(&back), Some(line));
            }
            // Another message's line may read as a notice (an `Error` with the same
            // words); a notice itself always reads back.
            None => prop_assert!(!matches!(msg, ServerMsg::Dropped { .. }), "{:?} did not read back", line),
        }
    }
}
