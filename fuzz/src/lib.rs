//! Helpers shared by the fuzz targets: feeding a decoder its input in chunks, the way
//! a socket delivers a stream, and the checks every decoded item must pass.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// Split `data` into a chunk size (from its first byte, 1 to 256) and the stream.
pub fn chunked(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&n, rest)) => (n as usize + 1, rest),
        None => (1, data),
    }
}

/// Feed `stream` to `codec` `chunk` bytes at a time, then signal EOF, calling `each` on
/// every item. Stops at the first stream error, as `FramedRead` does. Panics if the
/// codec's buffer ever holds more than `bound` bytes after a decode call.
pub fn feed<C: Decoder>(
    codec: &mut C,
    stream: &[u8],
    chunk: usize,
    bound: usize,
    mut each: impl FnMut(C::Item),
) {
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => each(item),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            buf.len() <= bound,
            "decoder buffered {} > {bound}",
            buf.len()
        );
    }
    while let Ok(Some(item)) = codec.decode_eof(&mut buf) {
        each(item);
    }
}

/// A rendered line is one line with no control characters but tab.
pub fn check_line(line: &str) {
    assert!(
        !line.chars().any(|c| c.is_control() && c != '\t'),
        "control character in {line:?}"
    );
}
