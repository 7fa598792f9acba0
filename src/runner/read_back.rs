//! After a run on an etcd cluster: every object the run counted as created is read back
//! (nothing the server acknowledged may be lost to a leader change, a killed member or a
//! stopped one). An answer of "not found" is a lost object; no answer or a 5xx is retried
//! a few times (the cluster may still be electing a leader) and then counted unreadable.

use crate::backend::{RequestError, Target};
use crate::measure::created::CreatedObject;
use crate::model::FleetSpec;
use crate::report::etcd_cluster::ReadBack;
use futures::StreamExt;
use std::time::{Duration, Instant};

/// Reads in flight at once.
const CONCURRENCY: usize = 16;
/// Tries per object that gets no answer or a 5xx.
const TRIES: u32 = 5;
/// Between two tries.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// Examples kept in the summary.
const EXAMPLES: usize = 20;

enum Read {
    Found,
    Lost,
    Unreadable(String),
}

async fn read_one<T: Target>(t: T, api: crate::model::ApiRef, o: &CreatedObject) -> Read {
    let mut last = String::new();
    for _ in 0..TRIES {
        match t.get(&api, o.1.as_deref(), &o.2).await {
            Ok(_) => return Read::Found,
            Err(RequestError::Http { code: 404, .. }) => return Read::Lost,
            Err(e) => last = e.label(),
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
    Read::Unreadable(last)
}

/// Reads every object of `created` through `t`.
pub async fn read_back<T: Target>(
    t: &T,
    fleet: &FleetSpec,
    created: Vec<CreatedObject>,
) -> ReadBack {
    let t0 = Instant::now();
    let mut r = ReadBack {
        acknowledged: created.len() as u64,
        ..Default::default()
    };
    // Owned futures (a clone of the client, the object): nothing borrowed across the
    // awaits, so the caller's future stays Send.
    let futures: Vec<_> = created
        .into_iter()
        .map(|o| {
            let (t, api) = (t.clone(), fleet.api_ref(o.0));
            async move {
                let read = read_one(t, api, &o).await;
                (o, read)
            }
        })
        .collect();
    let reads = futures::stream::iter(futures)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    for (o, read) in reads {
        let why = match read {
            Read::Found => {
                r.found += 1;
                continue;
            }
            Read::Lost => {
                r.lost += 1;
                "not found".to_string()
            }
            Read::Unreadable(e) => {
                r.unreadable += 1;
                e
            }
        };
        if r.examples.len() < EXAMPLES {
            r.examples.push(format!(
                "{} {}/{}: {why}",
                o.0.label(),
                o.1.as_deref().unwrap_or("-"),
                o.2
            ));
        }
    }
    r.seconds = t0.elapsed().as_secs_f64();
    r
}
