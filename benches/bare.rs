//! The floor for nettool's QUIC and TLS figures: a bare quinn echo and a bare
//! tokio-rustls echo, with nothing of nettool's in the measured path — the same
//! measurements as `nettool bench` (round trip of 64 bytes, stream and DATAGRAM; one-way
//! goodput; time to the first echoed byte with a full, a resumed and a 0-RTT handshake),
//! the same crypto (aws-lc-rs, its default groups), quinn's windows, socket buffers and
//! congestion controller as nettool sets them. Server and client each run on a
//! current-thread runtime of their own thread, as nettool's in-process echo server and
//! measuring thread do.
//!
//! `cargo bench --bench bare` (release), or `cargo bench --bench bare -- --json`.
//! `--bulk SECS` sets the goodput runs' length; `--pin` puts the server threads on CPU 0
//! and the client on CPU 1, as `nettool bench --pin` pins its echo server and measuring
//! side. `scripts/quic-tls-compare.sh` runs it beside
//! `nettool bench` in one go.

use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RTT: Duration = Duration::from_secs(2);
/// How long each bulk transfer runs unless `--bulk SECS` says (2 s, as `nettool bench`).
const BULK: Duration = Duration::from_secs(2);
const SETUPS: usize = 300;
const CHUNK: usize = 128 * 1024;

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let pin = std::env::args().any(|a| a == "--pin");
    let args: Vec<String> = std::env::args().collect();
    let bulk = args
        .iter()
        .position(|a| a == "--bulk")
        .and_then(|i| args.get(i + 1))
        .map(|s| Duration::from_secs_f64(s.parse().expect("--bulk SECS")))
        .unwrap_or(BULK);
    if pin {
        nettool::bench::cpu::pin_thread(1);
    }
    nettool::cert::install_provider();
    let id = nettool::cert::Identity::ephemeral().expect("certificate");
    let (chain, key) = (id.chain.clone(), id.key());
    let server_cpu = pin.then_some(0);
    let q = server_thread(server_cpu, move |rt| rt.block_on(quic_server(chain, key)));
    let t = server_thread(server_cpu, move |rt| {
        rt.block_on(tls_server(id.chain.clone(), id.key()))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let r = rt.block_on(async {
        let (q, t) = (q.recv().expect("quic addr"), t.recv().expect("tls addr"));
        let mut r = serde_json::Map::new();
        let mut put = |k: &str, v: f64| {
            r.insert(k.into(), v.into());
        };
        let (ep, conn) = quic_connect(q, true).await;
        put("quic_rtt_stream_p50_us", quic_rtt(&conn, false).await);
        put("quic_rtt_datagram_p50_us", quic_rtt(&conn, true).await);
        put("quic_goodput_gbps", quic_bulk(&conn, bulk).await);
        conn.close(0u32.into(), b"");
        drop(ep);
        let (full, resumed, zero) = quic_setups(q).await;
        put("quic_setup_full_p50_us", full);
        put("quic_setup_resumed_p50_us", resumed);
        put("quic_setup_0rtt_p50_us", zero);
        let mut s = tls_connect(t, &tls_client(false)).await;
        put("tls_rtt_p50_us", tls_rtt(&mut s).await);
        put("tls_goodput_gbps", tls_bulk(t, bulk).await);
        let (full, resumed) = tls_setups(t).await;
        put("tls_setup_full_p50_us", full);
        put("tls_setup_resumed_p50_us", resumed);
        r
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&r).expect("json"));
    } else {
        for (k, v) in &r {
            println!("{k:28} {v:.1}");
        }
    }
}

fn server_thread(
    cpu: Option<usize>,
    f: impl FnOnce(&tokio::runtime::Runtime) -> std::io::Result<()> + Send + 'static,
) -> std::sync::mpsc::Receiver<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            nettool::bench::cpu::pin_thread(cpu);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        ADDR.with(|a| *a.borrow_mut() = Some(tx));
        let _ = f(&rt);
    });
    rx
}

thread_local! {
    static ADDR: std::cell::RefCell<Option<std::sync::mpsc::Sender<SocketAddr>>> = const { std::cell::RefCell::new(None) };
}

fn announce(a: SocketAddr) {
    ADDR.with(|t| t.borrow().as_ref().map(|t| t.send(a)));
}

