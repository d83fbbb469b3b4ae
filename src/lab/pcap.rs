//! `--pcap FILE`: every packet that enters the emulated link, both directions, written as
//! pcapng (the `pcap-file` crate writes the blocks) for `tcpdump -r`, tshark and
//! Wireshark.
//!
//! * One interface, `lab-link`, LINKTYPE_RAW (IP packets, no link header), described by
//!   both directions' specs. One, not one per direction: libpcap 1.10 (tcpdump 4.99)
//!   refuses a second LINKTYPE_RAW interface ("an interface has a type 101 different from
//!   the type of the first interface"). The direction is each packet's `epb_flags`:
//!   inbound for uplink (inside → host), outbound for downlink (host → inside), as seen
//!   from the host; the addresses say it too (10.213.N.2 is inside).
//! * One Enhanced Packet Block per packet that entered the link, stamped (ns) with the
//!   time the shuttle read it, before any delay: so a dropped segment and the
//!   retransmission that repaired it both appear, in the order the sender sent them.
//! * What the lab did is a per-packet comment (not a separate interface, so a dropped
//!   segment stays in its TCP stream for Wireshark's analysis): `nettool lab: dropped
//!   (loss)`, `dropped (queue full)`, `held back (reorder)`, `duplicated`. Wireshark:
//!   `frame.comment contains "dropped"`.
//! * At the end an Interface Statistics Block: packets in (`isb_ifrecv`), dropped by the
//!   lab (`isb_ifdrop`), not kept by the capture (`isb_osdrop`), each direction's counts
//!   as its comments.
//!
//! Bounded and out of the link's way: a lane copies at most the snap length (by default
//! the IP and TCP/UDP headers plus [`PAYLOAD_KEPT`] bytes) into its own batch under an
//! uncontended lock, never waits on the disk and never wakes anyone; a writer thread
//! takes the batches every [`FLUSH_EVERY`] and writes them whole (so a killed run leaves
//! a file complete up to its last batch). A batch that grows past [`MAX_PENDING`] drops
//! records (counted) rather than memory. At the size cap, or when a write fails (a full
//! disk), the capture stops with one line on stderr and the run goes on.

use super::impair::Verdict;
use super::packet;
use super::LinkCounts;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// Payload bytes kept after the headers by default.
pub const PAYLOAD_KEPT: usize = 96;
/// The default size cap of a capture file.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// How often the writer takes the lanes' batches.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Records a lane holds for the writer at most (about 10 MB of headers).
pub const MAX_PENDING: usize = 65_536;

/// What to capture, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// The pcapng file (created or truncated).
    pub path: PathBuf,
    /// Bytes kept per packet; `None`: the headers plus [`PAYLOAD_KEPT`].
    pub snaplen: Option<u32>,
    /// Stop capturing (not the run) once the file would grow past this.
    pub max_bytes: u64,
}

