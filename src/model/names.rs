//! Deterministic building blocks: hashing, a tiny PRNG, base64, name suffixes, timestamps
//! and placeholder UIDs. No `rand`: everything is a function of its inputs.

/// Largest number of Machines per cluster the suffix scheme keeps unique.
pub(crate) const MAX_MACHINES_PER_CLUSTER: u64 = 4_000_000;

/// Characters Kubernetes' `names.SimpleNameGenerator` uses for random suffixes.
const SUFFIX_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";
/// Number of distinct 5-character suffixes (27^5).
const SUFFIX_SPACE: u32 = 14_348_907;
/// Suffix ordinals 1..=10_000 are for MachineSets; Machines start here.
const MACHINE_ORDINAL_BASE: u64 = 10_001;

/// Standard base64 alphabet.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// 2026-01-01T00:00:00Z: the fleet's fake "creation" epoch.
pub(crate) const BASE_EPOCH: u64 = 1_767_225_600;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over several byte strings, each followed by a 0xff separator (so that
/// ("ab","c") and ("a","bc") differ), starting from `seed`.
pub(crate) fn hash_parts(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h = FNV_OFFSET ^ seed;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
        h ^= 0xff;
        h = h.wrapping_mul(FNV_PRIME);
    }
    mix64(h)
}

/// SplitMix64 finalizer: a bijective avalanche mix.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64 pseudo-random generator (deterministic, not cryptographic).
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Appends `n` random characters of `alphabet` (at most 64 characters long).
    pub(crate) fn push_chars(&mut self, out: &mut String, n: usize, alphabet: &[u8]) {
        let len = alphabet.len() as u64;
        let mut left = n;
        while left > 0 {
            let mut bits = self.next_u64();
            for _ in 0..left.min(10) {
                out.push(char::from(alphabet[((bits & 63) % len) as usize]));
                bits >>= 6;
                left -= 1;
            }
        }
    }

    /// Appends `n` random base64-alphabet characters.
    pub(crate) fn push_base64_chars(&mut self, out: &mut String, n: usize) {
        self.push_chars(out, n, B64);
    }

    /// Appends `n` random lowercase hex digits.
    pub(crate) fn push_hex(&mut self, out: &mut String, n: usize) {
        self.push_chars(out, n, b"0123456789abcdef");
    }

    /// `n` random bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// Standard base64 (RFC 4648, with padding), as Kubernetes uses for Secret `data`.
pub(crate) fn base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    let mut chunks = input.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        for shift in [18, 12, 6, 0] {
            out.push(char::from(B64[((n >> shift) & 63) as usize]));
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let b1 = rest.get(1).copied().unwrap_or(0);
        let n = (u32::from(rest[0]) << 16) | (u32::from(b1) << 8);
        out.push(char::from(B64[((n >> 18) & 63) as usize]));
        out.push(char::from(B64[((n >> 12) & 63) as usize]));
        if rest.len() == 2 {
            out.push(char::from(B64[((n >> 6) & 63) as usize]));
        } else {
            out.push('=');
        }
        out.push('=');
    }
    out
}

/// True if `s` is a DNS-1123 label: 1-63 characters of `[a-z0-9-]`, alphanumeric at both ends.
pub(crate) fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A 24-bit Feistel permutation keyed by `key`, cycle-walked onto `0..SUFFIX_SPACE`:
/// a bijection, so distinct ordinals always give distinct suffixes.
fn permute(ordinal: u32, key: u64) -> u32 {
    let mut x = ordinal % SUFFIX_SPACE;
    loop {
        let (mut l, mut r) = (x >> 12, x & 0xfff);
        for round in 0..4u64 {
            let f = (mix64(key ^ (round << 32) ^ u64::from(r)) & 0xfff) as u32;
            (l, r) = (r, l ^ f);
        }
        x = (l << 12) | r;
        if x < SUFFIX_SPACE {
            return x;
        }
    }
}

/// A 5-character suffix like "7x9kq" (the alphabet of Kubernetes' generated names),
/// unique per `ordinal` for a given `key`.
pub(crate) fn suffix(key: u64, ordinal: u64) -> String {
    let mut n = permute((ordinal % u64::from(SUFFIX_SPACE)) as u32, key);
    let mut buf = [0u8; 5];
    for slot in buf.iter_mut().rev() {
        *slot = SUFFIX_ALPHABET[(n % 27) as usize];
        n /= 27;
    }
    buf.iter().map(|&b| char::from(b)).collect()
}

/// Suffix ordinal of the infrastructure cluster object.
pub(crate) const INFRA_CLUSTER_ORDINAL: u64 = 0;

/// Suffix ordinal of the MachineSet of MachineDeployment `md`.
pub(crate) fn machine_set_ordinal(md: u32) -> u64 {
    1 + u64::from(md)
}

/// Suffix ordinal of machine `m`'s object number `slot` (0 Machine, 1 KubeadmConfig,
/// 2 infrastructure machine).
pub(crate) fn machine_ordinal(m: u64, slot: u64) -> u64 {
    MACHINE_ORDINAL_BASE + 3 * m + slot
}

/// Deterministic placeholder UID (RFC 4122 shaped, version 4 / variant 1 bits), derived from
/// a hash of (run id, namespace, name). Used in ownerReferences, and by the etcd writer for
/// `metadata.uid` (prefer [`Object::uid`](super::Object::uid), which also tells a bootstrap
/// Secret from its same-named KubeadmConfig).
pub fn placeholder_uid(run_id: &str, namespace: &str, name: &str) -> String {
    let parts: [&[u8]; 3] = [run_id.as_bytes(), namespace.as_bytes(), name.as_bytes()];
    let hi = hash_parts(0x5555, &parts);
    let lo = hash_parts(0xaaaa, &parts);
    format_uuid(hi, lo)
}

/// Formats 128 bits as a version-4 shaped UUID.
pub(crate) fn format_uuid(hi: u64, lo: u64) -> String {
    let hi = (hi & !0xf000) | 0x4000;
    let lo = (lo & !(0xc << 60)) | (0x8 << 60);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// RFC 3339 UTC timestamp ("2026-01-01T00:00:00Z") for seconds since the Unix epoch.
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Dotted-quad IPv4 address.
pub(crate) fn ipv4(addr: u32) -> String {
    let [a, b, c, d] = addr.to_be_bytes();
    format!("{a}.{b}.{c}.{d}")
}
