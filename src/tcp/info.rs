//! The kernel's own view of a TCP connection: `getsockopt(TCP_INFO)` (Linux), read into
//! a plain [`TcpInfo`] of the fields the bench shows.
//!
//! This is the one `unsafe` block in nettool. No maintained crate reads `TCP_INFO` today:
//! socket2 0.6 and nix 0.31 do not wrap it (nix has an open pull request for it), and
//! `tcp-info-sys` is a young one-maintainer crate that runs bindgen (libclang) at build
//! time. nix's public `sockopt_impl!` macro would hide the same call inside a macro,
//! and its getter panics when the kernel returns fewer bytes than the struct (any kernel
//! older than the libc crate's `tcp_info`), so the call is written out here instead, in
//! one function, with why it is sound beside it.

use crate::transport::stats::{CcSnapshot, CcStats};
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsFd, AsRawFd};

/// What `TCP_INFO` says about one connection (the fields the bench uses). Counters are
/// cumulative since the connection opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Segments retransmitted over the connection's life (`tcpi_total_retrans`).
    pub total_retrans: u64,
    /// Data segments sent, retransmissions included (`tcpi_data_segs_out`).
    pub data_segs_out: u64,
    /// Congestion window, in segments (`tcpi_snd_cwnd`).
    pub snd_cwnd: u32,
    /// Sender's maximum segment size, in bytes (`tcpi_snd_mss`).
    pub snd_mss: u32,
    /// Smoothed round-trip time, in µs (`tcpi_rtt`).
    pub rtt_us: u32,
    /// Its mean deviation, in µs (`tcpi_rttvar`).
    pub rttvar_us: u32,
    /// Sequence space the peer has acknowledged (`tcpi_bytes_acked`): the bytes, plus
    /// one for the SYN (and one for a FIN).
    pub bytes_acked: u64,
    /// The most recent delivery-rate sample, in bytes per second (`tcpi_delivery_rate`).
    pub delivery_rate: u64,
    /// Segments the peer reported, by D-SACK, as received twice: retransmissions that
    /// were not needed (`tcpi_dsack_dups`, Linux 5.0; 0 before).
    pub dsack_dups: u64,
}

impl TcpInfo {
    /// The congestion window in bytes (segments × MSS).
    pub fn cwnd_bytes(&self) -> u64 {
        u64::from(self.snd_cwnd) * u64::from(self.snd_mss)
    }
}

impl From<TcpInfo> for CcSnapshot {
    fn from(i: TcpInfo) -> Self {
        CcSnapshot {
            source: "TCP_INFO",
            retransmits: i.total_retrans,
            spurious: Some(i.dsack_dups),
            sent: i.data_segs_out,
            // Not the SYN's sequence number.
            acked_bytes: Some(i.bytes_acked.saturating_sub(1)),
            cwnd_bytes: i.cwnd_bytes(),
            srtt_us: i.rtt_us.into(),
            rttvar_us: Some(i.rttvar_us.into()),
            delivery_rate_bps: (i.delivery_rate > 0).then(|| i.delivery_rate.saturating_mul(8)),
        }
    }
}

/// One `getsockopt` per call; `None` (logged) when the kernel has no `TCP_INFO` to give.
impl CcStats for std::net::TcpStream {
    fn cc_snapshot(&self) -> Option<CcSnapshot> {
        match read(self) {
            Ok(i) => Some(i.into()),
            Err(e) => {
                tracing::debug!(error = %e, "no TCP_INFO");
                None
            }
        }
    }
}

/// TLS over TCP: the figures of the TCP socket underneath (TLS adds no retransmission of
/// its own; its records are TCP's bytes).
impl CcStats for super::tls::BlockingStream {
    fn cc_snapshot(&self) -> Option<CcSnapshot> {
        self.sock.cc_snapshot()
    }
}

/// Read `TCP_INFO` from a connected TCP socket.
///
/// Fields the running kernel does not fill (`tcpi_delivery_rate` before Linux 4.9) are left at 0; an error if it fills fewer bytes
/// than the counters need (before Linux 4.6).
pub fn read(sock: &impl AsFd) -> io::Result<TcpInfo> {
    let (raw, len) = getsockopt_tcp_info(sock)?;
    let need = offset_of!(libc::tcp_info, tcpi_data_segs_out) + size_of::<u32>();
    if len < need {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("TCP_INFO returned {len} bytes; this kernel is too old (need {need})"),
        ));
    }
    let has = |end: usize| len >= end;
    let rate_end = offset_of!(libc::tcp_info, tcpi_delivery_rate) + size_of::<u64>();
    let dsack_end = offset_of!(libc::tcp_info, tcpi_dsack_dups) + size_of::<u32>();
    Ok(TcpInfo {
        total_retrans: raw.tcpi_total_retrans.into(),
        data_segs_out: raw.tcpi_data_segs_out.into(),
        snd_cwnd: raw.tcpi_snd_cwnd,
        snd_mss: raw.tcpi_snd_mss,
        rtt_us: raw.tcpi_rtt,
        rttvar_us: raw.tcpi_rttvar,
        bytes_acked: raw.tcpi_bytes_acked,
        delivery_rate: if has(rate_end) {
            raw.tcpi_delivery_rate
        } else {
            0
        },
        dsack_dups: if has(dsack_end) {
            raw.tcpi_dsack_dups.into()
        } else {
            0
        },
    })
}

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)` into a zeroed `libc::tcp_info`: the struct
/// and the number of bytes the kernel filled.
#[allow(unsafe_code)]
fn getsockopt_tcp_info(sock: &impl AsFd) -> io::Result<(libc::tcp_info, usize)> {
    let fd = sock.as_fd();
    // SAFETY: `libc::tcp_info` is a `repr(C)` struct of integers only, so the all-zero
    // bit pattern is a valid value of it (and every pattern the kernel writes is too).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `fd` is a file descriptor borrowed for this call, so it stays open; the
    // pointer and `len` describe exactly `info`, which lives on this stack frame for the
    // whole call; the kernel writes at most `len` bytes into it (it copies
    // min(len, its own struct size)) and stores the count it wrote back in `len`. Bytes
    // it does not write stay zero.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((info, len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_loopback_connection_reports_its_bytes_and_no_retransmissions() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.write_all(&[7u8; 10_000]).unwrap();
        let mut got = vec![0u8; 10_000];
        s.read_exact(&mut got).unwrap();
        // The peer has read it all; its ACK may still be on its way: wait for it.
        s.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).unwrap();
        let i = read(&c).unwrap();
        assert_eq!(i.bytes_acked, 10_001, "the SYN and the bytes: {i:?}");
        assert_eq!(i.total_retrans, 0);
        assert!(
            i.data_segs_out >= 1 && i.snd_cwnd > 0 && i.snd_mss > 0,
            "{i:?}"
        );
        assert!(i.cwnd_bytes() >= u64::from(i.snd_mss));
    }

    #[test]
    fn a_udp_socket_is_refused_with_an_error_not_garbage() {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(read(&u).is_err());
    }
}