fn p50(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

fn transport() -> quinn::TransportConfig {
    use nettool::quic::endpoint::{CONN_WINDOW, STREAM_WINDOW};
    let mut t = quinn::TransportConfig::default();
    t.stream_receive_window(STREAM_WINDOW.into());
    t.receive_window(CONN_WINDOW.into());
    t.send_window(CONN_WINDOW.into());
    t.datagram_receive_buffer_size(Some(1 << 20));
    t.congestion_controller_factory(nettool::quic::endpoint::congestion().1);
    t
}

async fn quic_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> std::io::Result<()> {
    let mut tls = rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("cert");
    tls.alpn_protocols = vec![b"bare".to_vec()];
    tls.max_early_data_size = u32::MAX;
    let mut cfg =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls).expect("quic")));
    cfg.transport_config(Arc::new(transport()));
    let sock = nettool::quic::endpoint::socket("127.0.0.1:0".parse().expect("addr"))?;
    let ep = quinn::Endpoint::new(
        Default::default(),
        Some(cfg),
        sock,
        quinn::default_runtime().expect("rt"),
    )?;
    announce(ep.local_addr()?);
    while let Some(inc) = ep.accept().await {
        tokio::spawn(async move {
            let Ok(conn) = inc.accept() else { return };
            // 0.5-RTT, as nettool's echo server: 0-RTT streams answered in the first flight.
            let conn = match conn.into_0rtt() {
                Ok((c, _)) => c,
                Err(c) => {
                    let Ok(c) = c.await else { return };
                    c
                }
            };
            loop {
                tokio::select! {
                    bi = conn.accept_bi() => {
                        let Ok((mut s, mut r)) = bi else { return };
                        tokio::spawn(async move {
                            // Echo; a stream opening with 0xff is counted and answered with its length.
                            let mut counted: Option<u64> = None;
                            let mut first = true;
                            while let Ok(Some(c)) = r.read_chunk(usize::MAX, true).await {
                                if first && c.bytes.first() == Some(&0xff) {
                                    counted = Some(0);
                                }
                                first = false;
                                match &mut counted {
                                    Some(n) => *n += c.bytes.len() as u64,
                                    None => {
                                        let _ = s.write_chunk(c.bytes).await;
                                    }
                                }
                            }
                            if let Some(n) = counted {
                                let _ = s.write_all(&n.to_le_bytes()).await;
                            }
                            let _ = s.finish();
                        });
                    }
                    d = conn.read_datagram() => match d {
                        Ok(d) => { let _ = conn.send_datagram(d); }
                        Err(_) => return,
                    },
                }
            }
        });
    }
    Ok(())
}

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_tls(resume: bool, alpn: &[u8]) -> rustls::ClientConfig {
    // nettool's provider (aws-lc-rs, its suite order), so the crypto is the same.
    let provider = nettool::cert::provider(nettool::cert::Kx::PostQuantum);
    let mut c = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    c.alpn_protocols = vec![alpn.to_vec()];
    c.enable_early_data = true;
    if !resume {
        c.resumption = rustls::client::Resumption::disabled();
    }
    c
}

fn quic_client(resume: bool) -> quinn::ClientConfig {
    let mut c = quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(client_tls(resume, b"bare")).expect("quic"),
    ));
    c.transport_config(Arc::new(transport()));
    c
}

fn quic_endpoint() -> quinn::Endpoint {
    let sock =
        nettool::quic::endpoint::socket("127.0.0.1:0".parse().expect("addr")).expect("socket");
    quinn::Endpoint::new(
        Default::default(),
        None,
        sock,
        quinn::default_runtime().expect("rt"),
    )
    .expect("endpoint")
}

async fn quic_connect(a: SocketAddr, resume: bool) -> (quinn::Endpoint, quinn::Connection) {
    let ep = quic_endpoint();
    let c = ep
        .connect_with(quic_client(resume), a, "localhost")
        .expect("connect")
        .await
        .expect("handshake");
    (ep, c)
}

async fn quic_rtt(conn: &quinn::Connection, datagram: bool) -> f64 {
    let payload = vec![0x5au8; 64];
    let (mut s, mut r) = conn.open_bi().await.expect("stream");
    let mut back = vec![0u8; 64];
    let mut v = Vec::new();
    let start = Instant::now();
    while start.elapsed() < RTT {
        let t0 = Instant::now();
        if datagram {
            conn.send_datagram(Bytes::copy_from_slice(&payload))
                .expect("datagram");
            let _ = conn.read_datagram().await.expect("echo");
        } else {
            s.write_all(&payload).await.expect("write");
            r.read_exact(&mut back).await.expect("read");
        }
        v.push(t0.elapsed());
    }
    p50(v)
}

