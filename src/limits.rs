//! The open-file limit: each TCP member is a descriptor, and the usual soft limit
//! (1 024) is far below a room of 10 000. [`raise_nofile`] raises the soft limit to the
//! hard one (any process may), and beyond it where the process is allowed to
//! (`CAP_SYS_RESOURCE`, e.g. root); when that still falls short of what the caps need, or
//! the limit cannot be read at all, it says so in one line, so a full server fails
//! visibly instead of refusing accepts.

use std::io;

/// Descriptors a process needs besides its sockets (stdio, epoll, timers, files).
pub const SPARE_FDS: u64 = 64;

/// Raise the soft `RLIMIT_NOFILE` to at least `wanted` if the hard limit (or the
/// process's privilege) allows; returns the soft limit now in force, `None` when it
/// cannot be read. `what` names the caps in the warning printed when the limit stays
/// below `wanted` (or is unknown).
pub fn raise_nofile(wanted: u64, what: &str) -> Option<u64> {
    use rlimit::Resource;
    let current = rlimit::getrlimit(Resource::NOFILE);
    match raise(wanted, current, |soft, hard| {
        rlimit::setrlimit(Resource::NOFILE, soft, hard)
    }) {
        Ok((now, hard)) => {
            if now < wanted {
                tracing::warn!(
                    "open-file limit is {now} (hard limit {hard}), below the {wanted} that \
                     {what} need: raise it (ulimit -Hn) or lower the caps"
                );
            }
            Some(now)
        }
        Err(e) => {
            tracing::warn!(
                "cannot read the open-file limit ({e}); {what} need {wanted} descriptors"
            );
            None
        }
    }
}

/// The decision of [`raise_nofile`], apart from the system calls: from the limits in
/// force (`current`: soft, hard), ask `set` (soft, hard) for `wanted`, beyond the hard
/// limit first (allowed with privilege), else up to it. Returns (soft limit now, hard
/// limit now).
fn raise(
    wanted: u64,
    current: io::Result<(u64, u64)>,
    mut set: impl FnMut(u64, u64) -> io::Result<()>,
) -> io::Result<(u64, u64)> {
    let (soft, hard) = current?;
    if soft >= wanted {
        return Ok((soft, hard));
    }
    if hard < wanted && set(wanted, wanted).is_ok() {
        return Ok((wanted, wanted));
    }
    let within = hard.min(wanted).max(soft);
    if set(within, hard).is_ok() {
        return Ok((within, hard));
    }
    Ok((soft, hard))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// [`raise`] against a process whose limits are `soft`/`hard`, privileged or not:
    /// what it returns, and the limits it asked for.
    fn run(
        wanted: u64,
        (soft, hard): (u64, u64),
        privileged: bool,
    ) -> ((u64, u64), Vec<(u64, u64)>) {
        let asked = RefCell::new(Vec::new());
        let got = raise(wanted, Ok((soft, hard)), |s, h| {
            asked.borrow_mut().push((s, h));
            if s <= h && (h <= hard || privileged) {
                Ok(())
            } else {
                Err(io::Error::from(io::ErrorKind::PermissionDenied))
            }
        })
        .expect("limits known");
        (got, asked.into_inner())
    }

    #[test]
    fn the_soft_limit_is_raised_to_what_is_asked_within_the_hard_limit() {
        assert_eq!(
            run(2_000, (1_024, 4_096), false),
            ((2_000, 4_096), vec![(2_000, 4_096)])
        );
    }

    #[test]
    fn beyond_the_hard_limit_with_privilege_only() {
        assert_eq!(
            run(10_000, (1_024, 4_096), true),
            ((10_000, 10_000), vec![(10_000, 10_000)])
        );
        // Without: refused, then the hard limit itself (and the caller warns).
        assert_eq!(
            run(10_000, (1_024, 4_096), false),
            ((4_096, 4_096), vec![(10_000, 10_000), (4_096, 4_096)])
        );
    }

    #[test]
    fn enough_already_changes_nothing() {
        assert_eq!(run(1_000, (1_024, 4_096), false), ((1_024, 4_096), vec![]));
    }

    #[test]
    fn a_limit_that_cannot_be_set_stays_as_it_is() {
        let got = raise(2_000, Ok((1_024, 4_096)), |_, _| {
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        });
        assert_eq!(got.expect("limits known"), (1_024, 4_096));
    }

    #[test]
    fn a_limit_that_cannot_be_read_is_an_error_not_a_success() {
        let got = raise(2_000, Err(io::Error::other("no getrlimit")), |_, _| Ok(()));
        assert_eq!(got.expect_err("unknown").to_string(), "no getrlimit");
    }

    /// The real system calls, on this test process: with its soft limit lowered a little
    /// (any process may lower it, and raise it again up to the hard limit), asking for
    /// the old one puts it back in force.
    #[test]
    fn this_process_gets_its_descriptors_back_when_it_asks() {
        use rlimit::Resource;
        let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).expect("getrlimit");
        assert!(
            soft > 256,
            "a soft limit of {soft} leaves no room to lower it"
        );
        rlimit::setrlimit(Resource::NOFILE, soft - 64, hard).expect("lowering the soft limit");
        let now = raise_nofile(soft, "the test");
        let (soft_after, hard_after) = rlimit::getrlimit(Resource::NOFILE).expect("getrlimit");
        assert_eq!((soft_after, hard_after), (soft, hard));
        assert_eq!(now, Some(soft), "the answer is the limit in force");
    }
}
