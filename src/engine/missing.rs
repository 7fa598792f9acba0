//! Objects whose create failed or timed out, and what depends on them: the later phases
//! leave them out (a controller never reconciles an object that was never stored), instead
//! of measuring a stream of 404s. Their number is reported as the phase's `skipped_missing`.

use crate::model::Kind;
use std::collections::HashSet;
use std::sync::Mutex;

/// The run's missing objects, by (kind, namespace, name).
#[derive(Debug, Default)]
pub struct MissingObjects {
    set: Mutex<HashSet<(Kind, String, String)>>,
}

impl MissingObjects {
    /// Notes an object that does not exist on the target.
    pub fn insert(&self, kind: Kind, namespace: &str, name: &str) {
        if let Ok(mut s) = self.set.lock() {
            s.insert((kind, namespace.to_string(), name.to_string()));
        }
    }

    /// Whether the object is missing.
    pub fn contains(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        self.set.lock().is_ok_and(|s| {
            !s.is_empty() && s.contains(&(kind, namespace.to_string(), name.to_string()))
        })
    }

    /// How many objects are missing.
    pub fn len(&self) -> u64 {
        self.set.lock().map_or(0, |s| s.len() as u64)
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_finds_objects() {
        let m = MissingObjects::default();
        assert!(m.is_empty() && !m.contains(Kind::Cluster, "ns", "c"));
        m.insert(Kind::Cluster, "ns", "c");
        m.insert(Kind::Cluster, "ns", "c");
        assert_eq!(m.len(), 1);
        assert!(m.contains(Kind::Cluster, "ns", "c") && !m.contains(Kind::Machine, "ns", "c"));
    }
}
