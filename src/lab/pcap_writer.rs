//! The capture's writer thread: every [`FLUSH_EVERY`] it swaps each lane's batch for an
//! empty one, merges the two by time, encodes the blocks into memory and writes them to
//! the file in one piece. It stops capturing at the size cap or on a failed write (one
//! line on stderr; the run goes on); when the lab ends it writes the last batch and the
//! statistics blocks.

use super::{comment, Batch, Meta, Shared, Summary, Verdict, FLUSH_EVERY};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_statistics::{
    InterfaceStatisticsBlock, InterfaceStatisticsOption,
};
use pcap_file::pcapng::{Block, PcapNgWriter};
use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    /// Encodes blocks into its `Vec`, which is written out and emptied each round.
    pub(super) w: PcapNgWriter<Vec<u8>>,
    pub(super) file: File,
    /// Wall-clock time of an instant, to stamp packets read at `Instant`s.
    pub(super) epoch: (SystemTime, Instant),
    pub(super) max: u64,
    pub(super) spare: Batch,
    pub(super) summary: Summary,
    /// The packet counts of what is on disk (packets, dropped, duplicated, held): a
    /// failed write takes the summary back to them.
    pub(super) on_disk: [u64; 4],
}

impl Writer {
    pub(super) fn run(mut self) -> Summary {
        let mut batches = [Batch::default(), Batch::default()];
        loop {
            let ending = self.shared.ending.load(Ordering::Relaxed);
            for (lane, b) in batches.iter_mut().enumerate() {
                let mut held = self.shared.lanes[lane]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                std::mem::swap(&mut *held, b);
            }
            if !self.stopped() {
                self.write_merged(&batches);
            }
            for b in &mut batches {
                b.metas.clear();
                b.bytes.clear();
            }
            if ending {
                break;
            }
            std::thread::park_timeout(FLUSH_EVERY);
        }
        self.statistics();
        self.summary.missed = self.missed();
        drop(self.spare);
        self.summary
    }

    /// Packets the lanes could not record (a full batch), both directions.
    fn missed(&self) -> u64 {
        self.shared
            .missed
            .iter()
            .map(|m| m.load(Ordering::Relaxed))
            .sum()
    }

