//! TUN devices, through the `tun-rs` crate (which owns the `ioctl`s, so nettool stays
//! free of `unsafe`): a layer-3 device without packet-information header.
//!
//! Without offload each read is one whole IP packet of at most the MTU, which is what
//! the impairment engine needs (loss, queues and delays act per packet). With offload
//! (`IFF_VNET_HDR` + TSO/checksum offload) each read is a 10-byte virtio-net header and
//! a GSO "super-packet" of up to 64 KiB that the receiving kernel segments itself; the
//! lab uses it only for a perfect link in both directions, where the shuttle forwards
//! those bytes unchanged, so an unimpaired lab is not limited by packets per second.
//!
//! Both of a lab's devices are created here, in the current (host) namespace; the
//! inside one is then moved into the lab's namespace with `ip link set DEV netns NS`,
//! and the file descriptor we hold stays valid across the move. Devices are not
//! persistent: closing the descriptor (dropping the [`Tun`]) removes the device.

use std::io;
use tun_rs::{DeviceBuilder, SyncDevice};

/// The MTU of both lab devices (Ethernet's).
pub const MTU: u16 = 1500;

/// A TUN device and its name.
pub struct Tun {
    /// The open device (non-blocking reads and writes of whole packets).
    pub dev: SyncDevice,
    /// Its interface name.
    pub name: String,
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun").field("name", &self.name).finish()
    }
}

/// Create the device `name` (at most 15 bytes), down, in non-blocking mode, with or
/// without offload (see the module docs).
pub fn create(name: &str, offload: bool) -> io::Result<Tun> {
    let dev = DeviceBuilder::new()
        .name(name)
        .mtu(MTU)
        .enable(false)
        .packet_information(false)
        .offload(offload)
        .build_sync()
        .map_err(|e| io::Error::new(e.kind(), format!("creating TUN device {name}: {e}")))?;
    dev.set_nonblocking(true)?;
    Ok(Tun {
        dev,
        name: name.to_string(),
    })
}
