//! Nicknames: what a valid one is, and the room's choice of a free one.

use super::Room;

/// Longest nickname, in characters.
pub const MAX_NICK: usize = 32;

/// A nickname is 1 to [`MAX_NICK`] letters, digits, `_`, `-` or `.`.
pub fn valid_nick(wanted: &str) -> Result<String, String> {
    let ok = !wanted.is_empty()
        && wanted.chars().count() <= MAX_NICK
        && wanted
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(wanted.to_string())
    } else {
        Err(format!(
            "invalid nick {wanted:?}: use 1 to {MAX_NICK} letters, digits, _ - ."
        ))
    }
}

impl Room {
    /// A free `guestN`.
    pub(super) fn guest(&mut self) -> String {
        loop {
            self.guests += 1;
            let nick = format!("guest{}", self.guests);
            if !self.nicks.contains_key(&nick) {
                return nick;
            }
        }
    }

    /// `wanted`, or the first free `wantedN` (from 2).
    pub(super) fn unique(&self, wanted: String) -> String {
        if !self.nicks.contains_key(&wanted) {
            return wanted;
        }
        (2..)
            .map(|n| format!("{wanted}{n}"))
            .find(|n| !self.nicks.contains_key(n))
            .unwrap_or(wanted)
    }
}
