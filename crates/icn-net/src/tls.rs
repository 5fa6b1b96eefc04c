//! Identity-bound mutual TLS for QUIC.
//!
//! Each node presents a self-signed certificate made from its Ed25519 identity key. Both sides
//! verify the peer the same way: the certificate must carry an Ed25519 key (its DID is derived
//! from it), and the TLS 1.3 `CertificateVerify` signature must check out under that key with the
//! crypto provider's algorithms — so replaying someone else's public certificate without the key
//! fails. Only `SignatureScheme::ED25519` is offered or accepted; TLS 1.2 is not enabled. When
//! dialing a known DID, a certificate for any other key is refused.

use std::sync::{Arc, Mutex};

use icn_identity::{Did, Keypair};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::NetError;

/// ALPN protocol id.
pub const ALPN: &[u8] = b"icn/1";
/// Server name used in dials (certificates are not checked against names).
pub const SERVER_NAME: &str = "icn";

/// The single crypto provider (ring) used for every config.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A node's certificate and key, built once at start-up.
#[derive(Debug)]
pub struct NodeCert {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl NodeCert {
    /// Makes a self-signed certificate from the node's identity key.
    ///
    /// # Errors
    /// [`NetError::Tls`] if rcgen rejects the key.
    pub fn new(keypair: &Keypair) -> Result<Self, NetError> {
        let der = keypair
            .pkcs8_der()
            .map_err(|e| NetError::Tls(format!("identity key: {e}")))?;
        let key = PrivatePkcs8KeyDer::from(der.to_vec());
        let signing = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key, &rcgen::PKCS_ED25519)
            .map_err(|e| NetError::Tls(format!("certificate key: {e}")))?;
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
            .map_err(|e| NetError::Tls(format!("certificate params: {e}")))?;
        let cert = params
            .self_signed(&signing)
            .map_err(|e| NetError::Tls(format!("self-signing: {e}")))?;
        Ok(Self {
            cert: cert.der().clone(),
            key,
        })
    }

    /// The DER certificate (public).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

/// Extracts the DID from a certificate's Ed25519 subject public key.
///
/// # Errors
/// A TLS error when the certificate does not parse or its key is not Ed25519.
pub fn did_from_cert(cert: &CertificateDer<'_>) -> Result<Did, rustls::Error> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let spki = parsed.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_SIG_ED25519 {
        return Err(rustls::Error::General(
            "peer certificate key is not Ed25519".into(),
        ));
    }
    let key: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    Did::from_public_key_bytes(&key)
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))
}

/// The only signature scheme offered or accepted.
const ED25519_ONLY: &[SignatureScheme] = &[SignatureScheme::ED25519];

/// TLS 1.2 is never negotiated; both verifiers refuse its signatures.
fn refuse_tls12() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::Tls12NotOffered,
    ))
}

fn check_tls13(
    algorithms: &WebPkiSupportedAlgorithms,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ));
    }
    rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
}

/// Verifies server certificates on the dialing side; remembers the DID it saw.
#[derive(Debug)]
pub struct PeerServerVerifier {
    expected: Option<Did>,
    seen: Mutex<Option<Did>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerServerVerifier {
    /// A verifier that accepts any Ed25519 peer, or only `expected`.
    pub fn new(expected: Option<Did>) -> Self {
        Self {
            expected,
            seen: Mutex::new(None),
            algorithms: provider().signature_verification_algorithms,
        }
    }

    /// The DID of the last certificate presented (set even when it was refused).
    pub fn seen(&self) -> Option<Did> {
        self.seen.lock().ok().and_then(|seen| *seen)
    }
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let did = did_from_cert(end_entity)?;
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(did);
        }
        match self.expected {
            Some(expected) if expected != did => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        refuse_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check_tls13(&self.algorithms, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ED25519_ONLY.to_vec()
    }
}

/// Verifies client certificates on the accepting side (client auth is mandatory).
#[derive(Debug)]
pub struct PeerClientVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerClientVerifier {
    /// A verifier accepting any Ed25519 peer that proves its key.
    pub fn new() -> Self {
        Self {
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl Default for PeerClientVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCertVerifier for PeerClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        did_from_cert(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        refuse_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check_tls13(&self.algorithms, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ED25519_ONLY.to_vec()
    }
}

/// Builds the QUIC server crypto config.
///
/// # Errors
/// [`NetError::Tls`] when rustls rejects the configuration.
pub fn server_crypto(cert: &NodeCert) -> Result<Arc<QuicServerConfig>, NetError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NetError::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(PeerClientVerifier::new()))
        .with_single_cert(vec![cert.cert_der().clone()], cert.key_der())
        .map_err(|e| NetError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(config).map_err(|e| NetError::Tls(e.to_string()))?;
    Ok(Arc::new(quic))
}

/// Builds the QUIC client crypto config for one dial; the verifier tells which DID answered.
///
/// # Errors
/// [`NetError::Tls`] when rustls rejects the configuration.
pub fn client_crypto(
    cert: &NodeCert,
    verifier: Arc<PeerServerVerifier>,
) -> Result<Arc<QuicClientConfig>, NetError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NetError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![cert.cert_der().clone()], cert.key_der())
        .map_err(|e| NetError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(config).map_err(|e| NetError::Tls(e.to_string()))?;
    Ok(Arc::new(quic))
}

/// The DID proven by the peer's certificate on an established connection.
pub fn peer_did(connection: &quinn::Connection) -> Option<Did> {
    let identity = connection.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certs.first().and_then(|cert| did_from_cert(cert).ok())
}
