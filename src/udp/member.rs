//! A member's datagram as room events, free of I/O: one or more binary messages, text
//! lines (numbered by the member's [`LineParser`](crate::wire::text::LineParser)), or a
//! repeated handshake; each message paid for from the member's budget, the excess
//! dropped, counted and (at most every [`NOTICE_EVERY`]) reported to the member.

use super::registry::Entry;
use super::{GuardStats, UdpConfig, NOTICE_EVERY};
use crate::transport::Event;
use crate::wire::binary::{self, WireError};
use crate::wire::{text, ClientMsg, Handshake};
use std::sync::atomic::Ordering;
use tokio::time::Instant;

/// Turn `data` from the member `e` into events (appended to `out`). Returns whether
/// the member said goodbye (its entry is then to be removed).
pub(super) fn read(
    e: &mut Entry,
    data: &[u8],
    now: Instant,
    cfg: &UdpConfig,
    stats: &GuardStats,
    out: &mut Vec<Event>,
) -> bool {
    e.last_seen = now;
    e.warned = None;
    e.bytes_in += data.len() as u64;
    let peer = e.peer;
    let mut bye = false;
    for item in messages(e, data, cfg.max_datagram) {
        let leaving = matches!(item, Ok(ClientMsg::Bye));
        if !leaving && !e.budget.take(cfg.rate, now) {
            e.throttled += 1;
            stats.throttled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        bye |= leaving;
        out.push(match item {
            Ok(msg) => Event::Message(peer, msg),
            Err(why) => Event::Invalid(peer, why),
        });
    }
    let due = e
        .noticed
        .is_none_or(|t| now.saturating_duration_since(t) >= NOTICE_EVERY);
    if e.throttled > 0 && due && !bye {
        tracing::debug!(parent: &e.span, dropped = e.throttled, "over its budget");
        out.push(Event::Invalid(
            peer,
            format!(
                "slow down: {} messages dropped (limit {})",
                e.throttled, cfg.rate
            ),
        ));
        e.throttled = 0;
        e.noticed = Some(now);
    }
    bye
}

/// What `data` says, message by message (`Err`: refused, with the sentence to send).
fn messages(e: &mut Entry, data: &[u8], max: usize) -> Vec<Result<ClientMsg, String>> {
    if data.len() > max {
        return vec![Err(format!(
            "datagram of {} bytes refused: the maximum is {max}",
            data.len()
        ))];
    }
    if data.starts_with(&binary::HANDSHAKE_TAG) {
        // A repeated handshake: its Welcome was lost.
        return match binary::decode_handshake(data) {
            Some(Handshake::Hello { nick, .. }) => vec![Ok(ClientMsg::Hello { nick })],
            _ => Vec::new(),
        };
    }
    if binary::is_binary_datagram(data) {
        return vec![binary::decode_datagram::<ClientMsg>(data).map_err(|e| e.refusal())];
    }
    let Ok(lines) = std::str::from_utf8(data) else {
        return vec![Err(WireError::InvalidUtf8.refusal())];
    };
    lines
        .split('\n')
        // A repeated proof of address is not a command.
        .filter(|line| text::proof(line).is_none())
        .filter_map(|line| e.parser.parse(line).transpose())
        .collect()
}
