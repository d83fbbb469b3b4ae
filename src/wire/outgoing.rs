//! [`Outgoing`]: one server message shared by all its recipients, encoded at most once
//! per wire form (TCP frame, UDP datagram, text line) however many members receive it.

use super::{binary, text, ServerMsg};
use bytes::{Bytes, BytesMut};
use std::sync::OnceLock;

/// The shapes a message takes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Length-prefixed bincode (TCP, nettool peer).
    Frame,
    /// Tagged bincode datagram (UDP, nettool peer).
    Datagram,
    /// A UTF-8 line ending in `\n` (text peer, either protocol).
    Line,
}

impl Form {
    /// Append `bytes`, this form's encoding of one message, to a datagram being packed
    /// with others for the same peer (binary: one tag, then the payloads; text: lines).
    pub fn pack(self, batch: &mut BytesMut, bytes: &[u8]) {
        match self {
            Form::Datagram => binary::append_to_datagram(batch, bytes),
            Form::Frame | Form::Line => batch.extend_from_slice(bytes),
        }
    }

    /// How many bytes [`Form::pack`] adds to a batch that is not empty.
    pub fn packed_len(self, bytes: &[u8]) -> usize {
        match self {
            Form::Datagram => binary::appended_len(bytes),
            Form::Frame | Form::Line => bytes.len(),
        }
    }
}

/// A server message and its lazily built encodings.
#[derive(Debug)]
pub struct Outgoing {
    msg: ServerMsg,
    frame: OnceLock<Option<Bytes>>,
    datagram: OnceLock<Option<Bytes>>,
    line: OnceLock<Option<Bytes>>,
}

impl Outgoing {
    /// Wrap `msg`; nothing is encoded until a form is first asked for.
    pub fn new(msg: ServerMsg) -> Self {
        Outgoing {
            msg,
            frame: OnceLock::new(),
            datagram: OnceLock::new(),
            line: OnceLock::new(),
        }
    }

    /// The message itself.
    pub fn msg(&self) -> &ServerMsg {
        &self.msg
    }

    /// The bytes for `form`, encoded on first use. `None` when the message has no such
    /// form (a `Pong` has no text line) or could not be encoded (logged).
    pub fn bytes(&self, form: Form) -> Option<&Bytes> {
        let cell = match form {
            Form::Frame => &self.frame,
            Form::Datagram => &self.datagram,
            Form::Line => &self.line,
        };
        cell.get_or_init(|| {
            let encoded = match form {
                Form::Frame => binary::encode_frame(&self.msg),
                Form::Datagram => binary::encode_datagram(&self.msg),
                Form::Line => {
                    return text::render(&self.msg).map(|mut l| {
                        l.push('\n');
                        Bytes::from(l)
                    })
                }
            };
            encoded
                .map_err(|e| tracing::error!(error = %e, "cannot encode {:?}", self.msg))
                .ok()
        })
        .as_ref()
    }
}
