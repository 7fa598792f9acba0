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

/// Finds one binary by name in the documented order.
pub fn find(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KUBEBUILDER_ASSETS") {
        let p = Path::new(&dir).join(name);
        if is_executable(&p) {
            return Some(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if is_executable(&p) {
                return Some(p);
            }
        }
    }
    let mut cached: Vec<PathBuf> = std::fs::read_dir(cache_root().join("assets"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(name))
        .filter(|p| is_executable(p))
        .collect();
    cached.sort();
    cached.pop()
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

/// Finds etcd and kube-apiserver and reads their versions.
pub fn discover() -> Result<Assets, EnvError> {
    let missing = |name: &str| {
        EnvError::Asset(format!(
            "{name} not found in $KUBEBUILDER_ASSETS, $PATH or {}: run scripts/setup.sh (Debian), or export KUBEBUILDER_ASSETS from `setup-envtest use -p path`, or use a kind cluster with --kubeconfig",
            cache_root().join("assets").display()
        ))
    };
    let etcd = find("etcd").ok_or_else(|| missing("etcd"))?;
    let kube_apiserver = find("kube-apiserver").ok_or_else(|| missing("kube-apiserver"))?;
    Ok(Assets {
        etcd_version: version_of(&etcd)?,
        apiserver_version: version_of(&kube_apiserver)?,
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
    }
}