async fn quic_bulk(conn: &quinn::Connection, bulk: Duration) -> f64 {
    let (mut s, mut r) = conn.open_bi().await.expect("stream");
    let mut first = vec![0u8; CHUNK];
    first[0] = 0xff;
    s.write_chunk(Bytes::from(first)).await.expect("write");
    let chunk = Bytes::from(vec![0x42u8; CHUNK]);
    let start = Instant::now();
    while start.elapsed() < bulk {
        s.write_chunk(chunk.clone()).await.expect("write");
    }
    s.finish().expect("finish");
    let mut n = [0u8; 8];
    r.read_exact(&mut n).await.expect("report");
    u64::from_le_bytes(n) as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9
}

async fn quic_setups(a: SocketAddr) -> (f64, f64, f64) {
    let ep = quic_endpoint();
    let mut out = Vec::new();
    for (resume, zero) in [(false, false), (true, false), (true, true)] {
        let cfg = quic_client(resume);
        let mut v = Vec::new();
        for i in 0..=SETUPS {
            let t0 = Instant::now();
            let connecting = ep
                .connect_with(cfg.clone(), a, "localhost")
                .expect("connect");
            let conn = if zero {
                match connecting.into_0rtt() {
                    Ok((c, _)) => c,
                    Err(c) => c.await.expect("handshake"),
                }
            } else {
                connecting.await.expect("handshake")
            };
            let (mut s, mut r) = conn.open_bi().await.expect("stream");
            s.write_all(b"x").await.expect("write");
            let mut b = [0u8; 1];
            r.read_exact(&mut b).await.expect("read");
            if i > 0 {
                v.push(t0.elapsed());
            }
            conn.close(0u32.into(), b"");
        }
        out.push(p50(v));
    }
    (out[0], out[1], out[2])
}

async fn tls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> std::io::Result<()> {
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("cert");
    cfg.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().expect("tickets");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    announce(l.local_addr()?);
    loop {
        let (s, _) = l.accept().await?;
        let _ = s.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut t) = acceptor.accept(s).await else {
                return;
            };
            let mut buf = vec![0u8; 256 * 1024];
            let mut count: Option<u64> = None;
            loop {
                let n = match t.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if count.is_none() && buf[0] == 0xff {
                    count = Some(0);
                }
                match &mut count {
                    Some(c) => *c += n as u64,
                    None => {
                        if t.write_all(&buf[..n]).await.is_err() || t.flush().await.is_err() {
                            break;
                        }
                    }
                }
            }
            if let Some(c) = count {
                let _ = t.write_all(&c.to_le_bytes()).await;
            }
            let _ = t.shutdown().await;
        });
    }
}

fn tls_client(resume: bool) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(Arc::new(client_tls(resume, b"bare")))
}

async fn tls_connect(
    a: SocketAddr,
    c: &tokio_rustls::TlsConnector,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let s = tokio::net::TcpStream::connect(a).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    c.connect(ServerName::from(a.ip()), s)
        .await
        .expect("handshake")
}

async fn tls_rtt(s: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> f64 {
    let payload = vec![0x5au8; 64];
    let mut back = vec![0u8; 64];
    let mut v = Vec::new();
    let start = Instant::now();
    while start.elapsed() < RTT {
        let t0 = Instant::now();
        s.write_all(&payload).await.expect("write");
        s.flush().await.expect("flush");
        s.read_exact(&mut back).await.expect("read");
        v.push(t0.elapsed());
    }
    p50(v)
}

async fn tls_bulk(a: SocketAddr, bulk: Duration) -> f64 {
    let mut s = tls_connect(a, &tls_client(false)).await;
    let mut chunk = vec![0x42u8; CHUNK];
    chunk[0] = 0xff;
    s.write_all(&chunk).await.expect("write");
    chunk[0] = 0x42;
    let start = Instant::now();
    while start.elapsed() < bulk {
        s.write_all(&chunk).await.expect("write");
    }
    s.shutdown().await.expect("close_notify");
    let mut n = [0u8; 8];
    s.read_exact(&mut n).await.expect("report");
    u64::from_le_bytes(n) as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9
}

async fn tls_setups(a: SocketAddr) -> (f64, f64) {
    let mut out = Vec::new();
    for resume in [false, true] {
        let c = tls_client(resume);
        let mut v = Vec::new();
        for i in 0..=SETUPS {
            let t0 = Instant::now();
            let mut s = tls_connect(a, &c).await;
            s.write_all(b"x").await.expect("write");
            s.flush().await.expect("flush");
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.expect("read");
            if i > 0 {
                v.push(t0.elapsed());
            }
        }
        out.push(p50(v));
    }
    (out[0], out[1])
}
