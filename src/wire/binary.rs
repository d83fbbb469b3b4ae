//! The binary format between nettool peers: bincode 2 (serde, standard config, with a
//! size limit), framed by a 4-byte big-endian length on TCP ([`FrameCodec`]) or tagged
//! as one datagram on UDP ([`encode_datagram`], [`decode_datagram`]).
//!
//! This is the only file that names bincode (pinned to 2.0.1: upstream is unmaintained,
//! RUSTSEC-2025-0141), so replacing the encoding touches nothing else.

use super::message::Handshake;
use bytes::{BufMut, Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// What a nettool client sends on TCP after the server's banner, before its first frame.
/// It starts with a NUL byte, which no text peer sends, so the server can tell them apart.
pub const PREAMBLE: &[u8] = b"\0nettool/1\n";
/// The first two bytes of every binary UDP datagram (NUL, then the protocol version).
pub const DATAGRAM_TAG: [u8; 2] = [0, 1];
/// The first two bytes of a UDP address-validation datagram ([`Handshake`]).
pub const HANDSHAKE_TAG: [u8; 2] = [0, 2];
/// Default cap on one TCP frame's payload.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
/// Default cap on one UDP datagram (fits any path MTU of 1280, as QUIC assumes).
pub const DEFAULT_MAX_DATAGRAM: usize = 1200;
/// Hard cap bincode enforces on any one message, whatever the frame limit says: a
/// declared collection or string length beyond it is refused before anything is allocated.
pub const MAX_MESSAGE: usize = 1 << 20;

const LEN_HEADER: usize = 4;

/// Why bytes off the wire were refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A frame or datagram longer than the limit.
    #[error("frame larger than the maximum of {max} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// Bytes that do not decode as a message; the text says why.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A text line that is not valid UTF-8.
    #[error("invalid UTF-8 in a text line")]
    InvalidUtf8,
    /// The underlying read failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl WireError {
    /// The sentence the offending peer is sent.
    pub fn refusal(&self) -> String {
        match self {
            WireError::TooLarge { max } => format!("input longer than {max} bytes refused"),
            WireError::InvalidUtf8 => "invalid UTF-8 refused".into(),
            WireError::Malformed(why) => format!("malformed message refused: {why}"),
            WireError::Io(e) => format!("read error: {e}"),
        }
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE>()
}

/// Encode `msg` after `header` zero bytes the caller fills in.
fn encode_after<T: Serialize>(msg: &T, header: usize) -> Result<BytesMut, WireError> {
    let mut buf = BytesMut::with_capacity(header + 64);
    buf.put_bytes(0, header);
    let mut writer = (&mut buf).writer();
    bincode::serde::encode_into_std_write(msg, &mut writer, config())
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    Ok(buf)
}

/// The bare bincode payload of `msg`.
pub fn encode<T: Serialize>(msg: &T) -> Result<Bytes, WireError> {
    encode_after(msg, 0).map(BytesMut::freeze)
}

/// Decode one whole message; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, WireError> {
    let (msg, used) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(WireError::Malformed(format!(
            "{} trailing bytes",
            payload.len() - used
        )));
    }
    Ok(msg)
}

/// `msg` as a TCP frame: 4-byte big-endian length, then the payload.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Bytes, WireError> {
    let mut buf = encode_after(msg, LEN_HEADER)?;
    let len = u32::try_from(buf.len() - LEN_HEADER).map_err(|_| WireError::TooLarge {
        max: u32::MAX as usize,
    })?;
    buf[..LEN_HEADER].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// `msg` as a UDP datagram: [`DATAGRAM_TAG`], then the payload.
pub fn encode_datagram<T: Serialize>(msg: &T) -> Result<Bytes, WireError> {
    let mut buf = encode_after(msg, DATAGRAM_TAG.len())?;
    buf[..DATAGRAM_TAG.len()].copy_from_slice(&DATAGRAM_TAG);
    Ok(buf.freeze())
}

/// `msg` as a UDP address-validation datagram: [`HANDSHAKE_TAG`], then the payload.
pub fn encode_handshake(msg: &Handshake) -> Result<Bytes, WireError> {
    let mut buf = encode_after(msg, HANDSHAKE_TAG.len())?;
    buf[..HANDSHAKE_TAG.len()].copy_from_slice(&HANDSHAKE_TAG);
    Ok(buf.freeze())
}

/// The address-validation message in `datagram`; `None` if it is not one (or malformed).
pub fn decode_handshake(datagram: &[u8]) -> Option<Handshake> {
    decode(datagram.strip_prefix(&HANDSHAKE_TAG[..])?).ok()
}

