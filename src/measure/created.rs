//! Objects the run counted as created (the server acknowledged the create), kept by name
//! when the run reads them back afterwards (a run on an etcd cluster: nothing acknowledged
//! may be lost to a leader change or a member's death).

use crate::model::Kind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// (kind, namespace, name) of one acknowledged create.
pub type CreatedObject = (Kind, Option<String>, String);

/// The create phase's acknowledged objects: always counted, named when asked to.
#[derive(Debug, Default)]
pub struct CreatedObjects {
    count: AtomicU64,
    keep_names: AtomicBool,
    names: Mutex<Vec<CreatedObject>>,
}

impl CreatedObjects {
    /// From now on, keep every acknowledged object's name (for a read-back).
    pub fn keep_names(&self) {
        self.keep_names.store(true, Ordering::Relaxed);
    }

    /// Notes one acknowledged create.
    pub fn note(&self, kind: Kind, namespace: Option<&str>, name: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if self.keep_names.load(Ordering::Relaxed) {
            if let Ok(mut v) = self.names.lock() {
                v.push((kind, namespace.map(str::to_string), name.to_string()));
            }
        }
    }

    /// Acknowledged creates so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The kept names (empty unless [`CreatedObjects::keep_names`] was called first).
    pub fn names(&self) -> Vec<CreatedObject> {
        self.names.lock().map(|v| v.clone()).unwrap_or_default()
    }
}