/// How a capture ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The file written.
    pub path: PathBuf,
    /// Packets written.
    pub packets: u64,
    /// Of those, marked dropped by the lab.
    pub dropped: u64,
    /// Marked duplicated.
    pub duplicated: u64,
    /// Marked held back (reorder).
    pub held: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Packets not recorded: the writer fell behind, or the capture had stopped.
    pub missed: u64,
    /// Why the capture stopped before the run ended, if it did.
    pub stopped: Option<String>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "capture {}: {} packets ({} marked dropped, {} duplicated, {} held back), {:.1} KB",
            self.path.display(),
            self.packets,
            self.dropped,
            self.duplicated,
            self.held,
            self.bytes as f64 / 1024.0
        )?;
        if self.missed > 0 {
            write!(f, "; {} packets not recorded", self.missed)?;
        }
        if let Some(why) = &self.stopped {
            write!(f, "; stopped early: {why}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    at: Instant,
    orig_len: u32,
    len: u32,
    verdict: Option<Verdict>,
}

#[derive(Debug, Default)]
struct Batch {
    metas: Vec<Meta>,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct Shared {
    lanes: [Mutex<Batch>; 2],
    missed: [AtomicU64; 2],
    /// The capture has stopped (cap or error): lanes record nothing more.
    stopped: AtomicBool,
    /// The lab is stopping: the writer drains and ends.
    ending: AtomicBool,
    snaplen: Option<u32>,
    /// The virtio-net header in front of each packet when the devices offload.
    vnet: usize,
    counts: Mutex<Option<LinkCounts>>,
}

/// One lane's (direction's) handle: 0 uplink, 1 downlink.
#[derive(Debug, Clone)]
pub struct Tap {
    shared: Arc<Shared>,
    lane: usize,
}

impl Tap {
    /// Record a packet read at `at`; `verdict` is the engine's (`None`: a perfect lane).
    pub fn record(&self, at: Instant, pkt: &[u8], verdict: Option<Verdict>) {
        let s = &*self.shared;
        if s.stopped.load(Ordering::Relaxed) {
            return;
        }
        let pkt = pkt.get(s.vnet..).unwrap_or(&[]);
        let len = match s.snaplen {
            Some(n) => n as usize,
            None => packet::headers(pkt).map_or(60, |h| h.len) + PAYLOAD_KEPT,
        }
        .min(pkt.len());
        let mut b = s.lanes[self.lane].lock().unwrap_or_else(|e| e.into_inner());
        if b.metas.len() >= MAX_PENDING {
            drop(b);
            s.missed[self.lane].fetch_add(1, Ordering::Relaxed);
            return;
        }
        b.metas.push(Meta {
            at,
            orig_len: pkt.len() as u32,
            len: len as u32,
            verdict,
        });
        b.bytes.extend_from_slice(&pkt[..len]);
    }
}

/// A running capture: the file and its writer thread.
#[derive(Debug)]
pub struct Capture {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<Summary>>,
}

impl Capture {
    /// Create the file and write its header (so an unwritable path fails here, before
    /// anything runs), then start the writer. `describe` names the link for the file's
    /// comment, `specs` each direction (uplink, downlink); `offload`: packets come with a
    /// virtio-net header (see `tun`).
    pub fn start(
        cfg: &CaptureConfig,
        describe: &str,
        specs: [String; 2],
        offload: bool,
    ) -> std::io::Result<Capture> {
        let named = |e: std::io::Error| {
            std::io::Error::new(
                e.kind(),
                format!("capture file {}: {e}", cfg.path.display()),
            )
        };
        let mut file = std::fs::File::create(&cfg.path).map_err(named)?;
        let mut w = header(describe, &specs, cfg.snaplen)
            .map_err(|e| named(std::io::Error::other(e.to_string())))?;
        let head = std::mem::take(w.get_mut());
        file.write_all(&head).map_err(named)?;
        let shared = Arc::new(Shared {
            lanes: Default::default(),
            missed: Default::default(),
            stopped: AtomicBool::new(false),
            ending: AtomicBool::new(false),
            snaplen: cfg.snaplen,
            vnet: if offload {
                tun_rs::VIRTIO_NET_HDR_LEN
            } else {
                0
            },
            counts: Mutex::new(None),
        });
        let writer = Writer {
            shared: shared.clone(),
            w,
            file,
            epoch: (SystemTime::now(), Instant::now()),
            max: cfg.max_bytes,
            spare: Batch::default(),
            summary: Summary {
                path: cfg.path.clone(),
                bytes: head.len() as u64,
                ..Summary::default()
            },
            on_disk: [0; 4],
        };
        let writer = std::thread::Builder::new()
            .name("lab-pcap".into())
            .spawn(move || writer.run())?;
        Ok(Capture {
            shared,
            writer: Some(writer),
        })
    }

    /// The handle for lane 0 (uplink) or 1 (downlink).
    pub fn tap(&self, lane: usize) -> Tap {
        Tap {
            shared: self.shared.clone(),
            lane: lane.min(1),
        }
    }

    /// Write what is left and the statistics (`counts`: the link's final counts), close
    /// the file: how the capture went.
    pub fn finish(mut self, counts: LinkCounts) -> Summary {
        *self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()) = Some(counts);
        self.end().unwrap_or_default()
    }

    fn end(&mut self) -> Option<Summary> {
        let writer = self.writer.take()?;
        self.shared.ending.store(true, Ordering::Relaxed);
        writer.thread().unpark();
        writer.join().ok()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.end();
    }
}

/// The section header and the interface, in a writer over memory.
fn header(
    describe: &str,
    specs: &[String; 2],
    snaplen: Option<u32>,
) -> pcap_file::PcapResult<PcapNgWriter<Vec<u8>>> {
    let shb = SectionHeaderBlock {
        options: vec![
            SectionHeaderOption::UserApplication(Cow::Owned(format!(
                "nettool {}",
                env!("CARGO_PKG_VERSION")
            ))),
            SectionHeaderOption::Comment(Cow::Owned(format!(
                "nettool lab, link {describe}. Each packet is stamped with the time it \
                 entered the link; those the lab dropped, duplicated or held back carry a comment."
            ))),
        ],
        endianness: pcap_file::Endianness::native(),
        ..SectionHeaderBlock::default()
    };
    let mut w = PcapNgWriter::with_section_header(Vec::new(), shb)?;
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::RAW,
        snaplen: snaplen.unwrap_or(0),
        options: vec![
            InterfaceDescriptionOption::IfName(Cow::Borrowed("lab-link")),
            InterfaceDescriptionOption::IfDescription(Cow::Owned(format!(
                "nettool lab: uplink (inside -> host, inbound) {}; \
                 downlink (host -> inside, outbound) {}",
                specs[0], specs[1]
            ))),
            InterfaceDescriptionOption::IfTsResol(9),
        ],
    })?;
    Ok(w)
}

/// The comment for what the lab did with a packet.
fn comment(v: Verdict) -> Option<&'static str> {
    match v {
        Verdict::Lost => Some("nettool lab: dropped (loss)"),
        Verdict::QueueFull => Some("nettool lab: dropped (queue full)"),
        Verdict::Passed {
            held: true,
            duplicated: true,
        } => Some("nettool lab: held back (reorder) and duplicated"),
        Verdict::Passed { held: true, .. } => Some("nettool lab: held back (reorder)"),
        Verdict::Passed {
            duplicated: true, ..
        } => Some("nettool lab: duplicated"),
        Verdict::Passed { .. } => None,
    }
}

#[path = "pcap_writer.rs"]
mod writer;
use writer::Writer;

#[cfg(test)]
#[path = "pcap_tests.rs"]
mod tests;
