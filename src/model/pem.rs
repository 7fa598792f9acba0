//! Certificate and key material: deterministic pseudo-random bytes inside real PEM armour
//! with the sizes kubeadm's RSA-2048 certificates and keys have (not cryptographically valid).

use super::meta::ClusterCtx;
use super::names::{base64, Rng};

/// DER size of a kubeadm RSA-2048 certificate (PEM about 1.1 KB).
const CERT_DER_BYTES: usize = 773;
/// DER size of a PKCS#1 RSA-2048 private key (PEM about 1.7 KB).
const KEY_DER_BYTES: usize = 1192;
/// DER size of an RSA-2048 SubjectPublicKeyInfo (PEM 451 bytes).
const PUBKEY_DER_BYTES: usize = 294;

/// Which key pair of the cluster a PEM belongs to (seeds its content).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Material {
    Ca = 1,
    Etcd = 2,
    FrontProxy = 3,
    ServiceAccount = 4,
    AdminClient = 5,
    ApiserverEtcdClient = 6,
}

/// PEM block of `der_len` pseudo-random bytes shaped like DER (`30 82 <len>`).
fn pem(rng: &mut Rng, label: &str, der_len: usize) -> String {
    let mut der = rng.bytes(der_len);
    der[0] = 0x30;
    der[1] = 0x82;
    let body_len = (der_len - 4) as u16;
    der[2..4].copy_from_slice(&body_len.to_be_bytes());
    let b64 = base64(&der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 32);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Certificate PEM of `material` (the public key PEM for the service-account pair).
pub(crate) fn cert_pem(ctx: &ClusterCtx, material: Material) -> String {
    let mut rng = ctx.rng(u64::MAX - material as u64, 11);
    if material == Material::ServiceAccount {
        pem(&mut rng, "PUBLIC KEY", PUBKEY_DER_BYTES)
    } else {
        pem(&mut rng, "CERTIFICATE", CERT_DER_BYTES)
    }
}

/// RSA-2048 private key PEM of `material`.
pub(crate) fn key_pem(ctx: &ClusterCtx, material: Material) -> String {
    let mut rng = ctx.rng(u64::MAX - material as u64, 12);
    pem(&mut rng, "RSA PRIVATE KEY", KEY_DER_BYTES)
}
