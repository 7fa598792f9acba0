// Command reference-controller is a real client-go / controller-runtime controller for the
// fleets capi-loadgen creates: a manager with a Cluster controller and, optionally, a
// Machine controller over the tool's CRDs, configured with the flags Cluster API's managers
// take (--kube-api-qps, --kube-api-burst, --cluster-concurrency, --sync-period). Each
// reconcile makes the calls capi-loadgen's controller simulation makes (GETs through a
// non-cached client, LISTs of the cluster's Machines, status PATCHes), so the simulation can
// be checked against client-go's real token bucket, workqueue, informer resyncs and
// controller-runtime's workers.
//
// It serves controller-runtime's standard metrics (workqueue_*, controller_runtime_*,
// rest_client_requests_total, rest_client_rate_limiter_duration_seconds) and a few of its
// own (capi_loadgen_reference_*) on --metrics-bind-address.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// version is printed by --version.
const version = "capi-loadgen-reference-controller v0.1.0 (controller-runtime v0.25.2, client-go v0.37.2)"

// Calls is the mix of API calls one reconcile makes.
type Calls struct {
	Get, List, PatchStatus int
}

func (c Calls) String() string { return fmt.Sprintf("%d,%d,%d", c.Get, c.List, c.PatchStatus) }

// parseCalls reads "get,list,patch_status".
func parseCalls(s string) (Calls, error) {
	var c Calls
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "%d,%d,%d", &c.Get, &c.List, &c.PatchStatus); err != nil {
		return c, fmt.Errorf("%q is not get,list,patch_status (e.g. 10,2,8)", s)
	}
	if c.Get < 0 || c.List < 0 || c.PatchStatus < 0 {
		return c, fmt.Errorf("%q has a negative count", s)
	}
	return c, nil
}

type options struct {
	kubeconfig, context, metricsAddr, group, capiVersion, selector string
	qps                                                            float64
	burst, clusterWorkers, machineWorkers                          int
	syncPeriod, think, stopCallsAfter                              time.Duration
	clusterCalls, machineCalls                                     Calls
	sharedLimiter, resyncJitter                                    bool
}

func parseFlags() options {
	var o options
	var clusterCalls, machineCalls string
	var showVersion bool
	fs := flag.NewFlagSet("reference-controller", flag.ExitOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the management cluster")
	fs.StringVar(&o.context, "context", "", "kubeconfig context (default: its current context)")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "127.0.0.1:8080", "where to serve /metrics")
	fs.Float64Var(&o.qps, "kube-api-qps", 20, "client QPS, as Cluster API's --kube-api-qps (<= 0: no client-side limit)")
	fs.IntVar(&o.burst, "kube-api-burst", 30, "client burst, as Cluster API's --kube-api-burst")
	fs.IntVar(&o.clusterWorkers, "cluster-concurrency", 10, "Cluster reconcile workers, as Cluster API's --cluster-concurrency")
	fs.IntVar(&o.machineWorkers, "machine-concurrency", 0, "Machine reconcile workers (0: no Machine controller)")
	fs.DurationVar(&o.syncPeriod, "sync-period", 10*time.Minute, "informer resync period, as Cluster API's --sync-period")
	fs.StringVar(&o.group, "api-group", "loadtest.cluster.x-k8s.io", "core group of the Cluster and Machine kinds")
	fs.StringVar(&o.capiVersion, "capi-version", "v1beta1", "version of the Cluster and Machine kinds")
	fs.StringVar(&o.selector, "label-selector", "", "only reconcile objects with these labels (e.g. capi-loadgen.io/run-id=ID)")
	fs.StringVar(&clusterCalls, "cluster-calls", "10,2,8", "calls per Cluster reconcile: get,list,patch_status")
	fs.StringVar(&machineCalls, "machine-calls", "3,0,1", "calls per Machine reconcile: get,list,patch_status")
	fs.DurationVar(&o.think, "think", 0, "time a Cluster reconcile spends off the management apiserver (held by the worker)")
	fs.DurationVar(&o.stopCallsAfter, "stop-calls-after", 0, "after this long, reconciles make no more calls (0: never), so a run's calls can be counted exactly")
	fs.BoolVar(&o.resyncJitter, "resync-jitter", true, "keep controller-runtime's per-informer draw of the resync period (0.9-1.1 x --sync-period); false: exactly --sync-period")
	fs.BoolVar(&o.sharedLimiter, "shared-rate-limiter", false, "one token bucket for every client of the manager (controller-runtime's default is one per GroupVersionKind and client)")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	_ = fs.Parse(os.Args[1:])
	if showVersion {
		fmt.Println(version)
		os.Exit(0)
	}
	var err error
	if o.clusterCalls, err = parseCalls(clusterCalls); err != nil {
		fail("--cluster-calls: %v", err)
	}
	if o.machineCalls, err = parseCalls(machineCalls); err != nil {
		fail("--machine-calls: %v", err)
	}
	if o.clusterWorkers < 1 || o.machineWorkers < 0 {
		fail("--cluster-concurrency must be >= 1 and --machine-concurrency >= 0")
	}
	if o.syncPeriod <= 0 {
		fail("--sync-period must be > 0")
	}
	return o
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "reference-controller: "+format+"\n", args...)
	os.Exit(2)
}

