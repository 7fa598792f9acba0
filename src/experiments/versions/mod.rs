//! The same sweep or breakpoints suite on several Kubernetes versions (`--versions`): one
//! local environment per version, in turn, each version's results in `<dir>/<version>/`,
//! then the side-by-side `versions.json`, `versions.md` and one plot per curve with one line
//! per version (see [`report`]).

pub mod report;

use self::report::{markdown, ServerVersions, VersionRow, VersionsReport};
use super::suite::{run_suite, SuiteOptions};
use super::sweep::{sweep, SweepSpec};
use crate::env::assets::{self, Version, Wanted};
use crate::error::{Error, UsageError};
use crate::report::breakpoints::BreakpointsReport;
use crate::report::plot::svg_versions;
use crate::sweep::file::SweepReport;
use std::path::Path;

/// Parses `--versions v1.20.2,v1.37.2`: at least two distinct versions.
pub fn parse_versions(list: &str) -> Result<Vec<Version>, Error> {
    let mut out: Vec<Version> = Vec::new();
    for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let v = Version::parse_exact(t).ok_or_else(|| {
            Error::Usage(UsageError::Value {
                flag: "--versions",
                value: format!("`{}`", t.escape_debug()),
                expected: "not a version like v1.37.2".into(),
            })
        })?;
        if out.contains(&v) {
            return Err(Error::Usage(UsageError::Value {
                flag: "--versions",
                value: v.to_string(),
                expected: "named twice".into(),
            }));
        }
        out.push(v);
    }
    if out.len() < 2 {
        return Err(Error::Usage(UsageError::Combination(
            "--versions: name at least two kube-apiserver versions, e.g. v1.20.2,v1.37.2",
        )));
    }
    Ok(out)
}

/// The servers each version's local environment will run, found before anything runs (a
/// missing version fails at once, naming the setup command that builds it).
fn resolve(versions: &[Version], etcd: Option<&str>) -> Result<Vec<ServerVersions>, Error> {
    let etcd = match etcd {
        None => None,
        Some(t) => Some(Version::parse_exact(t).ok_or_else(|| {
            Error::Usage(UsageError::Value {
                flag: "--etcd-version",
                value: format!("`{}`", t.escape_debug()),
                expected: "must be a version like v3.6.16".into(),
            })
        })?),
    };
    versions
        .iter()
        .map(|v| {
            let a = assets::discover(&Wanted {
                kubernetes: Some(*v),
                etcd,
            })?;
            Ok(ServerVersions {
                kubernetes: a.apiserver_version.to_string(),
                etcd: a.etcd_version.to_string(),
                results: v.to_string(),
            })
        })
        .collect()
}

fn local_only(overrides: &crate::profile::Overrides) -> Result<(), Error> {
    if overrides.kubeconfig.is_some()
        || overrides.context.is_some()
        || !overrides.etcd_endpoints.is_empty()
    {
        return Err(Error::Usage(UsageError::Combination(
            "--versions starts one local environment per version: it cannot be combined with --kubeconfig, --context or --etcd-endpoint",
        )));
    }
    if overrides.kubernetes_version.is_some() {
        return Err(Error::Usage(UsageError::Combination(
            "--versions and --kubernetes-version both choose the kube-apiserver: give one",
        )));
    }
    Ok(())
}

fn write(dir: &Path, r: &VersionsReport) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let p = dir.join("versions.json");
    let json = crate::error::to_json(r)?;
    std::fs::write(&p, json).map_err(|e| Error::io(&p, e))?;
    let p = dir.join("versions.md");
    std::fs::write(&p, markdown(r)).map_err(|e| Error::io(&p, e))
}

