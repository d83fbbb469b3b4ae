//! The one skip policy. A test that needs something this machine may lack (a peer tool,
//! root and `/dev/net/tun`, a free well-known port) asks [`require`] first:
//!
//! - present: the test runs;
//! - missing under CI (`CI` set to anything but the empty string): the test fails,
//!   saying what is missing;
//! - missing elsewhere: the test is skipped. It returns at once, after a notice on stderr
//!   (written past libtest's capture, so it shows in a passing run too) and a line
//!   `TEST<TAB>WHY` appended to the file named by `NETTOOL_SKIPS`, when that is set:
//!   `scripts/test.sh` sets it, and after `cargo test` lists the skipped tests with why,
//!   and counts them apart from the passed ones.
//!
//! The test's name is its thread's: libtest runs each test on a thread named after it.

use std::io::Write;

/// The variable naming the file where skips are recorded (one line each).
pub const SKIPS_VAR: &str = "NETTOOL_SKIPS";

/// Whether this run is CI's: `CI` set to a non-empty value (`true`, `1`, `yes`...).
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Whether the test may go on: `check` says whether `need` (what the test needs: `nc`,
/// `the link lab`) is there, or why not. When it is not, the test fails under CI and is
/// skipped (recorded, see the module docs) elsewhere; a `false` answer means: return now.
#[must_use = "a test whose prerequisite is missing must return at once"]
pub fn require(need: &str, check: Result<(), String>) -> bool {
    let Err(why) = check else {
        return true;
    };
    let why = format!("{need}: {why}");
    if under_ci() {
        panic!("{why} (CI is set, so a missing prerequisite fails the test)");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("(unnamed test)");
    let one_line = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    // One write each, so that lines from tests running at once do not interleave.
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {why}\n").as_bytes());
    if let Some(path) = std::env::var_os(SKIPS_VAR) {
        let line = format!("{}\t{}\n", one_line(test), one_line(&why));
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!("cannot record the skip in {path:?} ({SKIPS_VAR}): {e}");
        }
    }
    false
}
