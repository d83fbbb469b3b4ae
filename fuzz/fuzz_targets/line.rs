//! Text line decoder and parser over chunked input: lines are capped, hold no newline,
//! memory stays within one line plus a chunk, and every line parses without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettool::wire::text::{parse_line, LineCodec};
use nettool::wire::ClientMsg;
use nettool_fuzz::{chunked, feed};

const MAX: usize = 256;

fuzz_target!(|data: &[u8]| {
    let (chunk, stream) = chunked(data);
    let mut codec = LineCodec::new(MAX);
    let mut seq = 0u64;
    feed(&mut codec, stream, chunk, MAX + 2 * chunk, |item| {
        if let Ok(line) = item {
            assert!(line.len() <= MAX && !line.contains('\n'), "{line:?}");
            let before = seq;
            if let Ok(Some(msg)) = parse_line(&line, &mut seq) {
                match msg {
                    ClientMsg::Say { seq: s, text, .. } => {
                        assert_eq!((s, seq), (before + 1, before + 1));
                        assert!(!text.is_empty() && !text.contains('\n'));
                    }
                    _ => assert_eq!(seq, before),
                }
            }
        }
    });
});
