//! Finding the etcd and kube-apiserver binaries.
//!
//! Order (the same one `scripts/setup.sh` uses): `$KUBEBUILDER_ASSETS` (the envtest
//! convention), then `$PATH`, then `~/.cache/capi-loadgen/assets/<version>/`.

use super::EnvError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A `major.minor.patch` Kubernetes or etcd version.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Version {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl Version {
    /// Parses the first `vX.Y.Z` / `X.Y.Z` found in `text`.
    pub fn find_in(text: &str) -> Option<Version> {
        for word in text.split(|c: char| c.is_whitespace() || c == ',') {
            let w = word.trim_start_matches('v');
            let mut parts = w.splitn(3, '.');
            let (Some(a), Some(b), Some(c)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let c: String = c.chars().take_while(|ch| ch.is_ascii_digit()).collect();
            if let (Ok(major), Ok(minor), Ok(patch)) = (a.parse(), b.parse(), c.parse()) {
                return Some(Version {
                    major,
                    minor,
                    patch,
                });
            }
        }
        None
    }

    /// Parses exactly `vX.Y.Z` (the form profiles and flags take).
    pub fn parse_exact(text: &str) -> Option<Version> {
        let rest = text.strip_prefix('v')?;
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 6)
        {
            return None;
        }
        Some(Version {
            major: parts[0].parse().ok()?,
            minor: parts[1].parse().ok()?,
            patch: parts[2].parse().ok()?,
        })
    }

    /// True when this version is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The binaries the local environment runs, with their versions.
#[derive(Clone, Debug)]
pub struct Assets {
    /// Path to `etcd`.
    pub etcd: PathBuf,
    /// etcd's version.
    pub etcd_version: Version,
    /// Path to `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// kube-apiserver's version (decides which flags it is given).
    pub apiserver_version: Version,
}

/// The cache folder `scripts/setup.sh` builds into.
pub fn cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("CAPI_LOADGEN_CACHE") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache").join("capi-loadgen")
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Which versions of the binaries to run (`local.kubernetes_version` / `local.etcd_version`,
/// `--kubernetes-version` / `--etcd-version`); `None` takes the first found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// kube-apiserver version.
    pub kubernetes: Option<Version>,
    /// etcd version.
    pub etcd: Option<Version>,
}

/// Every executable called `name`, in the documented order: `$KUBEBUILDER_ASSETS`, each
/// `$PATH` entry, then the cache's version folders, newest version first.
pub fn candidates(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("KUBEBUILDER_ASSETS") {
        out.push(Path::new(&dir).join(name));
    }
    if let Some(path) = std::env::var_os("PATH") {
        out.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    let mut cached: Vec<(Option<Version>, PathBuf)> =
        std::fs::read_dir(cache_root().join("assets"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let v = Version::find_in(&e.file_name().to_string_lossy());
                (v, e.path().join(name))
            })
            .collect();
    cached.sort_by(|a, b| b.cmp(a));
    out.extend(cached.into_iter().map(|(_, p)| p));
    out.retain(|p| is_executable(p));
    out
}

/// Finds one binary by name in the documented order.
pub fn find(name: &str) -> Option<PathBuf> {
    candidates(name).into_iter().next()
}

fn version_of(bin: &Path) -> Result<Version, EnvError> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| EnvError::Asset(format!("{}: cannot run: {e}", bin.display())))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Version::find_in(&text).ok_or_else(|| {
        EnvError::Asset(format!(
            "{}: cannot read a version from `--version`",
            bin.display()
        ))
    })
}

/// Every version of `name` that can be found, in the documented order (duplicates of one
/// version keep the first path).
pub fn available(name: &str) -> Vec<(Version, PathBuf)> {
    let mut out: Vec<(Version, PathBuf)> = Vec::new();
    for p in candidates(name) {
        if let Ok(v) = version_of(&p) {
            if !out.iter().any(|(seen, _)| *seen == v) {
                out.push((v, p));
            }
        }
    }
    out
}

fn find_one(
    name: &str,
    want: Option<Version>,
    setup_flag: &str,
) -> Result<(PathBuf, Version), EnvError> {
    let missing = || {
        EnvError::Asset(format!(
            "{name} not found in $KUBEBUILDER_ASSETS, $PATH or {}: run scripts/setup.sh (Debian), or export KUBEBUILDER_ASSETS from `setup-envtest use -p path`, or use a kind cluster with --kubeconfig",
            cache_root().join("assets").display()
        ))
    };
    match want {
        None => {
            let p = find(name).ok_or_else(missing)?;
            let v = version_of(&p)?;
            Ok((p, v))
        }
        Some(want) => {
            let found = available(name);
            if let Some((v, p)) = found.iter().find(|(v, _)| *v == want) {
                return Ok((p.clone(), *v));
            }
            let have: Vec<String> = found.iter().map(|(v, _)| v.to_string()).collect();
            Err(EnvError::Asset(format!(
                "{name} {want} not found (found: {}): run scripts/setup.sh {setup_flag} {want}",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            )))
        }
    }
}

/// Finds etcd and kube-apiserver (of the wanted versions, if named) and reads their versions.
pub fn discover(want: &Wanted) -> Result<Assets, EnvError> {
    let (etcd, etcd_version) = find_one("etcd", want.etcd, "--etcd")?;
    let (kube_apiserver, apiserver_version) =
        find_one("kube-apiserver", want.kubernetes, "--kubernetes")?;
    Ok(Assets {
        etcd_version,
        apiserver_version,
        etcd,
        kube_apiserver,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            Version::find_in("Kubernetes v1.20.2"),
            Some(Version {
                major: 1,
                minor: 20,
                patch: 2
            })
        );
        assert_eq!(
            Version::find_in("etcd Version: 3.4.23\nGit SHA: x"),
            Some(Version {
                major: 3,
                minor: 4,
                patch: 23
            })
        );
        assert_eq!(
            Version::find_in("Kubernetes v1.31.0-rc.1"),
            Some(Version {
                major: 1,
                minor: 31,
                patch: 0
            })
        );
        assert_eq!(Version::find_in("no version here"), None);
        assert!(Version::find_in("v1.24.0").unwrap().at_least(1, 24));
        assert!(!Version::find_in("v1.23.9").unwrap().at_least(1, 24));
        assert_eq!(Version::parse_exact("v1.37.2").map(|v| v.minor), Some(37));
        for bad in [
            "1.37.2",
            "v1.37",
            "v1.37.2-rc.1",
            "v1..2",
            "vx.y.z",
            "v1.37.2.1",
        ] {
            assert_eq!(Version::parse_exact(bad), None, "{bad}");
        }
    }
}
