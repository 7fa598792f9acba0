//! The webhook's own CA and serving certificate: the CA goes into the webhook
//! configurations' `caBundle`, so kube-apiserver verifies the tool's server like any
//! webhook's. The serving certificate names the configured host (IP or DNS name) and
//! loopback.

use super::WebhookError;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{IpAddr, Ipv4Addr};

/// The CA (PEM) and the server's TLS configuration.
pub struct Tls {
    /// The CA certificate, PEM (the configurations' `caBundle`, base64-encoded there).
    pub ca_pem: String,
    /// The serving certificate's chain and key, as rustls takes them.
    pub config: rustls::ServerConfig,
}

fn e(err: rcgen::Error) -> WebhookError {
    WebhookError::Tls(err.to_string())
}

/// A fresh CA and a serving certificate signed by it, in PEM (for servers that read files)
/// and DER.
pub struct Issued {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The serving certificate, PEM.
    pub cert_pem: String,
    /// The serving certificate's key, PEM (PKCS#8).
    pub key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

/// Makes a fresh CA and a serving certificate for `host` (plus 127.0.0.1 and localhost).
pub fn generate(host: &str) -> Result<Tls, WebhookError> {
    let issued = issue(host).map_err(e)?;
    let chain = vec![CertificateDer::from(issued.cert_der)];
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_der));
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|x| WebhookError::Tls(x.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, der)
        .map_err(|x| WebhookError::Tls(x.to_string()))?;
    // HTTP/1.1 only, as controller-runtime's webhook server offers by default (it turned
    // HTTP/2 off after the HTTP/2 "rapid reset" attacks of 2023).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: issued.ca_pem,
        config,
    })
}

/// Issues a fresh CA and a serving certificate for `host` (plus 127.0.0.1 and localhost).
pub fn issue(host: &str) -> Result<Issued, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "capi-loadgen webhook CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let key = KeyPair::generate()?;
    let mut names = vec!["localhost".to_string()];
    if host.parse::<IpAddr>().is_err() && host != "localhost" {
        names.push(host.to_string());
    }
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "capi-loadgen-webhook");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip != IpAddr::V4(Ipv4Addr::LOCALHOST) {
            params.subject_alt_names.push(SanType::IpAddress(ip));
        }
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca)?;
    Ok(Issued {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}
