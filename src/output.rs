//! Results on stdout. `println!` panics when stdout is a closed pipe (`nettool … | head
//! -1`) or a full disk; these return the error instead, naming stdout, so a command can
//! end on it: the binary ends quietly on a closed pipe and with one line otherwise.

use std::fmt;
use std::io::{self, Write};

/// Write `args` to stdout and flush (results are read as they come, line by line).
pub fn print(args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(|e| io::Error::new(e.kind(), format!("writing to stdout: {e}")))
}

/// Whether `err` is, at bottom, stdout's reader having gone (a closed pipe).
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
