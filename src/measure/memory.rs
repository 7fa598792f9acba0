//! kube-apiserver's memory: its resident set (from `/proc/<pid>/status` where the tool
//! runs the apiserver, and from its own `process_resident_memory_bytes` on any target) and
//! its Go heap (`go_memstats_heap_inuse_bytes`, `go_memstats_alloc_bytes`), before the load
//! and, after a settle, at its end.
//!
//! The settle keeps garbage out of growth: the apiserver is asked to run a garbage
//! collection (`/debug/pprof/heap?gc=1`, served while `--profiling` is on, its default),
//! then left idle for the settle period, then sampled [`SETTLE_SAMPLES`] times; the end
//! values are the medians of those samples. Where the collection cannot be forced (a
//! target that refuses `/debug/pprof`), the idle period and the medians still apply and
//! the summary says the collection was not forced.

use super::metrics::{InstanceSnapshots, Snapshot};
use super::sources::Sources;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// Samples taken after the settle; the end values are their medians.
pub const SETTLE_SAMPLES: usize = 3;
/// Between two settle samples.
pub const SETTLE_SAMPLE_GAP: Duration = Duration::from_millis(500);
/// How long the forced garbage collection may take before the settle goes on without it.
pub const FORCED_GC_TIMEOUT: Duration = Duration::from_secs(20);

/// kube-apiserver's memory at one moment; every value in bytes, objects in objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySample {
    /// Resident set from `/proc/<pid>/status` `VmRSS` (local environment only).
    pub rss_bytes: Option<f64>,
    /// `process_resident_memory_bytes` from the apiserver's `/metrics`.
    pub resident_bytes: Option<f64>,
    /// `go_memstats_heap_inuse_bytes`: heap spans in use (live objects, fragmentation and
    /// garbage not yet collected).
    pub heap_inuse_bytes: Option<f64>,
    /// `go_memstats_alloc_bytes`: allocated heap objects; right after a collection, the
    /// live heap.
    pub heap_alloc_bytes: Option<f64>,
    /// Objects stored, all resources (the apiserver's object-count metric).
    pub objects: Option<f64>,
}

impl MemorySample {
    /// The memory values of one scrape.
    pub fn of(s: &Snapshot) -> MemorySample {
        MemorySample {
            rss_bytes: s.apiserver_rss,
            resident_bytes: s.apiserver_resident,
            heap_inuse_bytes: s.apiserver_heap_inuse,
            heap_alloc_bytes: s.apiserver_heap_alloc,
            objects: (!s.objects.is_empty()).then(|| s.objects.values().sum()),
        }
    }

    /// The resident set: VmRSS where the process is local, else the apiserver's own metric.
    pub fn resident(&self) -> Option<f64> {
        self.rss_bytes.or(self.resident_bytes)
    }

    /// True when nothing was read.
    pub fn is_empty(&self) -> bool {
        *self == MemorySample::default()
    }

    /// Field by field median of several samples (values absent in a sample are left out).
    pub fn median(samples: &[MemorySample]) -> MemorySample {
        let m = |f: fn(&MemorySample) -> Option<f64>| median(samples.iter().filter_map(f));
        MemorySample {
            rss_bytes: m(|s| s.rss_bytes),
            resident_bytes: m(|s| s.resident_bytes),
            heap_inuse_bytes: m(|s| s.heap_inuse_bytes),
            heap_alloc_bytes: m(|s| s.heap_alloc_bytes),
            objects: m(|s| s.objects),
        }
    }

    /// `self - before`, field by field (absent where either is).
    pub fn minus(&self, before: &MemorySample) -> MemorySample {
        let d = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        MemorySample {
            rss_bytes: d(self.rss_bytes, before.rss_bytes),
            resident_bytes: d(self.resident_bytes, before.resident_bytes),
            heap_inuse_bytes: d(self.heap_inuse_bytes, before.heap_inuse_bytes),
            heap_alloc_bytes: d(self.heap_alloc_bytes, before.heap_alloc_bytes),
            objects: d(self.objects, before.objects),
        }
    }
}

/// The median of some values; None when there are none.
pub fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The end of a run's memory, after the settle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settled {
    /// Medians of the settle samples.
    pub sample: MemorySample,
    /// Whether the apiserver ran a garbage collection on request first.
    pub forced_gc: bool,
    /// Idle seconds before the first sample.
    pub settle_seconds: f64,
    /// Samples taken.
    pub samples: u32,
}

