//! A single-pass parser of the Prometheus text exposition format ("Exposition formats",
//! <https://prometheus.io/docs/instrumenting/exposition_formats/>) for the lines the snapshot
//! reads: no regular expressions, labels kept as their raw text and looked up on demand,
//! histogram buckets grouped as they come (a series' buckets are consecutive in the
//! exposition). The sample shapes mirror prometheus-parse's (`metric`, `labels.get`,
//! counter/gauge/untyped values and histograms of cumulative buckets) so that the snapshot
//! code reads the same way; prometheus-parse (a regular expression per line and a sorted,
//! formatted label string per bucket) was most of the tool's CPU per scrape.

/// A histogram bucket: observations `<= less_than`, cumulative.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramCount {
    /// The bucket's upper bound (`le`).
    pub less_than: f64,
    /// Cumulative count.
    pub count: f64,
}

/// A sample's value by the family's `# TYPE`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A counter.
    Counter(f64),
    /// A gauge.
    Gauge(f64),
    /// No or another type (also a histogram's `_sum` and `_count`).
    Untyped(f64),
    /// A histogram's buckets (its `_bucket` lines, under the family's name).
    Histogram(Vec<HistogramCount>),
}

/// A sample's labels as written between the braces (`k="v",...`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Labels(String);

impl Labels {
    /// The value of label `key` as written (escape sequences are not undone; the labels the
    /// snapshot reads, verbs, codes, resources, never hold any).
    pub fn get(&self, key: &str) -> Option<&str> {
        label_pairs(&self.0).find_map(|(k, v)| (k == key).then_some(v))
    }
}

/// `(key, value)` of each `key="value"` in a label text; a value may hold escaped quotes.
fn label_pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches([',', ' ']);
        let (key, after) = rest.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let end = closing_quote(after)?;
        rest = &after[end + 1..];
        Some((key.trim(), &after[..end]))
    })
}

/// The index of the first unescaped `"` in `s`.
fn closing_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// One series.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The metric name (a histogram's family name for its buckets).
    pub metric: String,
    /// Its labels (a histogram's: those of its first bucket line).
    pub labels: Labels,
    /// Its value.
    pub value: Value,
}

/// The samples of one exposition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    /// Every sample kept, in the exposition's order.
    pub samples: Vec<Sample>,
}

/// A sample line: (name, label text, value text).
fn split_sample(line: &str) -> Option<(&str, &str, &str)> {
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let (name, rest) = line.split_at(name_end);
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(r) => {
            // The closing brace outside quoted values.
            let b = r.as_bytes();
            let (mut i, mut quoted) = (0, false);
            while i < b.len() && (quoted || b[i] != b'}') {
                match b[i] {
                    b'\\' if quoted => i += 1,
                    b'"' => quoted = !quoted,
                    _ => {}
                }
                i += 1;
            }
            (r.get(..i)?, r.get(i + 1..)?)
        }
        None => ("", rest),
    };
    let value = rest.split_whitespace().next()?;
    (!name.is_empty()).then_some((name, labels, value))
}

/// Go's float formatting as Rust parses it (`+Inf`, `-Inf`, `NaN` included).
fn float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        s => s.parse().ok(),
    }
}

/// The label text without its `le` pair (a bucket's series key), as two slices.
fn without_le(labels: &str) -> (&str, &str) {
    let offset = |s: &str| s.as_ptr() as usize - labels.as_ptr() as usize;
    for (k, v) in label_pairs(labels) {
        if k == "le" {
            let end = offset(v) + v.len() + 1;
            let end = if labels[end..].starts_with(',') {
                end + 1
            } else {
                end
            };
            return (&labels[..offset(k)], &labels[end..]);
        }
    }
    (labels, "")
}

/// Parses the lines of `text` that `keep` accepts (`# TYPE` lines and samples).
pub fn parse(text: &str, keep: impl Fn(&str) -> bool) -> Scrape {
    let mut histograms: Vec<&str> = Vec::new();
    let mut types: Vec<(&str, &str)> = Vec::new();
    let mut samples: Vec<Sample> = Vec::new();
    // The histogram series being filled: (family, labels without le) of the last sample.
    let mut open: Option<(usize, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || !keep(line) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut w = rest.split_whitespace();
            if let (Some("TYPE"), Some(name), Some(ty)) = (w.next(), w.next(), w.next()) {
                match ty {
                    "histogram" => histograms.push(name),
                    _ => types.push((name, ty)),
                }
            }
            continue;
        }
        let Some((name, labels, value)) = split_sample(line) else {
            continue;
        };
        let Some(v) = float(value) else {
            continue;
        };
        let family = name
            .strip_suffix("_bucket")
            .filter(|f| histograms.contains(f));
        if let Some(family) = family {
            let (a, b) = without_le(labels);
            let Some(le) = Labels(labels.to_string()).get("le").and_then(float) else {
                continue;
            };
            let bucket = HistogramCount {
                less_than: le,
                count: v,
            };
            let same = open.as_ref().is_some_and(|(i, key)| {
                samples[*i].metric == family
                    && key.len() == a.len() + b.len()
                    && key.starts_with(a)
                    && key.ends_with(b)
            });
            if same {
                if let Some((i, _)) = &open {
                    if let Value::Histogram(h) = &mut samples[*i].value {
                        h.push(bucket);
                    }
                }
            } else {
                open = Some((samples.len(), format!("{a}{b}")));
                samples.push(Sample {
                    metric: family.to_string(),
                    labels: Labels(labels.to_string()),
                    value: Value::Histogram(vec![bucket]),
                });
            }
            continue;
        }
        let value = match types.iter().find(|(n, _)| *n == name).map(|(_, t)| *t) {
            Some("counter") => Value::Counter(v),
            Some("gauge") => Value::Gauge(v),
            _ => Value::Untyped(v),
        };
        samples.push(Sample {
            metric: name.to_string(),
            labels: Labels(labels.to_string()),
            value,
        });
    }
    Scrape { samples }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP x_seconds A histogram.
