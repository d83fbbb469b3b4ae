//! Network namespaces and link configuration through iproute2's `ip`, run as a
//! subprocess (`ip netns add/del/exec`, `ip link`, `ip addr`): one well-known tool instead
//! of netlink code of our own, and nothing `unsafe` in nettool.
//!
//! Names carry the owner's pid: the namespace is `nettool-lab-PID-N` where `N` is the
//! third octet of the lab's 10.213.N.0/30-style pair of addresses, so a new lab can see
//! which `N` are taken and [`sweep_stale`] can remove namespaces whose owner died
//! without cleaning up (e.g. SIGKILL). A TUN device needs no sweeping: the kernel removes
//! it when its last file descriptor closes.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Prefix of every namespace the lab creates.
pub const PREFIX: &str = "nettool-lab-";

/// The `ip` binary: the first `ip` on PATH, else /usr/sbin/ip or /sbin/ip.
pub fn ip_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("ip"))
        .find(|p| p.is_file())
}

/// Run `ip ARGS`; a failure carries ip's own error text.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let bin = ip_binary()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "iproute2's `ip` not found"))?;
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn ip_output(args: &[&str]) -> io::Result<String> {
    let bin = ip_binary()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "iproute2's `ip` not found"))?;
    let out = Command::new(bin).args(args).stdin(Stdio::null()).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Lab namespaces present now: (name, owner pid, N).
pub fn existing() -> io::Result<Vec<(String, u32, u8)>> {
    let list = ip_output(&["netns", "list"])?;
    Ok(list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|name| {
            let rest = name.strip_prefix(PREFIX)?;
            let (pid, n) = rest.split_once('-')?;
            Some((name.to_string(), pid.parse().ok()?, n.parse().ok()?))
        })
        .collect())
}

/// Remove lab namespaces whose owning process is gone; returns how many. Hold
/// [`pick_lock`] across it.
pub fn sweep_stale() -> io::Result<usize> {
    let mut removed = 0;
    for (name, pid, _) in existing()? {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            match ip(&["netns", "del", &name]) {
                Ok(()) => {
                    tracing::info!(netns = %name, pid, "removed a stale lab namespace");
                    removed += 1;
                }
                // Someone else (a lab of a program that takes no lock) was quicker.
                Err(_) if !std::path::Path::new("/run/netns").join(&name).exists() => {}
                Err(e) => tracing::warn!(netns = %name, error = %e, "stale namespace not removed"),
            }
        }
    }
    Ok(removed)
}

/// Where the labs of every process on this machine take turns at [`pick_subnet`].
const PICK_LOCK: &str = "/run/nettool-lab.lock";

/// The machine-wide lock to hold from [`pick_subnet`] until the namespace named for the
/// chosen `N` exists: without it two processes (two test suites, two `nettool lab` runs)
/// can both list the namespaces, see the same `N` free, and configure the same addresses.
/// Released when dropped.
pub fn pick_lock() -> io::Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PICK_LOCK)
        .map_err(|e| io::Error::new(e.kind(), format!("{PICK_LOCK}: {e}")))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io::Error::other(format!("locking {PICK_LOCK}: {errno}")))
}

/// A free third octet for 10.213.N.0, starting from a pid-derived guess. Hold
/// [`pick_lock`] across it and the namespace's creation.
pub fn pick_subnet(pid: u32) -> io::Result<u8> {
    let taken: Vec<u8> = existing()?.into_iter().map(|(_, _, n)| n).collect();
    let start = (pid % 256) as u8;
    (0..=255u8)
        .map(|i| start.wrapping_add(i))
        .find(|n| !taken.contains(n))
        .ok_or_else(|| io::Error::other("all 256 lab subnets 10.213.0-255.0 are in use"))
}

/// The addresses of lab `n`: (host side, inside).
pub fn addresses(n: u8) -> (Ipv4Addr, Ipv4Addr) {
    (Ipv4Addr::new(10, 213, n, 1), Ipv4Addr::new(10, 213, n, 2))
}

/// A namespace this process created; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create the namespace `name` (`ip netns add`); dropping it deletes it.
    pub fn create(name: &str) -> io::Result<Netns> {
        ip(&["netns", "add", name])?;
        Ok(Netns {
            name: name.to_string(),
        })
    }

    /// Its name, for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            tracing::warn!(netns = %self.name, error = %e, "lab namespace not removed");
        }
    }
}

/// Give `dev` (in namespace `ns`, or the current one) the local address `local` with
/// a point-to-point route to `peer` only, no IPv6 link-local address, and bring it up.
pub fn configure_p2p(
    ns: Option<&str>,
    dev: &str,
    local: Ipv4Addr,
    peer: Ipv4Addr,
) -> io::Result<()> {
    let (l, p) = (local.to_string(), peer.to_string());
    let run = |args: &[&str]| -> io::Result<()> {
        match ns {
            Some(ns) => {
                let mut v = vec!["-n", ns];
                v.extend_from_slice(args);
                ip(&v)
            }
            None => ip(args),
        }
    };
    run(&["link", "set", dev, "addrgenmode", "none"])?;
    run(&["addr", "add", &l, "peer", &p, "dev", dev])?;
    run(&["link", "set", dev, "up"])?;
    if ns.is_some() {
        run(&["link", "set", "lo", "up"])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_a_private_pair() {
        let (h, i) = addresses(7);
        assert_eq!(h, Ipv4Addr::new(10, 213, 7, 1));
        assert_eq!(i, Ipv4Addr::new(10, 213, 7, 2));
        assert!(h.is_private() && i.is_private());
    }
}
