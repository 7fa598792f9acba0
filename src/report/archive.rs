//! A results folder as lines of a log, so that an Indexed Job's shard keeps its results
//! after its pod (and the pod's emptyDir) is gone: `run --output archive` prints, after the
//! table, the folder's files gzip-compressed and base64-encoded in lines
//! `capi-loadgen-results <label> <n> <chunk>` and a last line
//! `capi-loadgen-results <label> end <chunks> <bytes>`. The marker may sit anywhere in a
//! line (`kubectl logs --prefix` puts the pod's name first), and several shards' archives
//! may be interleaved in one log (`kubectl logs -l job-name=…`); `merge` reads such logs.

use base64::Engine;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The word that starts every archive line.
pub const MARKER: &str = "capi-loadgen-results";
/// The files of one archive: (name, bytes).
pub type Files = Vec<(String, Vec<u8>)>;

/// Base64 characters per line (well under any log line limit).
const CHUNK: usize = 4000;

/// Why a log's archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Lines missing, out of order or corrupt.
    #[error("results archive {label}: {why}")]
    Corrupt {
        /// The archive's label.
        label: String,
        /// What is wrong.
        why: String,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The archive lines of the regular files directly in `dir`, labelled `label`.
pub fn encode(dir: &Path, label: &str) -> std::io::Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for p in files {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&p)?;
        gz.write_all(&(name.len() as u32).to_le_bytes())?;
        gz.write_all(name.as_bytes())?;
        gz.write_all(&(bytes.len() as u64).to_le_bytes())?;
        gz.write_all(&bytes)?;
    }
    let packed = gz.finish()?;
    let text = base64::engine::general_purpose::STANDARD.encode(&packed);
    let mut out = String::new();
    let chunks: Vec<&str> = text
        .as_bytes()
        .chunks(CHUNK)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    for (i, c) in chunks.iter().enumerate() {
        out.push_str(&format!("{MARKER} {label} {i} {c}\n"));
    }
    out.push_str(&format!(
        "{MARKER} {label} end {} {}\n",
        chunks.len(),
        packed.len()
    ));
    Ok(out)
}

fn unpack(label: &str, packed: &[u8]) -> Result<Files, ArchiveError> {
    let bad = |why: String| ArchiveError::Corrupt {
        label: label.to_string(),
        why,
    };
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(packed)
        .read_to_end(&mut raw)
        .map_err(|e| bad(format!("not gzip: {e}")))?;
    let mut files = Vec::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], ArchiveError> {
        let s = raw
            .get(*at..*at + n)
            .ok_or_else(|| bad("truncated".into()))?;
        *at += n;
        Ok(s)
    };
    while at < raw.len() {
        let n = u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap_or_default()) as usize;
        let name = String::from_utf8_lossy(take(&mut at, n)?).into_owned();
        if name.contains('/') || name.contains("..") || name.is_empty() {
            return Err(bad(format!("bad file name {name:?}")));
        }
        let len = u64::from_le_bytes(take(&mut at, 8)?.try_into().unwrap_or_default()) as usize;
        files.push((name, take(&mut at, len)?.to_vec()));
    }
    Ok(files)
}

/// Every complete archive in a log, by label: its files (name, bytes).
pub fn decode_log(text: &str) -> Result<BTreeMap<String, Files>, ArchiveError> {
    let mut chunks: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    let mut ends: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for line in text.lines() {
        let Some(at) = line.find(&format!("{MARKER} ")) else {
            continue;
        };
        let mut f = line[at + MARKER.len() + 1..].split_whitespace();
        let (Some(label), Some(seq), Some(rest)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if seq == "end" {
            let n = rest.parse().unwrap_or(usize::MAX);
            let bytes = f.next().and_then(|b| b.parse().ok()).unwrap_or(usize::MAX);
            ends.insert(label.to_string(), (n, bytes));
        } else if let Ok(i) = seq.parse::<usize>() {
            chunks
                .entry(label.to_string())
                .or_default()
                .push((i, rest.to_string()));
        }
    }
    let mut out = BTreeMap::new();
    for (label, (n, bytes)) in ends {
        let bad = |why: String| ArchiveError::Corrupt {
            label: label.clone(),
            why,
        };
        let mut parts = chunks.remove(&label).unwrap_or_default();
        parts.sort_by_key(|(i, _)| *i);
        parts.dedup_by_key(|(i, _)| *i);
        if parts.len() != n || parts.iter().enumerate().any(|(k, (i, _))| k != *i) {
            return Err(bad(format!("{} of {n} lines", parts.len())));
        }
        let text: String = parts.into_iter().map(|(_, c)| c).collect();
        let packed = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| bad(format!("not base64: {e}")))?;
        if packed.len() != bytes {
            return Err(bad(format!("{} bytes, {bytes} expected", packed.len())));
        }
        out.insert(label.clone(), unpack(&label, &packed)?);
    }
    Ok(out)
}

/// Writes every archive of a log into `into/<label>/`; returns those folders.
pub fn extract(text: &str, into: &Path) -> Result<Vec<PathBuf>, ArchiveError> {
    let mut dirs = Vec::new();
    for (label, files) in decode_log(text)? {
        let dir = into.join(&label);
        std::fs::create_dir_all(&dir).map_err(|e| ArchiveError::Io {
            path: dir.clone(),
            source: e,
        })?;
        for (name, bytes) in files {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| ArchiveError::Io { path: p, source: e })?;
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_prefixed_interleaved_log() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let big: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::write(a.join("summary.json"), b"{\"run_id\":\"r\"}").unwrap();
        std::fs::write(a.join("histograms.hlog"), &big).unwrap();
        std::fs::write(b.join("summary.json"), b"{}").unwrap();
        let (la, lb) = (
            encode(&a, "shard-0").unwrap(),
            encode(&b, "shard-1").unwrap(),
        );
        assert!(la.lines().count() > 2, "several chunks");
        // kubectl logs --prefix, both pods' lines interleaved, other log lines between.
        let mut log = String::from("INFO progress phase=\"create\"\n");
        for (x, y) in la.lines().zip(lb.lines().chain(std::iter::repeat(""))) {
            log.push_str(&format!(
                "[pod/j-0-abc/capi-loadgen] {x}\n[pod/j-1-def/capi-loadgen] {y}\n"
            ));
        }
        for y in lb.lines().skip(la.lines().count()) {
            log.push_str(&format!("{y}\n"));
        }
        let out = d.path().join("out");
        let dirs = extract(&log, &out).unwrap();
        assert_eq!(dirs.len(), 2);
        assert_eq!(
            std::fs::read(out.join("shard-0/histograms.hlog")).unwrap(),
            big
        );
        assert_eq!(
            std::fs::read(out.join("shard-1/summary.json")).unwrap(),
            b"{}"
        );
        // A missing line is an error, not a silently short file.
        let cut: String = log
            .lines()
            .filter(|l| !l.contains("shard-0 1 "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(extract(&cut, &d.path().join("cut")).is_err());
    }
}
