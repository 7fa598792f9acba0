package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// fineBuckets are histogram bounds 5% apart from 1 ms to about 15 minutes, so a p99 read
// from the buckets is within a few percent (controller-runtime's workqueue histograms are
// a factor of 10 apart).
func fineBuckets() []float64 {
	return prometheus.ExponentialBuckets(0.001, 1.05, 281)
}

// meters are the reference controller's own series, beside controller-runtime's.
type meters struct {
	calls      *prometheus.CounterVec
	inFlight   prometheus.Gauge
	busy       *prometheus.GaugeVec
	enqueues   *prometheus.CounterVec
	missed     *prometheus.CounterVec
	reconciles *prometheus.CounterVec
	queueWait  *prometheus.HistogramVec
	lag        *prometheus.HistogramVec
	took       *prometheus.HistogramVec
	resyncAt   *prometheus.GaugeVec
	period     *prometheus.GaugeVec
}

func newMeters() *meters {
	hist := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: name, Help: help, Buckets: fineBuckets(),
		}, []string{"controller"})
	}
	m := &meters{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capi_loadgen_reference_calls_total",
			Help: "API calls reconciles made, by controller, verb (get, list, patch) and outcome.",
		}, []string{"controller", "verb", "outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "capi_loadgen_reference_calls_in_flight",
			Help: "API calls of reconciles in progress.",
		}),
		busy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capi_loadgen_reference_reconciles_in_progress",
			Help: "Reconciles making calls (or thinking) now.",
		}, []string{"controller"}),
		enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capi_loadgen_reference_enqueues_total",
			Help: "Events handed to the work queue, by reason (create: the informer's list, resync, update, delete).",
		}, []string{"controller", "reason"}),
		missed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capi_loadgen_reference_missed_periods_total",
			Help: "Resyncs that found the item still waiting from its previous enqueue.",
		}, []string{"controller"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capi_loadgen_reference_reconciles_total",
			Help: "Reconciles that made all their calls.",
		}, []string{"controller"}),
		queueWait: hist("capi_loadgen_reference_queue_wait_seconds",
			"First enqueue to reconcile start, per reconcile (fine buckets; workqueue_queue_duration_seconds is the same wait with decade buckets)."),
		lag: hist("capi_loadgen_reference_lag_seconds",
			"First enqueue to the end of a finished reconcile."),
		took: hist("capi_loadgen_reference_reconcile_seconds",
			"Duration of finished reconciles (controller_runtime_reconcile_time_seconds also counts the ones cut short when calls close)."),
		resyncAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capi_loadgen_reference_first_resync_after_seconds",
			Help: "Seconds from the informer's first event (its initial list) to its first resync event.",
		}, []string{"controller"}),
		period: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capi_loadgen_reference_resync_period_seconds",
			Help: "The resync period each informer was built with (controller-runtime draws it once per informer, 0.9-1.1 x --sync-period).",
		}, []string{"kind"}),
	}
	metrics.Registry.MustRegister(m.calls, m.inFlight, m.busy, m.enqueues, m.missed, m.reconciles, m.queueWait, m.lag, m.took, m.resyncAt, m.period)
	return m
}
