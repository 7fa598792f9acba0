//! Reading kubeconfigs the way kubectl does: `$KUBECONFIG` is a list of files (separated
//! like `$PATH`: `:` on Linux) merged in order, the first file to set a name (cluster, user,
//! context) or the current context winning, and files that do not exist skipped. See
//! "Organizing Cluster Access Using kubeconfig Files",
//! <https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/>

use kube::config::Kubeconfig;
use std::ffi::OsStr;
use std::path::PathBuf;

/// The existing files of a `$KUBECONFIG` value, in order.
pub fn env_paths(value: &OsStr) -> Vec<PathBuf> {
    std::env::split_paths(value)
        .filter(|p| !p.as_os_str().is_empty() && p.exists())
        .collect()
}

/// The merged kubeconfig of a `$KUBECONFIG` value; None when it names no existing file.
pub fn read_env_list(value: &OsStr) -> Result<Option<Kubeconfig>, String> {
    let paths = env_paths(value);
    if paths.is_empty() {
        return Ok(None);
    }
    let mut merged = Kubeconfig::default();
    for p in &paths {
        let next = Kubeconfig::read_from(p).map_err(|e| format!("{}: {e}", p.display()))?;
        merged = merged
            .merge(next)
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(Some(merged))
}

/// `$KUBECONFIG` when it names at least one existing file (what kubectl would read).
pub fn env_value() -> Option<std::ffi::OsString> {
    std::env::var_os("KUBECONFIG").filter(|v| !env_paths(v).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, name: &str, ctx: &str, server: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: {ctx}\nclusters:\n- name: {ctx}\n  cluster: {{server: '{server}'}}\nusers:\n- name: {ctx}\n  user: {{token: t}}\ncontexts:\n- name: {ctx}\n  context: {{cluster: {ctx}, user: {ctx}}}\n"
            ),
        )
        .unwrap();
        p
    }

    #[test]
    fn a_list_merges_like_kubectl_first_wins_missing_skipped() {
        let d = tempfile::tempdir().unwrap();
        let a = config(d.path(), "a", "kind-a", "https://127.0.0.1:1");
        let b = config(d.path(), "b", "kind-b", "https://127.0.0.1:2");
        let missing = d.path().join("missing");
        let value = std::env::join_paths([&missing, &a, &b]).unwrap();
        assert_eq!(env_paths(&value), vec![a.clone(), b.clone()]);
        let kc = read_env_list(&value).unwrap().unwrap();
        // The first file's current context wins; both files' contexts are there.
        assert_eq!(kc.current_context.as_deref(), Some("kind-a"));
        let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["kind-a", "kind-b"]);
        assert!(read_env_list(OsStr::new(missing.to_str().unwrap()))
            .unwrap()
            .is_none());
        assert!(read_env_list(OsStr::new("")).unwrap().is_none());
    }
}