func restConfig(o options) *rest.Config {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: o.context}).ClientConfig()
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	// As Cluster API's managers set them (main.go: restConfig.QPS / restConfig.Burst).
	cfg.QPS = float32(o.qps)
	cfg.Burst = o.burst
	if o.qps <= 0 {
		cfg.QPS = -1
	}
	if o.sharedLimiter && o.qps > 0 {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(float32(o.qps), o.burst)
	}
	cfg.UserAgent = "capi-loadgen-reference-controller"
	return cfg
}

func main() {
	o := parseFlags()
	ctrl.SetLogger(logr.Discard())
	// The client-side throttle wait, with buckets fine enough for a p99 (5% apart).
	metrics.RegisterRESTClientMetricsWithOptions(
		metrics.RESTClientMetricsOptions{DurationBuckets: fineBuckets()},
		metrics.MetricRateLimiterLatency)
	m := newMeters()

	cfg := restConfig(o)
	cacheOpts := cache.Options{SyncPeriod: &o.syncPeriod, NewInformer: newInformer(o, m)}
	if o.selector != "" {
		sel, err := labels.Parse(o.selector)
		if err != nil {
			fail("--label-selector: %v", err)
		}
		cacheOpts.DefaultLabelSelector = sel
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		Cache:                  cacheOpts,
	})
	if err != nil {
		fail("manager: %v", err)
	}
	// GETs and LISTs read the apiserver, not the cache (Cluster API's reconcilers read
	// external objects with a non-cached client, and the simulation's calls all reach the
	// apiserver).
	reader := mgr.GetAPIReader()
	start := time.Now()
	callsOpen := func() bool {
		return o.stopCallsAfter == 0 || time.Since(start) < o.stopCallsAfter
	}
	group := o.group
	kinds := []struct {
		name    string
		gvk     schema.GroupVersionKind
		workers int
		calls   Calls
		think   time.Duration
	}{
		{"cluster", schema.GroupVersionKind{Group: group, Version: o.capiVersion, Kind: "Cluster"}, o.clusterWorkers, o.clusterCalls, o.think},
		{"machine", schema.GroupVersionKind{Group: group, Version: o.capiVersion, Kind: "Machine"}, o.machineWorkers, o.machineCalls, 0},
	}
	for _, k := range kinds {
		if k.workers == 0 {
			continue
		}
		r := &reconciler{
			name: k.name, gvk: k.gvk, calls: k.calls, think: k.think,
			machineGVK: schema.GroupVersionKind{Group: group, Version: o.capiVersion, Kind: "Machine"},
			reader:     reader, writer: mgr.GetClient(), mapper: mgr.GetRESTMapper(),
			open: callsOpen, meters: m, pending: &pendingSet{},
		}
		obj := newObject(k.gvk)
		err := ctrl.NewControllerManagedBy(mgr).
			Named(k.name).
			Watches(obj, &enqueue{controller: k.name, pending: r.pending, meters: m}).
			WithOptions(controller.Options{MaxConcurrentReconciles: k.workers}).
			Complete(r)
		if err != nil {
			fail("%s controller: %v", k.name, err)
		}
	}
	ctx := ctrl.SetupSignalHandler()
	fmt.Fprintf(os.Stderr, "reference-controller: qps %g burst %d shared-limiter %v cluster workers %d calls %s machine workers %d calls %s sync %s think %s\n",
		o.qps, o.burst, o.sharedLimiter, o.clusterWorkers, o.clusterCalls, o.machineWorkers, o.machineCalls, o.syncPeriod, o.think)
	if err := mgr.Start(ctx); err != nil {
		fail("manager stopped: %v", err)
	}
}
