//! A work queue with client-go's semantics: an item is queued at most once; an item added
//! while it is being processed is marked dirty and queued again when processing ends.
//! It also tracks when each item was first queued, for the queue-wait measurement.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
struct Inner {
    queue: VecDeque<u64>,
    queued_at: HashMap<u64, Instant>,
    processing: HashSet<u64>,
    dirty: HashMap<u64, Instant>,
    shut_down: bool,
}

/// What `add` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Newly queued.
    Queued,
    /// Already queued and not yet started: the earlier request is still waiting.
    AlreadyQueued,
    /// Being processed: it will be queued again when done.
    Dirty,
}

/// The queue.
#[derive(Default)]
pub struct WorkQueue {
    inner: Mutex<Inner>,
    notify: Notify,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> WorkQueue {
        WorkQueue::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item (deduplicated).
    pub fn add(&self, item: u64) -> Added {
        let mut q = self.lock();
        if q.shut_down {
            return Added::AlreadyQueued;
        }
        if q.queued_at.contains_key(&item) {
            return Added::AlreadyQueued;
        }
        if q.processing.contains(&item) {
            q.dirty.entry(item).or_insert_with(Instant::now);
            return Added::Dirty;
        }
        q.queued_at.insert(item, Instant::now());
        q.queue.push_back(item);
        drop(q);
        self.notify.notify_one();
        Added::Queued
    }

    /// Waits for the next item; None once shut down. Returns the item and when it was queued.
    pub async fn get(&self) -> Option<(u64, Instant)> {
        loop {
            let notified = self.notify.notified();
            {
                let mut q = self.lock();
                if q.shut_down {
                    return None;
                }
                if let Some(item) = q.queue.pop_front() {
                    let at = q.queued_at.remove(&item).unwrap_or_else(Instant::now);
                    q.processing.insert(item);
                    if !q.queue.is_empty() {
                        self.notify.notify_one();
                    }
                    return Some((item, at));
                }
            }
            notified.await;
        }
    }

    /// Marks an item processed; re-queues it if it was added meanwhile.
    pub fn done(&self, item: u64) {
        let mut q = self.lock();
        q.processing.remove(&item);
        if let Some(at) = q.dirty.remove(&item) {
            if !q.shut_down && !q.queued_at.contains_key(&item) {
                q.queued_at.insert(item, at);
                q.queue.push_back(item);
                drop(q);
                self.notify.notify_one();
            }
        }
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes every waiting `get` with None; later adds are ignored.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deduplicates_and_requeues_dirty_items() {
        let q = WorkQueue::new();
        assert_eq!(q.add(1), Added::Queued);
        assert_eq!(q.add(1), Added::AlreadyQueued);
        assert_eq!(q.add(2), Added::Queued);
        assert_eq!(q.len(), 2);
        let (a, _) = q.get().await.unwrap();
        assert_eq!(a, 1);
        assert_eq!(q.add(1), Added::Dirty, "added while processing");
        q.done(1);
        assert_eq!(q.len(), 2, "dirty item queued again");
        assert_eq!(q.get().await.unwrap().0, 2);
        assert_eq!(q.get().await.unwrap().0, 1);
        q.shut_down();
        assert_eq!(q.get().await, None);
    }
}
