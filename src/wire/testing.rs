//! Helpers for testing the codecs, shared by the property tests (`tests/it/wire_props.rs`)
//! and the fuzz targets (`fuzz/`); compiled only with the `testing` feature, which both
//! turn on. Not part of the toolkit's interface.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// Feed `bytes` to `codec` as a socket delivers a stream: in chunks of the sizes in
/// `chunks` (cycled; 0 counts as 1), decoding after each, then EOF. Every item, and a
/// stream error if one ends the stream (as it does `FramedRead`), goes to `each`.
/// Returns the most the codec's buffer held after decoding a chunk.
pub fn feed<C: Decoder>(
    codec: &mut C,
    bytes: &[u8],
    chunks: &[usize],
    mut each: impl FnMut(Result<C::Item, C::Error>),
) -> usize {
    let mut buf = BytesMut::new();
    let mut high = 0;
    let mut at = 0;
    let mut sizes = chunks.iter().cycle();
    while at < bytes.len() {
        let n = sizes
            .next()
            .copied()
            .unwrap_or(1)
            .max(1)
            .min(bytes.len() - at);
        buf.extend_from_slice(&bytes[at..at + n]);
        at += n;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => each(Ok(item)),
                Ok(None) => break,
                Err(e) => {
                    each(Err(e));
                    return high;
                }
            }
        }
        high = high.max(buf.len());
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(item)) => each(Ok(item)),
            Ok(None) => break,
            Err(e) => {
                each(Err(e));
                break;
            }
        }
    }
    high
}

/// Whether a rendered line is harmless for a text peer: one line, no control character
/// but tab (so no sender can forge a line or drive a terminal).
pub fn is_harmless_line(line: &str) -> bool {
    !line.chars().any(|c| c.is_control() && c != '\t')
}

/// `encoded` (a binary payload ending in an empty string or vec, whose length byte is
/// 0) with that length replaced by `len`, as a bincode varint (253: a little-endian u64
/// follows): a message that claims far more than it holds.
pub fn with_length(encoded: &[u8], len: u64) -> Vec<u8> {
    assert_eq!(encoded.last(), Some(&0), "ends in an empty string or vec");
    let mut out = encoded[..encoded.len() - 1].to_vec();
    out.push(253);
    out.extend_from_slice(&len.to_le_bytes());
    out
}
