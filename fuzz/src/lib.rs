//! Helpers shared by the fuzz targets: the chunk size a target feeds its decoder in, and
//! the library's codec-test helpers (`nettool::wire::testing`, shared with the property
//! tests) with the fuzz targets' checks on top.

use nettool::wire::testing;
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
/// codec's buffer ever held more than `bound` bytes after decoding a chunk.
pub fn feed<C: Decoder>(
    codec: &mut C,
    stream: &[u8],
    chunk: usize,
    bound: usize,
    mut each: impl FnMut(C::Item),
) {
    let high = testing::feed(codec, stream, &[chunk], |item| {
        if let Ok(item) = item {
            each(item);
        }
    });
    assert!(high <= bound, "decoder buffered {high} > {bound}");
}

/// A rendered line is one line with no control characters but tab.
pub fn check_line(line: &str) {
    assert!(
        testing::is_harmless_line(line),
        "control character in {line:?}"
    );
}
