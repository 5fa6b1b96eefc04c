//! The practical limit of the throughput scenario: two raw quinn endpoints in this process,
//! one unidirectional stream on loopback, the sender writing chunks of the entry size.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::stats::{mb_per_s, process_cpu_seconds};

/// How long the baseline may take before it is reported as failed.
const TIMEOUT: Duration = Duration::from_secs(120);

/// What one baseline transfer measured.
#[derive(Clone, Copy, Debug)]
pub struct Baseline {
    /// MB (10^6 bytes) per second as seen by the receiver, first write to last byte read.
    pub mb_per_s: f64,
    /// CPU time the process used during the transfer, seconds (10 ms resolution).
    pub cpu_seconds: f64,
    /// `cpu_seconds` over the transfer's wall time: cores kept busy.
    pub cpu_cores: f64,
    /// Bytes sent.
    pub bytes: usize,
}

impl Baseline {
    /// CPU seconds per byte moved; 0 when the transfer used less than one clock tick.
    pub fn cpu_seconds_per_byte(&self) -> f64 {
        self.cpu_seconds / self.bytes.max(1) as f64
    }
}

/// Sends `total` bytes in `chunk`-byte writes over one quinn stream.
///
/// # Errors
/// When the endpoints cannot be set up or the transfer fails or times out.
pub async fn measure(total: usize, chunk: usize) -> anyhow::Result<Baseline> {
    let (server, client, addr) = endpoints()?;
    let receiver = tokio::spawn(async move {
        let incoming = server.accept().await.context("server endpoint closed")?;
        let connection = incoming.await?;
        let mut stream = connection.accept_uni().await?;
        let mut received = 0usize;
        while let Some(bytes) = stream.read_chunk(usize::MAX, true).await? {
            received += bytes.bytes.len();
        }
        let done = Instant::now();
        connection.close(0u32.into(), b"done");
        server.wait_idle().await;
        anyhow::Ok((received, done))
    });
    let connection = client.connect(addr, "localhost")?.await?;
    let mut stream = connection.open_uni().await?;
    let data = vec![0xA5u8; chunk.max(1)];
    let cpu_before = process_cpu_seconds()?;
    let started = Instant::now();
    let mut sent = 0usize;
    while sent < total {
        let n = data.len().min(total - sent);
        stream.write_all(&data[..n]).await?;
        sent += n;
    }
    stream.finish()?;
    let (received, done) = tokio::time::timeout(TIMEOUT, receiver)
        .await
        .context("raw quinn baseline timed out")???;
    let cpu_seconds = process_cpu_seconds()? - cpu_before;
    let wall = started.elapsed();
    anyhow::ensure!(received == total, "received {received} of {total} bytes");
    connection.close(0u32.into(), b"done");
    client.wait_idle().await;
    Ok(Baseline {
        mb_per_s: mb_per_s(total as u64, done.duration_since(started)),
        cpu_seconds,
        cpu_cores: cpu_seconds / wall.as_secs_f64(),
        bytes: total,
    })
}

/// A server and a client endpoint on loopback, the client trusting the server's self-signed
/// certificate.
fn endpoints() -> anyhow::Result<(quinn::Endpoint, quinn::Endpoint, SocketAddr)> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let server_config = quinn::ServerConfig::with_single_cert(vec![cert.clone()], key)?;
    let server = quinn::Endpoint::server(server_config, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = server.local_addr()?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let client_config = quinn::ClientConfig::with_root_certificates(Arc::new(roots))?;
    let mut client = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    client.set_default_client_config(client_config);
    Ok((server, client, addr))
}
