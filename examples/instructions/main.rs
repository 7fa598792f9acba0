//! Instruction-count scenarios for `scripts/instructions.sh`: generate + encode one object
//! per kind (create JSON and stored value, through the byte templates or, with `--old`,
//! through the reference encoder), one create through the kube client stack against an
//! in-process HTTP stub answering 201, and one etcd put through the etcd client stack
//! against an in-process gRPC stub. Each scenario runs its iterations inside
//! `capi_measure`, so callgrind (`--collect-atstart=no --toggle-collect=capi_measure
//! --dump-after=capi_measure`) writes one profile per scenario holding only that work.
//!
//! `instructions [--old] [--iterations N] [--only PREFIX]`: prints `scenario iterations`
//! per line in the order the profiles are dumped.

use capi_loadgen::backend::Target;
use capi_loadgen::model::{self, create_body, FleetSpec, Kind, Object};
use capi_loadgen::stored::encode::StoredFormat;
use capi_loadgen::stored::template::{reference, FleetTemplates, Form, Rendered};
use std::collections::HashMap;
use std::hint::black_box;

/// The measured region: callgrind collects only inside this function.
#[no_mangle]
#[inline(never)]
pub fn capi_measure(f: &mut dyn FnMut()) {
    f();
}

const TIME: &str = "2026-11-28T13:50:28Z";

/// Picks a cluster's objects of one scenario.
type Pick = Box<dyn Fn(&Object) -> bool>;

/// The generation scenarios' kinds: label and the test picking a cluster's object.
fn kinds() -> Vec<(&'static str, Pick)> {
    let kind = |k: Kind| Box::new(move |o: &Object| o.kind == k) as Pick;
    vec![
        ("cluster", kind(Kind::Cluster)),
        ("infra-cluster", kind(Kind::InfraCluster)),
        ("kubeadm-control-plane", kind(Kind::KubeadmControlPlane)),
        ("machine-deployment", kind(Kind::MachineDeployment)),
        ("machine-set", kind(Kind::MachineSet)),
        ("machine", kind(Kind::Machine)),
        ("kubeadm-config", kind(Kind::KubeadmConfig)),
        ("infra-machine", kind(Kind::InfraMachine)),
        (
            "secret-cluster",
            Box::new(|o: &Object| o.kind == Kind::Secret && o.index < 20),
        ),
        (
            "secret-bootstrap",
            Box::new(|o: &Object| o.kind == Kind::Secret && o.index >= 20),
        ),
    ]
}

fn fleet() -> FleetSpec {
    let mut f = FleetSpec::example("instr");
    f.machine_deployments = 2;
    f.workers_per_machine_deployment = 8;
    f
}

/// `CAPI_LOADGEN_INSTRUCTIONS_REGRESSION=<percent>`: generation scenarios generate that
/// share of their objects twice (10: one iteration in ten), to show the guard failing.
fn regression_every() -> Option<usize> {
    let pct: usize = std::env::var("CAPI_LOADGEN_INSTRUCTIONS_REGRESSION")
        .ok()?
        .parse()
        .ok()?;
    (pct > 0).then(|| (100 / pct).max(1))
}

fn generation(templates: &FleetTemplates, old: bool, n: usize, only: &str, out: &mut Vec<String>) {
    let f = fleet();
    let objs = model::cluster_objects(&f, 7).for_create();
    let all: Vec<Object> = objs.clone().collect();
    let uids = HashMap::new();
    let mut buf = Vec::with_capacity(1 << 16);
    for (label, pick) in kinds() {
        let picked: Vec<u32> = all.iter().filter(|o| pick(o)).map(|o| o.index).collect();
        for stored in [false, true] {
            let name = format!(
                "{}{}/{label}",
                if old { "old-" } else { "" },
                if stored { "stored" } else { "create" }
            );
            if !name.starts_with(only) {
                continue;
            }
            let mut k = 0;
            let every = regression_every();
            let mut gen = |i: u32| {
                buf.clear();
                if old {
                    let obj = objs.get(i).expect("object");
                    let body = create_body(&obj, &uids);
                    if stored {
                        let form = Form::Stored(StoredFormat::Current);
                        buf = reference(&obj, &body, form, &obj.uid, TIME).expect("stored");
                    } else {
                        serde_json::to_writer(&mut buf, &body).expect("json");
                    }
                } else {
                    let t = objs.templated(i).expect("templated");
                    let r = Rendered::new(templates, &t, &uids, || unreachable!("template"));
                    if stored {
                        buf = r
                            .stored(StoredFormat::Current, &t.object.uid, TIME)
                            .expect("stored");
                    } else {
                        r.create_json(&mut buf);
                    }
                }
                black_box(&buf);
            };
            let mut one = || {
                let i = picked[k % picked.len()];
                gen(i);
                if every.is_some_and(|e| k % e == 0) {
                    gen(i);
                }
                k += 1;
            };
            one(); // warm-up: lazy statics, allocator pools
            capi_measure(&mut || {
                for _ in 0..n {
                    one();
                }
            });
            out.push(name);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let old = args.iter().any(|a| a == "--old");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: usize = value("--iterations")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let only = value("--only").unwrap_or_default();
    let templates = FleetTemplates::new(&fleet());
    let mut names = Vec::new();
    generation(&templates, old, n, &only, &mut names);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let machine = {
        let objs = model::cluster_objects(&fleet(), 7).for_create();
        let i = objs.machine_index(5).expect("machine");
        objs.templated(i).expect("templated")
    };
    let uids = HashMap::new();
    let rendered = Rendered::new(&templates, &machine, &uids, || unreachable!("template"));
    if "kube-create".starts_with(&only) {
        let target = rt.block_on(stubs::kube());
        let once = || async {
            black_box(
                target
                    .create_rendered(&machine.object, &rendered)
                    .await
                    .expect("create"),
            )
        };
        rt.block_on(once());
        capi_measure(&mut || {
            rt.block_on(async {
                for _ in 0..n {
                    once().await;
                }
            })
        });
        names.push("kube-create".to_string());
    }
    if "etcd-put".starts_with(&only) {
        let target = rt.block_on(stubs::etcd());
        let once = || async {
            black_box(
                target
                    .create_rendered(&machine.object, &rendered)
                    .await
                    .expect("put"),
            )
        };
        rt.block_on(once());
        capi_measure(&mut || {
            rt.block_on(async {
                for _ in 0..n {
                    once().await;
                }
            })
        });
        names.push("etcd-put".to_string());
    }
    for name in names {
        println!("{name} {n}");
    }
}

mod stubs;