/// Writes one plot per curve of `runs` (a sweep per version) into `dir/<prefix><metric>.svg`;
/// returns the file names written, relative to `dir`.
fn plots(
    dir: &Path,
    prefix: &str,
    versions: &[ServerVersions],
    runs: &[&SweepReport],
) -> Result<Vec<String>, Error> {
    let Some(first) = runs.first() else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    for c in &first.curves {
        let series: Vec<(String, Vec<(f64, f64)>)> = versions
            .iter()
            .zip(runs)
            .filter_map(|(v, r)| {
                let pts = r
                    .curves
                    .iter()
                    .find(|x| x.metric == c.metric)?
                    .points
                    .clone();
                Some((v.kubernetes.clone(), pts))
            })
            .collect();
        let Ok(svg) = svg_versions(&c.metric, &c.unit, &first.field, &series) else {
            continue; // no points on any version: nothing to draw
        };
        let name = format!("{prefix}{}.svg", c.metric);
        let p = dir.join(&name);
        std::fs::write(&p, svg).map_err(|e| Error::io(&p, e))?;
        written.push(name);
    }
    Ok(written)
}

/// Runs `spec` once per version (each in `spec.dir/<version>/`) and writes the comparison.
pub async fn sweep_versions(
    spec: &SweepSpec,
    versions: &[Version],
) -> Result<VersionsReport, Error> {
    local_only(&spec.overrides)?;
    let servers = resolve(versions, spec.overrides.etcd_version.as_deref())?;
    let mut reports: Vec<SweepReport> = Vec::new();
    for v in versions {
        println!("sweep {}: kube-apiserver {v}", spec.sweep_id);
        let mut one = SweepSpec {
            source: spec.source.clone(),
            text: spec.text.clone(),
            field: spec.field.clone(),
            values: spec.values.clone(),
            state: spec.state,
            sweep_id: spec.sweep_id.clone(),
            dir: spec.dir.join(v.to_string()),
            overrides: spec.overrides.clone(),
            controller: spec.controller,
        };
        one.overrides.kubernetes_version = Some(v.to_string());
        reports.push(sweep(&one).await?);
    }
    let runs: Vec<&SweepReport> = reports.iter().collect();
    let r = VersionsReport {
        kind: "sweep".into(),
        experiment: format!("{} over {}", spec.source.display(), spec.field),
        rows: self::report::sweep_rows(&runs),
        plots: plots(&spec.dir, "", &servers, &runs)?,
        versions: servers,
    };
    write(&spec.dir, &r)?;
    Ok(r)
}

/// Runs the breakpoints suite once per version (each in `o.dir/<version>/`) and writes the
/// comparison, with one plot per curve of each experiment's sweep.
pub async fn suite_versions(
    o: SuiteOptions,
    versions: &[Version],
) -> Result<VersionsReport, Error> {
    local_only(&o.overrides)?;
    let servers = resolve(versions, o.overrides.etcd_version.as_deref())?;
    let mut reports: Vec<BreakpointsReport> = Vec::new();
    for v in versions {
        println!("breakpoints {}: kube-apiserver {v}", o.run_id);
        let mut one = o.clone();
        one.dir = o.dir.join(v.to_string());
        one.overrides.kubernetes_version = Some(v.to_string());
        reports.push(run_suite(one).await?);
    }
    let runs: Vec<&BreakpointsReport> = reports.iter().collect();
    let mut plot_files = Vec::new();
    for row in &reports[0].rows {
        let sweeps: Vec<SweepReport> = versions
            .iter()
            .filter_map(|v| {
                let p = o
                    .dir
                    .join(v.to_string())
                    .join(row.id.id())
                    .join("sweep.json");
                serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
            })
            .collect();
        if sweeps.len() == versions.len() {
            let refs: Vec<&SweepReport> = sweeps.iter().collect();
            plot_files.extend(plots(
                &o.dir,
                &format!("{}-", row.id.id()),
                &servers,
                &refs,
            )?);
        }
    }
    let rows: Vec<VersionRow> = self::report::suite_rows(&runs);
    let r = VersionsReport {
        kind: "breakpoints".into(),
        experiment: format!("suite {}", o.run_id),
        rows,
        plots: plot_files,
        versions: servers,
    };
    write(&o.dir, &r)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_lists_are_checked() {
        let v = parse_versions("v1.20.2, v1.37.2").unwrap();
        assert_eq!(v.len(), 2);
        for bad in ["v1.37.2", "v1.37.2,v1.37.2", "v1.20.2,1.37", ""] {
            assert!(parse_versions(bad).is_err(), "{bad}");
        }
    }
}
