//! The TCP stream's side of the intervals: writes that give up now and then so that
//! ticks come on time even on a slow link, one `TCP_INFO` read per tick (never one per
//! write), and the wait for the sink's report with ticks going on while the queued data
//! drains.

use super::{CcSample, Cum, Recorder};
use crate::echo::sink::TcpReport;
use crate::transport::stats::CcStats;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long a write may block before the loop looks at the clock (with intervals).
pub const WRITE_SLICE: Duration = Duration::from_millis(20);

/// Write what the socket takes of `chunk` within [`WRITE_SLICE`]: the bytes written.
pub fn write_some(s: &mut TcpStream, chunk: &[u8]) -> io::Result<u64> {
    let mut done = 0;
    while done < chunk.len() {
        match s.write(&chunk[done..]) {
            Ok(n) => done += n,
            Err(e) if is_timeout(&e) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done as u64)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A reliable stream's cumulative figures: the bytes the peer acknowledged where the
/// transport counts them (TCP), else `written` (the bytes handed to it), and the rest of
/// its view.
pub fn cum(cc: Option<CcSample>, written: u64) -> Cum {
    Cum {
        bytes: cc.and_then(|c| c.acked_bytes).unwrap_or(written),
        cc,
        ..Cum::default()
    }
}

/// Record a tick if one is due (one snapshot: over TCP, one `getsockopt`). `written`:
/// the bytes handed to the connection so far.
pub fn tick(rec: &mut Recorder, s: &impl CcStats, written: u64) {
    if let Some(tick) = rec.due(Instant::now()) {
        if let Some(c) = s.cc_snapshot() {
            rec.record(tick, cum(Some(c), written));
        }
    }
}

/// The sink's report, within 10 s of the half-close; ticks go on meanwhile (on a slow
/// link the queued data takes a while to drain).
pub fn read_report(
    s: &mut TcpStream,
    mut rec: Option<&mut Recorder>,
    written: u64,
) -> io::Result<[u8; TcpReport::LEN]> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut b = [0u8; TcpReport::LEN];
    let mut got = 0;
    while got < b.len() {
        let now = Instant::now();
        if now >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no report from the sink within 10 s",
            ));
        }
        let until = rec
            .as_ref()
            .map_or(deadline, |r| r.next_due().min(deadline));
        s.set_read_timeout(Some(
            until
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)),
        ))?;
        match s.read(&mut b[got..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if let Some(rec) = rec.as_deref_mut() {
            tick(rec, s, written);
        }
    }
    Ok(b)
}
