//! `nettool lab`: run a command behind an emulated impaired link.

use clap::Args;

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
    /// The command to run inside, after `--`.
    #[arg(last = true, required = true)]
    pub cmd: Vec<String>,
}
