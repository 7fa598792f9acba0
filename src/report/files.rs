//! The files of a results directory besides `summary.json`:
//! - `timeseries.csv`: one row per second (see [`crate::measure::timeseries`]);
//! - `histograms/<phase>.<verb>.<kind>.<metric>.hgrm`: HdrHistogram's percentile
//!   distribution text (values in ms), for HdrHistogram's plotter and people;
//! - `histograms.hlog`: every histogram, lossless (HdrHistogram interval log, V2 +
//!   deflate), tagged `<phase>/<verb>/<kind>/<metric>`: what shard merging reads;
//! - `report.md`: the human report ([`super::markdown`]).

use crate::measure::{timeseries, Measurements};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use std::io::Write;
use std::path::Path;

/// Renders a µs histogram as HdrHistogram's `.hgrm` percentile distribution, in ms.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut s = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            String::new()
        };
        s += &format!(
            "{:>12.3} {:>14.12} {:>10} {inv}\n",
            h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
            q,
            total
        );
    }
    s += &format!(
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]\n",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    s += &format!(
        "#[Max     = {:>12.3}, Total count    = {:>12}]\n",
        h.max() as f64 / 1000.0,
        h.len()
    );
    s += &format!(
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]\n",
        h.buckets(),
        h.distinct_values()
    );
    s
}

/// Writes timeseries.csv, the .hgrm files and histograms.hlog for `m` into `dir`, with
/// `extra` (tag, µs histogram) pairs (controllers, watch lag) in the log too.
pub fn write_measurements(
    dir: &Path,
    m: &Measurements,
    extra: &[(String, Histogram<u64>)],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("histograms"))?;
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("timeseries.csv"))?);
    timeseries::write_csv(&m.series, &mut csv)?;
    csv.flush()?;

    let mut log = Vec::new();
    {
        let mut ser = V2DeflateSerializer::new();
        let mut w = IntervalLogWriterBuilder::new()
            .add_comment("capi-loadgen histograms: values in microseconds")
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut log, &mut ser)
            .map_err(std::io::Error::other)?;
        let ops = m.ops.iter().flat_map(|((phase, verb, kind), s)| {
            [
                ("latency", &s.latency),
                ("server", &s.server),
                ("throttle_wait", &s.throttle_wait),
            ]
            .map(|(metric, h)| {
                (
                    format!("{phase}/{}/{}/{metric}", verb.label(), kind.label()),
                    h,
                )
            })
        });
        let extra = extra.iter().map(|(tag, h)| (tag.clone(), h));
        for (tag, h) in ops.chain(extra) {
            let name = tag.replace('/', ".");
            std::fs::write(dir.join("histograms").join(format!("{name}.hgrm")), hgrm(h))?;
            w.write_histogram(
                h,
                std::time::Duration::ZERO,
                std::time::Duration::ZERO,
                Tag::new(&tag),
            )
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
    }
    std::fs::write(dir.join("histograms.hlog"), log)
}

/// Reads `histograms.hlog` back: tag → histogram (µs).
pub fn read_histograms(dir: &Path) -> std::io::Result<Vec<(String, Histogram<u64>)>> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    let bytes = std::fs::read(dir.join("histograms.hlog"))?;
    let mut out = Vec::new();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")))?;
        if let LogEntry::Interval(h) = entry {
            let tag = h.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
            let raw = base64_decode(h.encoded_histogram())?;
            let hist: Histogram<u64> =
                de.deserialize(&mut std::io::Cursor::new(raw))
                    .map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}"))
                    })?;
            out.push((tag, hist));
        }
    }
    Ok(out)
}

fn base64_decode(s: &str) -> std::io::Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{OpStats, Verb};
    use crate::model::Kind;

    #[test]
    fn histograms_round_trip_losslessly() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Measurements::default();
        let mut s = OpStats::default();
        for v in [10u64, 200, 3_000, 45_000, 45_001] {
            s.latency.record(v).unwrap();
        }
        s.sent = 5;
        m.ops.insert(("create", Verb::Create, Kind::Machine), s);
        let mut extra = Histogram::<u64>::new(3).unwrap();
        extra.record(7).unwrap();
        write_measurements(dir.path(), &m, &[("watch/lag".into(), extra.clone())]).unwrap();
        let back = read_histograms(dir.path()).unwrap();
        let (tag, h) = back
            .iter()
            .find(|(t, _)| t == "create/create/machine/latency")
            .unwrap();
        assert_eq!(tag, "create/create/machine/latency");
        assert_eq!(h.len(), 5);
        assert_eq!(*h, m.ops[&("create", Verb::Create, Kind::Machine)].latency);
        assert_eq!(
            back.iter().find(|(t, _)| t == "watch/lag").unwrap().1,
            extra
        );
        let text = std::fs::read_to_string(
            dir.path()
                .join("histograms/create.create.machine.latency.hgrm"),
        )
        .unwrap();
        assert!(text.contains("Total count    =            5"), "{text}");
        assert!(std::fs::read_to_string(dir.path().join("timeseries.csv"))
            .unwrap()
            .starts_with("second,"));
    }
}
