//! Nicknames: what a valid one is.

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
