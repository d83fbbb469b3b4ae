//! What the lab needs from the system, checked up front so that a missing privilege is
//! one clear line naming it (not a backtrace, not a hang): iproute2's `ip`, the
//! capabilities CAP_NET_ADMIN (TUN devices, addresses, moving a device into a namespace)
//! and CAP_SYS_ADMIN (`ip netns add` mounts the namespace under /run/netns), and a
//! usable `/dev/net/tun`.
//!
//! Without root, an unprivileged user namespace (`unshare -Urn`) grants both
//! capabilities over namespaces it owns, but not the right to open a `/dev/net/tun`
//! that is `crw-------` root-owned (the device's owner is unmapped inside it), so on such
//! a machine the lab stops here with the `/dev/net/tun` line. See docs/link-lab.md.

use std::io;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// The effective capability set of this process, from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Ok, or one line saying what is missing.
pub fn check() -> Result<(), String> {
    if super::netns::ip_binary().is_none() {
        return Err("needs iproute2's `ip` (not found on PATH, /usr/sbin or /sbin; apt-get install iproute2)".into());
    }
    let caps = effective_caps().unwrap_or(0);
    let missing: Vec<&str> = [
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    ]
    .iter()
    .filter(|(bit, _)| caps & (1 << bit) == 0)
    .map(|(_, name)| *name)
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "needs {} (TUN devices and network namespaces): run it as root",
            missing.join(" and ")
        ));
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(
            "needs /dev/net/tun, which does not exist here (modprobe tun; in a container, pass the device in)".into(),
        ),
        Err(e) => Err(format!(
            "cannot open /dev/net/tun: {e} (it needs root, or a device node this user may open)"
        )),
    }
}