# TYPE x_seconds histogram
x_seconds_bucket{verb="POST",le="0.1"} 1
x_seconds_bucket{verb="POST",le="+Inf"} 3
x_seconds_sum{verb="POST"} 0.5
x_seconds_count{verb="POST"} 3
x_seconds_bucket{le="0.1",verb="GET"} 4
x_seconds_bucket{le="+Inf",verb="GET"} 5
# TYPE requests_total counter
requests_total{code="429",msg="a, \"quoted\" } value"} 7
requests_total 2 1700000000000
# TYPE g gauge
g 1.5e+08
u NaN
"#;

    #[test]
    fn parses_like_prometheus_parse() {
        let ours = parse(TEXT, |_| true);
        let theirs =
            prometheus_parse::Scrape::parse(TEXT.lines().map(|l| Ok(l.to_string()))).unwrap();
        // Same series, names, values and buckets (prometheus-parse orders histograms last),
        // and one more: the line whose quoted label value holds a brace, which
        // prometheus-parse's expression cannot read.
        assert_eq!(ours.samples.len(), theirs.samples.len() + 1);
        for t in &theirs.samples {
            let o = ours
                .samples
                .iter()
                .find(|o| {
                    let mine: std::collections::HashMap<String, String> = label_pairs(&o.labels.0)
                        .filter(|(k, _)| *k != "le")
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    o.metric == t.metric && mine == *t.labels
                })
                .unwrap_or_else(|| panic!("{t:?} missing"));
            let same = match (&o.value, &t.value) {
                (Value::Counter(a), prometheus_parse::Value::Counter(b))
                | (Value::Gauge(a), prometheus_parse::Value::Gauge(b))
                | (Value::Untyped(a), prometheus_parse::Value::Untyped(b)) => {
                    a == b || (a.is_nan() && b.is_nan())
                }
                (Value::Histogram(a), prometheus_parse::Value::Histogram(b)) => {
                    a.len() == b.len()
                        && a.iter()
                            .zip(b)
                            .all(|(x, y)| x.less_than == y.less_than && x.count == y.count)
                }
                _ => false,
            };
            assert!(same, "{o:?} vs {t:?}");
        }
        // Quoted values with commas, quotes and braces stay whole (prometheus-parse splits
        // them at the comma).
        let r = &ours
            .samples
            .iter()
            .find(|s| s.metric == "requests_total")
            .unwrap();
        assert_eq!(r.labels.get("msg"), Some(r#"a, \"quoted\" } value"#));
        assert_eq!(r.labels.get("code"), Some("429"));
        assert_eq!(r.value, Value::Counter(7.0));
        let h: Vec<&Sample> = ours
            .samples
            .iter()
            .filter(|s| s.metric == "x_seconds")
            .collect();
        assert_eq!(h.len(), 2, "two series, le first or last");
        assert_eq!(h[1].labels.get("verb"), Some("GET"));
        assert_eq!(
            h[0].value,
            Value::Histogram(vec![
                HistogramCount {
                    less_than: 0.1,
                    count: 1.0
                },
                HistogramCount {
                    less_than: f64::INFINITY,
                    count: 3.0
                }
            ])
        );
    }

    #[test]
    fn keeps_only_what_is_asked_and_skips_broken_lines() {
        let s = parse(TEXT, |l| l.starts_with("# TYPE g") || l.starts_with("g "));
        assert_eq!(s.samples.len(), 1);
        assert_eq!(s.samples[0].value, Value::Gauge(1.5e8));
        let broken = "# TYPE a counter\na{x=\"1\" 3\na notanumber\n{b} 1\na 4\n";
        let s = parse(broken, |_| true);
        assert_eq!(s.samples.len(), 1, "{s:?}");
        assert_eq!(s.samples[0].value, Value::Counter(4.0));
    }
}
