//! Unit tests of [`super`]: the webhook series read from a real v1.37 exposition.
use super::*;

const V137: &str = "# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_bucket{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"false\",type=\"validating\",le=\"0.005\"} 0
apiserver_admission_webhook_admission_duration_seconds_bucket{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"false\",type=\"validating\",le=\"0.025\"} 90
apiserver_admission_webhook_admission_duration_seconds_bucket{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"false\",type=\"validating\",le=\"+Inf\"} 90
apiserver_admission_webhook_admission_duration_seconds_sum{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"false\",type=\"validating\"} 1.8
apiserver_admission_webhook_admission_duration_seconds_count{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"false\",type=\"validating\"} 90
apiserver_admission_webhook_admission_duration_seconds_bucket{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"true\",type=\"validating\",le=\"0.005\"} 0
apiserver_admission_webhook_admission_duration_seconds_bucket{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"true\",type=\"validating\",le=\"0.025\"} 10
apiserver_admission_webhook_admission_duration_seconds_bucket{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"true\",type=\"validating\",le=\"+Inf\"} 10
apiserver_admission_webhook_admission_duration_seconds_sum{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"true\",type=\"validating\"} 0.2
apiserver_admission_webhook_admission_duration_seconds_count{name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"true\",type=\"validating\"} 10
# TYPE apiserver_admission_webhook_request_total counter
apiserver_admission_webhook_request_total{code=\"200\",name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"false\",type=\"validating\"} 90
apiserver_admission_webhook_request_total{code=\"200\",name=\"validation.machine.x.io\",operation=\"CREATE\",rejected=\"true\",type=\"validating\"} 10
# TYPE apiserver_admission_webhook_rejection_count counter
apiserver_admission_webhook_rejection_count{error_type=\"no_error\",name=\"validation.machine.x.io\",operation=\"CREATE\",rejection_code=\"403\",type=\"validating\"} 10
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
";

#[test]
fn reads_the_apiservers_webhook_series() {
    let mut s = crate::measure::metrics::Snapshot::default();
    s.add_apiserver(&crate::measure::metrics::parse(V137));
    let a = &s.admission;
    assert_eq!(a.cpu_seconds, Some(12.5));
    let w = &a.webhooks["validating/validation.machine.x.io"];
    assert_eq!(w.rejected, 10.0);
    assert!((w.duration_sum - 2.0).abs() < 1e-9, "{}", w.duration_sum);
    let obs = observed(&AdmissionSnapshot::default(), a, |n| n.ends_with(".x.io"));
    assert_eq!(obs.len(), 1);
    let o = &obs[0];
    assert_eq!(
        (o.calls, o.rejected, o.kind.as_str()),
        (100.0, 10.0, "validating")
    );
    assert_eq!(o.by_code.as_ref().unwrap()["200"], 100.0);
    assert_eq!(o.rejections["no_error"], 10.0);
    assert!((o.mean_ms.unwrap() - 20.0).abs() < 1e-9);
    let p99 = o.p99_ms.unwrap();
    assert!(p99 > 5.0 && p99 <= 25.0, "{p99}");
    assert!(observed(&AdmissionSnapshot::default(), a, |_| false).is_empty());
    // Nothing new between two equal snapshots: no row.
    assert!(observed(a, a, |_| true).is_empty());
}