/// kube-apiserver memory over a run (`summary.json` `observed.apiserver_memory`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiserverMemory {
    /// The scrape before the load.
    pub start: MemorySample,
    /// After the load: medians of the settle samples, or the last scrape when the run
    /// stopped early (`settled` false).
    pub end: MemorySample,
    /// `end - start`.
    pub growth: MemorySample,
    /// Whether `end` was taken after the settle.
    pub settled: bool,
    /// Whether a garbage collection was forced before the settle.
    pub forced_gc: bool,
    /// Idle seconds between the load's end and the first end sample.
    pub settle_seconds: f64,
    /// Samples `end` is the median of.
    pub settle_samples: u32,
}

impl ApiserverMemory {
    /// From the first and last scrapes and, when the run ended normally, the settle.
    /// None when no memory value was ever read.
    pub fn from_scrapes(
        first: &Snapshot,
        last: &Snapshot,
        end: Option<Settled>,
    ) -> Option<ApiserverMemory> {
        let start = MemorySample::of(first);
        let (end_sample, settled, forced_gc, settle_seconds, settle_samples) = match end {
            Some(s) if !s.sample.is_empty() => {
                (s.sample, true, s.forced_gc, s.settle_seconds, s.samples)
            }
            _ => (MemorySample::of(last), false, false, 0.0, 1),
        };
        // Object counts alone are not a memory measurement.
        let memory = |m: &MemorySample| m.resident().is_some() || m.heap_inuse_bytes.is_some();
        if !memory(&start) && !memory(&end_sample) {
            return None;
        }
        Some(ApiserverMemory {
            growth: end_sample.minus(&start),
            start,
            end: end_sample,
            settled,
            forced_gc,
            settle_seconds,
            settle_samples,
        })
    }
}

/// A controller manager's informer-cache memory: its own heap per cached object, measured
/// on a reference controller, or not measured with the reason. The tool's simulated
/// controllers keep no informer cache and its watch streams keep no objects, so they are
/// never a stand-in for one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerCacheMemory {
    /// Heap bytes per cached object; null when not measured.
    pub heap_bytes_per_object: Option<f64>,
    /// Objects the controller had cached when measured; null when not measured.
    pub objects_cached: Option<f64>,
    /// How it was measured, or why it was not.
    pub note: String,
}

/// Why controller cache memory is not measured in a run of this tool.
pub const NO_REFERENCE_CONTROLLER: &str = "not measured: no reference controller in this run (the tool's simulated controllers keep no informer cache, so their memory says nothing about one)";

impl ControllerCacheMemory {
    /// Not measured, for `why`.
    pub fn not_measured(why: &str) -> ControllerCacheMemory {
        ControllerCacheMemory {
            heap_bytes_per_object: None,
            objects_cached: None,
            note: why.to_string(),
        }
    }
}

/// VmRSS of a process in bytes, from `/proc/<pid>/status` (which gives kB).
pub fn vm_rss_bytes(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_vm_rss(&text).ok_or_else(|| format!("{path}: no VmRSS line"))
}

fn parse_vm_rss(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let n: f64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(n * 1024.0),
        Some(_) => None,
    }
}

/// Asks the apiserver to run a garbage collection: `GET /debug/pprof/heap?gc=1` (Go's
/// `net/http/pprof` runs `runtime.GC()` before writing the heap profile; `debug=1` asks for
/// the text form, which is read and dropped).
async fn force_gc(client: &kube::Client) -> Result<(), String> {
    let req = http::Request::get("/debug/pprof/heap?gc=1&debug=1")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(FORCED_GC_TIMEOUT, client.request_text(req))
        .await
        .map_err(|_| format!("no answer within {} s", FORCED_GC_TIMEOUT.as_secs()))?
        .map(|_| ())
        .map_err(|e| gc_error(&e))
}

/// A readable sentence for a failed forced collection (never kube's debug struct).
fn gc_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "this identity may not read it (HTTP 403: {}); it needs `get` on the nonResourceURL /debug/pprof/* (an admin kubeconfig has it)",
            if s.message.is_empty() { "forbidden" } else { s.message.as_str() }
        ),
        kube::Error::Api(s) => format!(
            "HTTP {}{}",
            s.code,
            if s.message.is_empty() {
                String::new()
            } else {
                format!(": {}", s.message)
            }
        ),
        other => format!("the request failed: {other}"),
    }
}