    fn stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Relaxed)
    }

    /// Both lanes' records in time order, then out to the file.
    fn write_merged(&mut self, b: &[Batch; 2]) {
        let mut epb = empty_epb();
        epb.options.reserve(2);
        let (mut i, mut j) = ((0, 0), (0, 0));
        loop {
            let next = match (b[0].metas.get(i.0), b[1].metas.get(j.0)) {
                (Some(x), Some(y)) if x.at <= y.at => 0,
                (Some(_), None) => 0,
                (_, Some(_)) => 1,
                (None, None) => break,
            };
            let (at, lane, batch) = if next == 0 {
                (&mut i, 0, &b[0])
            } else {
                (&mut j, 1, &b[1])
            };
            let m = batch.metas[at.0];
            let data = &batch.bytes[at.1..at.1 + m.len as usize];
            *at = (at.0 + 1, at.1 + m.len as usize);
            if !self.packet(&mut epb, lane, &m, data) {
                break;
            }
        }
        self.flush();
    }

    /// Encode one packet; false once the size cap is reached.
    /// `epb` is reused from packet to packet (its options keep their allocation).
    fn packet<'a>(
        &mut self,
        epb: &mut EnhancedPacketBlock<'a>,
        lane: usize,
        m: &Meta,
        data: &'a [u8],
    ) -> bool {
        let note = m.verdict.and_then(comment);
        let before = self.w.get_ref().len();
        epb.timestamp = self.stamp(m.at);
        epb.original_len = m.orig_len;
        epb.data = Cow::Borrowed(data);
        epb.options.clear();
        // epb_flags bits 0-1: 01 inbound (uplink, towards the host), 10 outbound.
        let flags = if lane == 0 { 1 } else { 2 };
        epb.options.push(EnhancedPacketOption::Flags(flags));
        if let Some(c) = note {
            epb.options
                .push(EnhancedPacketOption::Comment(Cow::Borrowed(c)));
        }
        let block = Block::EnhancedPacket(std::mem::replace(epb, empty_epb()));
        let written = self.w.write_block(&block);
        if let Block::EnhancedPacket(b) = block {
            *epb = b;
        }
        if written.is_err() {
            return true; // into memory: cannot fail
        }
        if self.summary.bytes + self.w.get_ref().len() as u64 > self.max {
            self.w.get_mut().truncate(before);
            self.stop(format!(
                "it reached its size cap of {:.1} MB (--pcap-max) after {} packets",
                self.max as f64 / 1e6,
                self.summary.packets
            ));
            return false;
        }
        self.summary.packets += 1;
        match m.verdict {
            Some(Verdict::Lost | Verdict::QueueFull) => self.summary.dropped += 1,
            Some(Verdict::Passed { held, duplicated }) => {
                self.summary.held += u64::from(held);
                self.summary.duplicated += u64::from(duplicated);
            }
            None => {}
        }
        true
    }

    /// Write what has been encoded, in one piece (the buffer is kept for the next).
    fn flush(&mut self) {
        let out = self.w.get_mut();
        if out.is_empty() {
            return;
        }
        let result = self.file.write_all(out);
        let len = out.len() as u64;
        out.clear();
        let s = &mut self.summary;
        match result {
            Ok(()) => {
                s.bytes += len;
                self.on_disk = [s.packets, s.dropped, s.duplicated, s.held];
            }
            Err(e) => {
                // Part of this round may be on disk: cut it off, so that the file ends
                // with the last whole block (shrinking needs no space), and count only
                // the packets that stay.
                if let Err(e) = self.file.set_len(s.bytes) {
                    tracing::debug!(error = %e, "cannot cut the capture back");
                }
                [s.packets, s.dropped, s.duplicated, s.held] = self.on_disk;
                self.stop(format!(
                    "writing {}: {e} after {} packets",
                    self.summary.path.display(),
                    self.summary.packets
                ));
            }
        }
    }

    fn stop(&mut self, why: String) {
        if self.stopped() {
            return;
        }
        self.shared.stopped.store(true, Ordering::Relaxed);
        let _ = writeln!(
            std::io::stderr(),
            "nettool: the capture stopped: {why}; the file is readable up to there, and the run goes on"
        );
        self.summary.stopped = Some(why);
    }

    fn stamp(&self, at: Instant) -> Duration {
        let wall = match at.checked_duration_since(self.epoch.1) {
            Some(d) => self.epoch.0 + d,
            None => self.epoch.0 - self.epoch.1.duration_since(at),
        };
        wall.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }

    /// The statistics block: packets in, dropped by the lab, not kept; each direction's
    /// counts as comments.
    fn statistics(&mut self) {
        if self.stopped() {
            return;
        }
        let counts = *self.shared.counts.lock().unwrap_or_else(|e| e.into_inner());
        let Some(counts) = counts else {
            return;
        };
        let now = self.stamp(Instant::now()).as_nanos() as u64;
        let (up, down) = (counts.uplink, counts.downlink);
        let missed = self.missed();
        {
            let isb = InterfaceStatisticsBlock {
                interface_id: 0,
                // pcap-file 2.0 writes this u64 low word first where pcapng wants the
                // high word first: swap the halves so that readers see the right time.
                timestamp: if cfg!(target_endian = "little") {
                    now.rotate_left(32)
                } else {
                    now
                },
                options: vec![
                    InterfaceStatisticsOption::IsbIfRecv(up.received + down.received),
                    InterfaceStatisticsOption::IsbIfDrop(
                        up.dropped_loss + up.dropped_queue + down.dropped_loss + down.dropped_queue,
                    ),
                    InterfaceStatisticsOption::IsbOsDrop(missed),
                    InterfaceStatisticsOption::Comment(Cow::Owned(format!("uplink: {up}"))),
                    InterfaceStatisticsOption::Comment(Cow::Owned(format!("downlink: {down}"))),
                ],
            };
            let _ = self.w.write_pcapng_block(isb);
        }
        self.flush();
    }
}

/// A packet block to fill in (interface 0, no options yet).
fn empty_epb() -> EnhancedPacketBlock<'static> {
    EnhancedPacketBlock {
        interface_id: 0,
        timestamp: Duration::ZERO,
        original_len: 0,
        data: Cow::Borrowed(&[]),
        options: Vec::new(),
    }
}
