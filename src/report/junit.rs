//! The health verdicts of a run as JUnit XML, the test-report format CI systems read
//! (Jenkins, GitLab, GitHub Actions reporters): one test suite, one test case for the run's
//! status and one per health check. A check fails at `--fail-on`'s level (default
//! degraded), is skipped when it was not observed, and passes otherwise; each case's
//! `system-out` holds the value and the thresholds applied. The layout follows the JUnit
//! XML schema as Jenkins' xUnit plugin publishes it (`junit-10.xsd`,
//! <https://github.com/jenkinsci/xunit-plugin>): `testsuites` > `testsuite` (name, tests,
//! failures, errors, skipped, time, timestamp) > `properties`, `testcase` (name, classname,
//! time) > one of `failure`/`skipped`, then `system-out`.

use super::health::Verdict;
use super::summary::{RunStatus, Summary};
use crate::thresholds::Level;
use std::fmt::Write;

/// The level at which a check fails when `--fail-on` is not given.
pub const DEFAULT_FAIL_LEVEL: Level = Level::Degraded;

/// Escapes text for an XML attribute or element.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Healthy => "healthy",
        Level::Warning => "warning",
        Level::Degraded => "degraded",
        Level::Critical => "critical",
        Level::NotObserved => "not observed",
    }
}

fn describe(v: &Verdict) -> String {
    let [w, d, c] = v.thresholds;
    let value = v
        .value
        .map(|x| format!("{x:.3} {}", v.unit))
        .unwrap_or_else(|| "not observed".into());
    format!(
        "{}: {value}; thresholds ({}): warning >= {w}, degraded >= {d}, critical >= {c}; verdict {}",
        v.check,
        v.unit,
        level_name(v.level)
    )
}

enum Case {
    Pass,
    Fail(String, &'static str),
    Skip(String),
}

/// Renders the JUnit XML of a run; checks at `fail_on` or worse fail
/// ([`DEFAULT_FAIL_LEVEL`] when None).
pub fn render(s: &Summary, fail_on: Option<Level>) -> String {
    let limit = fail_on.unwrap_or(DEFAULT_FAIL_LEVEL);
    let mut cases: Vec<(String, &str, Case, String)> = Vec::new();
    let status = match s.status {
        RunStatus::Completed => Case::Pass,
        RunStatus::Interrupted => Case::Fail("interrupted".into(), "interrupted"),
        RunStatus::Failed => Case::Fail(
            s.stop_reason
                .clone()
                .unwrap_or_else(|| "too many failed requests".into()),
            "failed",
        ),
        RunStatus::Aborted => Case::Fail(
            s.stop_reason.clone().unwrap_or_else(|| "aborted".into()),
            "aborted",
        ),
    };
    cases.push((
        "run status".into(),
        "capi-loadgen.run",
        status,
        format!(
            "{} sent, {} ok, {} failed, {} throttled (429) in {:.1} s",
            s.totals.sent, s.totals.ok, s.totals.failed, s.totals.throttled, s.duration_seconds
        ),
    ));
    for v in &s.health {
        let case = match v.level {
            Level::NotObserved => Case::Skip("not observed".into()),
            l if l >= limit => Case::Fail(
                format!(
                    "{}: {} {} is {} (fails at {})",
                    v.check,
                    v.value.map(|x| format!("{x:.3}")).unwrap_or_default(),
                    v.unit,
                    level_name(l),
                    level_name(limit)
                ),
                level_name(l),
            ),
            _ => Case::Pass,
        };
        cases.push((v.check.clone(), "capi-loadgen.health", case, describe(v)));
    }
    let failures = cases
        .iter()
        .filter(|c| matches!(c.2, Case::Fail(..)))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.2, Case::Skip(_)))
        .count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = format!("capi-loadgen {}", s.run_id);
    let time = format!("{:.3}", s.duration_seconds);
    let _ = writeln!(
        o,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\">",
        esc(&suite),
        cases.len()
    );
    // Timestamps in the schema are ISO 8601 without a zone.
    let timestamp = s.started_at.get(..19).unwrap_or(&s.started_at);
    let _ = writeln!(
        o,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\">",
        esc(&suite),
        cases.len(),
        esc(timestamp)
    );
    o.push_str("    <properties>\n");
    let shard = s
        .shard
        .as_ref()
        .map(|x| format!("{}/{}", x.index, x.count))
        .unwrap_or_else(|| "0/1".into());
    for (k, v) in [
        ("run_id", s.run_id.as_str()),
        ("profile", s.profile.name.as_str()),
        ("target", s.target.kind.as_str()),
        ("endpoint", s.target.endpoint.as_str()),
        ("server_version", s.target.server_version.as_str()),
        ("shard", shard.as_str()),
        ("fail_on", level_name(limit)),
    ] {
        let _ = writeln!(o, "      <property name=\"{k}\" value=\"{}\"/>", esc(v));
    }
    o.push_str("    </properties>\n");
    for (name, class, case, out) in &cases {
        let _ = writeln!(
            o,
            "    <testcase name=\"{}\" classname=\"{class}\" time=\"0\">",
            esc(name)
        );
        match case {
            Case::Pass => {}
            Case::Fail(m, t) => {
                let _ = writeln!(
                    o,
                    "      <failure message=\"{}\" type=\"{t}\">{}</failure>",
                    esc(m),
                    esc(out)
                );
            }
            Case::Skip(m) => {
                let _ = writeln!(o, "      <skipped message=\"{}\"/>", esc(m));
            }
        }
        let _ = writeln!(o, "      <system-out>{}</system-out>", esc(out));
        o.push_str("    </testcase>\n");
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_the_document_well_formed() {
        assert_eq!(
            esc("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;?"
        );
    }
}
