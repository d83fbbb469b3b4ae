//! The open-file limit: each TCP member is a descriptor, and the usual soft limit
//! (1 024) is far below a room of 10 000. [`raise_nofile`] raises the soft limit to the
//! hard one (any process may), and beyond it where the process is allowed to
//! (`CAP_SYS_RESOURCE`, e.g. root); when that still falls short of what the caps need, it
//! says so in one line, so a full server fails visibly instead of refusing accepts.

/// Descriptors a process needs besides its sockets (stdio, epoll, timers, files).
pub const SPARE_FDS: u64 = 64;

/// Raise the soft `RLIMIT_NOFILE` to at least `wanted` if the hard limit (or the
/// process's privilege) allows; returns the soft limit now in force. `what` names the
/// caps in the warning printed when the limit stays below `wanted`.
pub fn raise_nofile(wanted: u64, what: &str) -> u64 {
    use rlimit::Resource;
    let Ok((soft, hard)) = rlimit::getrlimit(Resource::NOFILE) else {
        return wanted; // no such limit here
    };
    let mut now = soft;
    if soft < wanted {
        if hard < wanted && rlimit::setrlimit(Resource::NOFILE, wanted, wanted).is_ok() {
            now = wanted;
        } else if rlimit::setrlimit(Resource::NOFILE, hard.min(wanted).max(soft), hard).is_ok() {
            now = hard.min(wanted).max(soft);
        }
    }
    if now < wanted {
        tracing::warn!(
            "open-file limit is {now} (hard limit {hard}), below the {wanted} that {what} need: \
             raise it (ulimit -Hn) or lower the caps"
        );
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_what_is_asked_within_the_hard_limit() {
        let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) else {
            return;
        };
        let want = soft.min(hard);
        assert!(raise_nofile(want, "the test") >= want);
    }
}
