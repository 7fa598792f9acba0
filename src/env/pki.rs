//! Certificates, keys and tokens for the local kube-apiserver.
//!
//! A throwaway CA signs a serving certificate for 127.0.0.1/localhost (so the kubeconfig can
//! verify the server instead of skipping TLS verification), and an ECDSA key signs
//! service-account tokens. Nothing here leaves the state directory.

use super::EnvError;
use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use std::net::{IpAddr, Ipv4Addr};

/// PEM material written into the state directory.
pub struct Pki {
    /// CA certificate (PEM); goes into the kubeconfig as `certificate-authority-data`.
    pub ca_cert_pem: String,
    /// Serving certificate for 127.0.0.1 (PEM).
    pub serving_cert_pem: String,
    /// Serving key (PEM, PKCS#8).
    pub serving_key_pem: String,
    /// Service-account signing key (PEM, PKCS#8 ECDSA P-256).
    pub sa_key_pem: String,
    /// Its public key (PEM), which verifies service-account tokens.
    pub sa_pub_pem: String,
}

fn pki_err(e: rcgen::Error) -> EnvError {
    EnvError::Start(format!("generating certificates: {e}"))
}

/// Generates a CA, a loopback serving certificate and a service-account key.
pub fn generate() -> Result<Pki, EnvError> {
    let ca_key = KeyPair::generate().map_err(pki_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "capi-loadgen local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(pki_err)?;

    let serving_key = KeyPair::generate().map_err(pki_err)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .map_err(pki_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let serving = params.signed_by(&serving_key, &ca).map_err(pki_err)?;

    let sa_key = KeyPair::generate().map_err(pki_err)?;
    Ok(Pki {
        ca_cert_pem: ca.pem(),
        serving_cert_pem: serving.pem(),
        serving_key_pem: serving_key.serialize_pem(),
        sa_key_pem: sa_key.serialize_pem(),
        sa_pub_pem: sa_key.public_key_pem(),
    })
}

/// A random bearer token (32 hex characters).
pub fn random_token() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn generates_pem_material() {
        let p = super::generate().unwrap();
        assert!(p.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(p.serving_key_pem.contains("PRIVATE KEY"));
        assert_ne!(super::random_token(), super::random_token());
        assert_eq!(super::random_token().len(), 32);
    }
}
