//! Hostile peers: impersonation, foreign key types, garbage and oversized frames.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use icn_identity::Keypair;
use icn_net::tls::{self, NodeCert, PeerServerVerifier};
use icn_net::wire::{Hello, PROTOCOL_VERSION, WireMessage, encode_frame};
use icn_net::{PeerTarget, dial};
use icn_testkit::wait_until;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::{config, start};

const T: Duration = Duration::from_secs(10);

/// Presents a fixed certificate with an unrelated signing key.
#[derive(Debug)]
struct Mismatched(Arc<CertifiedKey>);

impl ResolvesClientCert for Mismatched {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Server side of [`Mismatched`].
#[derive(Debug)]
struct MismatchedServer(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for MismatchedServer {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn client_endpoint() -> quinn::Endpoint {
    quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap()
}

fn quic_client(rustls_config: rustls::ClientConfig) -> quinn::ClientConfig {
    let mut rustls_config = rustls_config;
    rustls_config.alpn_protocols = vec![tls::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(rustls_config).unwrap();
    quinn::ClientConfig::new(Arc::new(crypto))
}

fn builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
}

async fn connect(config: quinn::ClientConfig, addr: SocketAddr) -> Result<(), String> {
    let endpoint = client_endpoint();
    let connection = endpoint
        .connect_with(config, addr, tls::SERVER_NAME)
        .unwrap()
        .await
        .map_err(|e| e.to_string())?;
    // With TLS 1.3 the client may think it is connected before the server checked it: the
    // server's verdict shows as a closed connection on first use.
    let (mut send, _recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(b"x").await.map_err(|e| e.to_string())?;
    let reason = tokio::time::timeout(T, connection.closed()).await;
    Err(format!("{reason:?}"))
}

#[tokio::test]
async fn replayed_certificate_without_its_key_is_refused() {
    let victim = Keypair::generate();
    let server = start(config(vec![]));
    let stolen_cert: CertificateDer<'static> = NodeCert::new(&victim).unwrap().cert_der().clone();
    let attacker = Keypair::generate();
    let key = PrivatePkcs8KeyDer::from(attacker.pkcs8_der().unwrap().to_vec());
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&key).unwrap();
    let certified = Arc::new(CertifiedKey::new(vec![stolen_cert], signer));
    let config = builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PeerServerVerifier::new(None)))
        .with_client_cert_resolver(Arc::new(Mismatched(certified)));
    let result = connect(quic_client(config), server.handle.local_addr()).await;
    assert!(result.is_err());
    wait_until(T, "the TLS failure to be counted", || async {
        server
            .page()
            .value_with("icn_network_dial_failures_total", &[("reason", "tls")])
            == Some(1.0)
    })
    .await
    .unwrap();
    assert_eq!(server.handle.peer_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn ecdsa_certificate_is_refused() {
    let server = start(config(vec![]));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["icn".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PeerServerVerifier::new(None)))
        .with_client_auth_cert(vec![cert.der().clone()], key_der)
        .unwrap();
    assert!(
        connect(quic_client(config), server.handle.local_addr())
            .await
            .is_err()
    );
    wait_until(T, "the TLS failure to be counted", || async {
        server
            .page()
            .value_with("icn_network_dial_failures_total", &[("reason", "tls")])
            == Some(1.0)
    })
    .await
    .unwrap();
    assert_eq!(server.handle.peer_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn server_replaying_a_certificate_is_refused_by_the_dialer() {
    // A fake server presents the victim's certificate but signs with its own key.
    let victim = Keypair::generate();
    let attacker = Keypair::generate();
    let stolen = NodeCert::new(&victim).unwrap().cert_der().clone();
    let key = PrivatePkcs8KeyDer::from(attacker.pkcs8_der().unwrap().to_vec());
    let mut server_tls = rustls::ServerConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(Arc::new(tls::PeerClientVerifier::new()))
        .with_cert_resolver(Arc::new(MismatchedServer(Arc::new(CertifiedKey::new(
            vec![stolen],
            rustls::crypto::ring::sign::any_eddsa_type(&key).unwrap(),
        )))));
    server_tls.alpn_protocols = vec![tls::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(server_tls).unwrap();
    let fake = quinn::Endpoint::server(
        quinn::ServerConfig::with_crypto(Arc::new(crypto)),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let fake_addr = fake.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = fake.accept().await {
            let _ = incoming.await;
        }
    });
    let dialer = start(config(vec![]));
    let err = dialer
        .handle
        .dial(PeerTarget {
            did: Some(victim.did()),
            addr: fake_addr,
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tls"), "{err}");
    assert_eq!(
        dialer
            .page()
            .value_with("icn_network_dial_failures_total", &[("reason", "tls")]),
        Some(1.0)
    );
    dialer.stop().await;
}

/// Connects with a genuine identity (TLS done) and sends nothing yet.
pub(crate) async fn tls_only_raw_peer(
    target: SocketAddr,
    target_did: icn_identity::Did,
) -> (Keypair, quinn::Endpoint, quinn::Connection) {
    let me = Keypair::generate();
    let cert = NodeCert::new(&me).unwrap();
    let crypto =
        tls::client_crypto(&cert, Arc::new(PeerServerVerifier::new(Some(target_did)))).unwrap();
    let mut client = quinn::ClientConfig::new(crypto);
    client.transport_config(Arc::new(dial::transport_config(&config(vec![])).unwrap()));
    let endpoint = client_endpoint();
    let connection = endpoint
        .connect_with(client, target, tls::SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    (me, endpoint, connection)
}

/// Connects with a genuine identity and completes the Hello, like an honest peer would.
pub(crate) async fn handshaken_raw_peer(
    target: SocketAddr,
    target_did: icn_identity::Did,
) -> (quinn::Endpoint, quinn::Connection) {
    let (me, endpoint, connection) = tls_only_raw_peer(target, target_did).await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let hello = WireMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        did: me.did(),
        listen_addr: None,
        topics: vec![],
        instance: 1,
    });
    send.write_all(&encode_frame(&hello, 1 << 20).unwrap())
        .await
        .unwrap();
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix).await.unwrap();
    (endpoint, connection)
}

#[tokio::test]
async fn garbage_and_oversized_frames_are_rejected_and_others_keep_working() {
    let mut a = start(config(vec![]));
    let b = start(config(vec![a.target()]));
    wait_until(T, "a and b connected", || async {
        a.handle.peer_count() == 1
    })
    .await
    .unwrap();
    while !matches!(
        a.events.recv().await,
        Some(icn_net::NetEvent::PeerUp { .. })
    ) {}

    let (_endpoint, raw) = handshaken_raw_peer(a.handle.local_addr(), a.keypair.did()).await;
    wait_until(T, "raw peer admitted", || async {
        a.handle.peer_count() == 2
    })
    .await
    .unwrap();
    // Undecodable body.
    let mut garbage = raw.open_uni().await.unwrap();
    garbage.write_all(&100u32.to_be_bytes()).await.unwrap();
    garbage.write_all(&[0xFF; 100]).await.unwrap();
    // A length far above the limit.
    let mut huge = raw.open_uni().await.unwrap();
    huge.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    // A second Hello after the handshake.
    let mut again = raw.open_uni().await.unwrap();
    let hello = encode_frame(
        &WireMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            did: Keypair::generate().did(),
            listen_addr: None,
            topics: vec![],
            instance: 2,
        }),
        1 << 20,
    )
    .unwrap();
    again.write_all(&hello).await.unwrap();
    wait_until(T, "every rejection counted", || async {
        let page = a.page();
        let reason = |r| page.value_with("icn_network_frames_rejected_total", &[("reason", r)]);
        reason("malformed") == Some(1.0)
            && reason("oversized") == Some(1.0)
            && reason("unexpected") == Some(1.0)
    })
    .await
    .unwrap();
    // The honest session still carries traffic.
    b.handle.send_gossip(a.keypair.did(), vec![42]).unwrap();
    loop {
        match tokio::time::timeout(T, a.events.recv()).await.unwrap() {
            Some(icn_net::NetEvent::Gossip { from, bytes }) => {
                assert_eq!(from, b.keypair.did());
                assert_eq!(bytes, vec![42]);
                break;
            }
            Some(_) => {}
            None => panic!("events closed"),
        }
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn garbage_instead_of_hello_fails_the_handshake() {
    let a = start(config(vec![]));
    let me = Keypair::generate();
    let cert = NodeCert::new(&me).unwrap();
    let crypto = tls::client_crypto(
        &cert,
        Arc::new(PeerServerVerifier::new(Some(a.keypair.did()))),
    )
    .unwrap();
    let endpoint = client_endpoint();
    let connection = endpoint
        .connect_with(
            quinn::ClientConfig::new(crypto),
            a.handle.local_addr(),
            tls::SERVER_NAME,
        )
        .unwrap()
        .await
        .unwrap();
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    send.write_all(&16u32.to_be_bytes()).await.unwrap();
    send.write_all(&[0xAB; 16]).await.unwrap();
    wait_until(T, "handshake failure counted", || async {
        let page = a.page();
        page.value_with(
            "icn_network_dial_failures_total",
            &[("reason", "handshake")],
        ) == Some(1.0)
            && page.value_with(
                "icn_network_frames_rejected_total",
                &[("reason", "malformed")],
            ) == Some(1.0)
    })
    .await
    .unwrap();
    assert_eq!(a.handle.peer_count(), 0);
    a.stop().await;
}
