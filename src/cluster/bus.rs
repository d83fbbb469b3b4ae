//! What servers say to each other on the bus: one NATS message per publication, on the
//! room's subject, holding length-prefixed binary frames ([`crate::wire::binary`]): a
//! [`Header`] (who publishes, its publication number, what kind), then — for a batch or
//! a roster — the room's own [`ServerMsg`] frames, the same bytes a binary TCP member
//! gets (a broadcast is encoded once, whoever receives it).
//!
//! | kind | frames after the header |
//! | --- | --- |
//! | `Batch` | what one round of the room relayed: `Chat`, `Joined`, `Left`, `Renamed` |
//! | `Roster` | a part of the server's member list, as `Joined` (the last part says so) |
//! | `Heartbeat` | none: "I am alive, with this many members" |
//! | `RosterPlease` | none: "server `of`, publish your member list" (`*`: everyone) |
//! | `Bye` | none: the server is shutting down, its members leave with it |

use crate::wire::{binary, ServerMsg};
use bytes::{Buf, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// A publication's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The publishing server's name (`--name`).
    pub server: String,
    /// A number the server drew when it started: a restart under the same name is a
    /// new server (its members were lost with the old one).
    pub boot: u64,
    /// The server's publication number, from 1: a gap means publications were lost.
    pub seq: u64,
    /// What follows.
    pub kind: Kind,
}

/// A publication's kind (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// One round's relayed messages.
    Batch,
    /// A part of the member list; `last` ends it.
    Roster {
        /// Which listing this part belongs to.
        gen: u64,
        /// Whether this is its last part.
        last: bool,
    },
    /// Alive, with `members` members.
    Heartbeat {
        /// Members on the publishing server.
        members: u32,
    },
    /// Server `of` (or `*`: every server) is asked for its member list.
    RosterPlease {
        /// The server asked, or `*`.
        of: String,
    },
    /// The server is going away.
    Bye,
}

/// A publication being built: the header frame, then message frames appended.
pub fn start(header: &Header) -> BytesMut {
    match binary::encode_frame(header) {
        Ok(b) => BytesMut::from(&b[..]),
        // A header is a few small fields: encoding it cannot fail within the limits.
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a bus header");
            BytesMut::new()
        }
    }
}

/// Why a publication was refused.
#[derive(Debug, thiserror::Error)]
pub enum BadPublication {
    /// A frame's length runs past the end.
    #[error("truncated frame")]
    Truncated,
    /// A frame that does not decode.
    #[error(transparent)]
    Wire(#[from] binary::WireError),
}

/// The header of `payload`, and the frames after it (decoded one by one by [`frames`]).
pub fn open(payload: &Bytes) -> Result<(Header, Bytes), BadPublication> {
    let mut rest = payload.clone();
    let first = next_frame(&mut rest)?.ok_or(BadPublication::Truncated)?;
    Ok((binary::decode(&first)?, rest))
}

/// The messages in `rest`, each decoded or the reason it could not be.
pub fn frames(mut rest: Bytes) -> impl Iterator<Item = Result<ServerMsg, BadPublication>> {
    std::iter::from_fn(move || match next_frame(&mut rest) {
        Ok(Some(f)) => Some(binary::decode(&f).map_err(Into::into)),
        Ok(None) => None,
        Err(e) => {
            rest.clear();
            Some(Err(e))
        }
    })
}

fn next_frame(rest: &mut Bytes) -> Result<Option<Bytes>, BadPublication> {
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < 4 {
        return Err(BadPublication::Truncated);
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    if rest.len() - 4 < len {
        return Err(BadPublication::Truncated);
    }
    rest.advance(4);
    Ok(Some(rest.split_to(len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Proto;

    #[test]
    fn a_publication_reads_back_and_a_cut_one_is_refused() {
        let h = Header {
            server: "s1".into(),
            boot: 7,
            seq: 3,
            kind: Kind::Batch,
        };
        let mut p = start(&h);
        let msg = ServerMsg::Joined {
            nick: "a".into(),
            proto: Proto::Udp,
        };
        p.extend_from_slice(&binary::encode_frame(&msg).expect("encode"));
        let p = p.freeze();
        let (got, rest) = open(&p).expect("open");
        assert_eq!(got, h);
        let msgs: Vec<_> = frames(rest).map(|r| r.expect("frame")).collect();
        assert_eq!(msgs, [msg]);
        let cut = p.slice(..p.len() - 1);
        let (_, rest) = open(&cut).expect("header intact");
        assert!(matches!(
            frames(rest).next(),
            Some(Err(BadPublication::Truncated))
        ));
        assert!(open(&Bytes::from_static(b"\0\0\0\x09ab")).is_err());
        assert!(open(&Bytes::new()).is_err());
    }
}