/// Whether a datagram is a binary nettool datagram (as opposed to a text line).
pub fn is_binary_datagram(datagram: &[u8]) -> bool {
    datagram.first() == Some(&0)
}

/// Decode a binary datagram, tag included.
pub fn decode_datagram<T: DeserializeOwned>(datagram: &[u8]) -> Result<T, WireError> {
    match datagram.strip_prefix(&DATAGRAM_TAG[..]) {
        Some(payload) => decode(payload),
        None => Err(WireError::Malformed("unknown datagram tag".into())),
    }
}

/// Every message of a binary datagram, tag included. A server packs several messages
/// for one peer into one datagram (see `udp::writer`): they follow the tag back to back.
/// Decoding stops at the first malformed message, which is yielded as the last item.
pub fn decode_datagram_batch<T: DeserializeOwned>(datagram: &[u8]) -> Vec<Result<T, WireError>> {
    let Some(mut rest) = datagram.strip_prefix(&DATAGRAM_TAG[..]) else {
        return vec![Err(WireError::Malformed("unknown datagram tag".into()))];
    };
    let mut out = Vec::new();
    while !rest.is_empty() {
        match bincode::serde::decode_from_slice(rest, config()) {
            Ok((msg, used)) if used > 0 => {
                out.push(Ok(msg));
                rest = &rest[used..];
            }
            Ok(_) => {
                out.push(Err(WireError::Malformed("empty message".into())));
                break;
            }
            Err(e) => {
                out.push(Err(WireError::Malformed(e.to_string())));
                break;
            }
        }
    }
    out
}

/// Append the binary datagram `datagram` (tag included) to `batch`, a datagram being
/// packed: the first message keeps its tag, later ones add only their payload.
pub fn append_to_datagram(batch: &mut BytesMut, datagram: &[u8]) {
    if batch.is_empty() {
        batch.extend_from_slice(datagram);
    } else {
        batch.extend_from_slice(datagram.get(DATAGRAM_TAG.len()..).unwrap_or_default());
    }
}

/// How many bytes `datagram` adds when appended to a non-empty batch.
pub fn appended_len(datagram: &[u8]) -> usize {
    datagram.len().saturating_sub(DATAGRAM_TAG.len())
}

/// Length-delimited bincode frames on a byte stream: decodes `D`, encodes `E`.
///
/// A malformed payload inside a well-formed frame is yielded as an `Err` item, so the
/// stream carries on; an oversize length is a stream error, since the stream cannot be
/// trusted after it.
pub struct FrameCodec<D, E> {
    inner: LengthDelimitedCodec,
    max: usize,
    /// A frame's header has been read and its payload is still due.
    mid_frame: bool,
    _types: PhantomData<fn(E) -> D>,
}

impl<D, E> FrameCodec<D, E> {
    /// A codec refusing frames longer than `max_frame` bytes (payload, without the 4-byte header).
    pub fn new(max_frame: usize) -> Self {
        let inner = LengthDelimitedCodec::builder()
            .length_field_type::<u32>()
            .max_frame_length(max_frame)
            .new_codec();
        FrameCodec {
            inner,
            max: max_frame,
            mid_frame: false,
            _types: PhantomData,
        }
    }
}

impl<D: DeserializeOwned, E> Decoder for FrameCodec<D, E> {
    type Item = Result<D, WireError>;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, WireError> {
        let before = src.len();
        match self.inner.decode(src) {
            Ok(Some(frame)) => {
                self.mid_frame = false;
                Ok(Some(decode(&frame)))
            }
            Ok(None) => {
                // The inner codec consumes a header as soon as it has one.
                self.mid_frame |= src.len() < before;
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                Err(WireError::TooLarge { max: self.max })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// At EOF, a partial frame (header included) is the peer closing mid-message: an
    /// error that says so, rather than tokio's "bytes remaining on stream" or, for a
    /// lone header, nothing at all.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, WireError> {
        match self.decode(src)? {
            Some(item) => Ok(Some(item)),
            None if !self.mid_frame && src.is_empty() => Ok(None),
            None => Err(WireError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside a frame",
            ))),
        }
    }
}

impl<D, E: Serialize> Encoder<E> for FrameCodec<D, E> {
    type Error = WireError;

    fn encode(&mut self, msg: E, dst: &mut BytesMut) -> Result<(), WireError> {
        let frame = encode_frame(&msg)?;
        if frame.len() - LEN_HEADER > self.max {
            return Err(WireError::TooLarge { max: self.max });
        }
        dst.extend_from_slice(&frame);
        Ok(())
    }
}