/// The settle at the end of a load: force a collection, stay idle for `settle`, then take
/// [`SETTLE_SAMPLES`] scrapes [`SETTLE_SAMPLE_GAP`] apart. Returns the medians and the
/// scrapes (with their second since `start`) for the per-interval series.
pub async fn settled(
    sources: &Sources,
    last: &mut InstanceSnapshots,
    settle: Duration,
    start: tokio::time::Instant,
    not_observed: &mut BTreeSet<String>,
) -> (Settled, Vec<(f64, Snapshot)>) {
    let forced_gc = match &sources.apiserver {
        Some(c) => match force_gc(c).await {
            Ok(()) => true,
            Err(e) => {
                not_observed.insert(format!(
                    "kube-apiserver forced garbage collection (/debug/pprof/heap?gc=1): {e}"
                ));
                false
            }
        },
        None => false,
    };
    tokio::time::sleep(settle).await;
    let mut snaps = Vec::with_capacity(SETTLE_SAMPLES);
    for i in 0..SETTLE_SAMPLES {
        if i > 0 {
            tokio::time::sleep(SETTLE_SAMPLE_GAP).await;
        }
        let (s, problems) = sources.snapshot(last).await;
        not_observed.extend(problems);
        snaps.push((start.elapsed().as_secs_f64(), s));
    }
    let samples: Vec<MemorySample> = snaps.iter().map(|(_, s)| MemorySample::of(s)).collect();
    (
        Settled {
            sample: MemorySample::median(&samples),
            forced_gc,
            settle_seconds: settle.as_secs_f64(),
            samples: SETTLE_SAMPLES as u32,
        },
        snaps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_forced_collection_reads_as_a_sentence() {
        let mut st = kube::core::Status::failure(
            "forbidden: User \"system:serviceaccount:x:y\" cannot get path \"/debug/pprof/heap\"",
            "Forbidden",
        );
        st.code = 403;
        let text = gc_error(&kube::Error::Api(Box::new(st)));
        assert!(
            text.starts_with("this identity may not read it (HTTP 403: forbidden: User"),
            "{text}"
        );
        assert!(text.contains("nonResourceURL /debug/pprof/*"), "{text}");
        assert!(
            !text.contains("Status {") && !text.contains("ApiError"),
            "{text}"
        );
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status =
            "Name:\tkube-apiserver\nVmPeak:\t 2000000 kB\nVmRSS:\t  524288 kB\nThreads:\t12\n";
        assert_eq!(parse_vm_rss(status), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t12 MB\n"), None, "only kB is known");
        // This test process has a resident set.
        let me = vm_rss_bytes(std::process::id()).unwrap();
        assert!(me > 1024.0 * 1024.0, "{me}");
        assert!(vm_rss_bytes(u32::MAX).is_err());
    }

    #[test]
    fn medians_and_growth_field_by_field() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
        let s = |rss: f64, heap: Option<f64>| MemorySample {
            rss_bytes: Some(rss),
            heap_inuse_bytes: heap,
            ..Default::default()
        };
        let m = MemorySample::median(&[s(300.0, Some(10.0)), s(100.0, None), s(200.0, Some(30.0))]);
        assert_eq!(m.rss_bytes, Some(200.0));
        assert_eq!(m.heap_inuse_bytes, Some(20.0));
        assert_eq!(m.resident(), Some(200.0));
        let g = s(500.0, Some(50.0)).minus(&s(200.0, None));
        assert_eq!((g.rss_bytes, g.heap_inuse_bytes), (Some(300.0), None));
    }

    #[test]
    fn a_run_without_memory_values_has_no_memory_section() {
        let mut first = Snapshot::default();
        first.objects.insert("secrets".into(), 5.0);
        assert_eq!(ApiserverMemory::from_scrapes(&first, &first, None), None);
        let mut last = first.clone();
        first.apiserver_resident = Some(100.0);
        last.apiserver_resident = Some(150.0);
        last.objects.insert("machines".into(), 10.0);
        let m = ApiserverMemory::from_scrapes(&first, &last, None).unwrap();
        assert!(!m.settled);
        assert_eq!(m.growth.resident_bytes, Some(50.0));
        assert_eq!(m.growth.objects, Some(10.0));
        let settled = Settled {
            sample: MemorySample {
                resident_bytes: Some(120.0),
                ..Default::default()
            },
            forced_gc: true,
            settle_seconds: 2.0,
            samples: 3,
        };
        let m = ApiserverMemory::from_scrapes(&first, &last, Some(settled)).unwrap();
        assert!(m.settled && m.forced_gc);
        assert_eq!(m.growth.resident_bytes, Some(20.0));
    }
}
