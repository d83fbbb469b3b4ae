//! `nettool lab`: run a command behind an emulated impaired link.

use clap::Args;
use nettool::lab::pcap::{CaptureConfig, DEFAULT_MAX_BYTES};
use std::path::PathBuf;

#[derive(Args)]
#[command(
    after_help = "SPEC: space-separated key=value: delay=25ms jitter=5ms loss=1% burst=4 dup=1% \
reorder=2% rate=20mbit queue=100 (packets; 64kb for bytes) seed=7. \
Inside, the host is at $NETTOOL_LAB_HOST."
)]
pub struct LabArgs {
    /// Impairment of both directions, e.g. "delay=25ms loss=1%" (empty: a perfect link).
    #[arg(long, default_value = "")]
    pub link: String,
    /// Inside -> host instead of --link.
    #[arg(long)]
    pub uplink: Option<String>,
    /// Host -> inside instead of --link.
    #[arg(long)]
    pub downlink: Option<String>,
    #[command(flatten)]
    pub pcap: PcapArgs,
    /// The command to run inside, after `--`.
    #[arg(last = true, required = true)]
    pub cmd: Vec<String>,
}

/// `--pcap` and its bounds (`nettool lab` and `nettool bench --link`).
#[derive(Args, Clone, Debug)]
pub struct PcapArgs {
    /// Write every packet entering the emulated link, both directions, to FILE as pcapng
    /// (tcpdump -r, tshark, Wireshark), stamped when it entered; the packets the lab
    /// dropped, duplicated or held back carry a comment.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// With --pcap: bytes kept per packet [default: its IP and TCP/UDP headers plus 96].
    #[arg(long, requires = "pcap", value_name = "BYTES")]
    pub pcap_snaplen: Option<u32>,
    /// With --pcap: stop capturing (the run goes on) before the file grows past SIZE
    /// (K, M, G suffixes).
    #[arg(long, requires = "pcap", value_name = "SIZE", value_parser = super::parse_size)]
    pub pcap_max: Option<usize>,
}

impl PcapArgs {
    /// The capture asked for, if any.
    pub fn config(&self) -> Option<CaptureConfig> {
        Some(CaptureConfig {
            path: self.pcap.clone()?,
            snaplen: self.pcap_snaplen,
            max_bytes: self.pcap_max.map_or(DEFAULT_MAX_BYTES, |m| m as u64),
        })
    }
}
