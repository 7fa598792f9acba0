// Command creator is the client-go baseline of scripts/bench.sh (issue #9): it creates
// `--total` custom resources through the dynamic client with `--workers` goroutines and no
// client-side rate limit (rest.Config QPS -1), then prints one JSON line with the achieved
// creates/s and its own user+sys CPU (getrusage), so CPU per create can be compared with
// capi-loadgen's.
//
// It is built GOPATH-style inside Debian's kubernetes 1.20.2 source tree (vendored
// client-go) by scripts/bench-baselines.sh; it is not part of the Rust build.
//
// With --install-crd it first installs a minimal namespaced CRD (default
// benchobjects.bench.capi-loadgen.io, schema: preserve unknown fields) and waits until it is
// Established. Objects carry a `spec.payload` string of --payload-bytes bytes.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

type result struct {
	Tool          string  `json:"tool"`
	Go            string  `json:"go"`
	Resource      string  `json:"resource"`
	Namespace     string  `json:"namespace"`
	Workers       int     `json:"workers"`
	Total         int     `json:"total"`
	OK            int64   `json:"ok"`
	Errors        int64   `json:"errors"`
	PayloadBytes  int     `json:"payload_bytes"`
	Seconds       float64 `json:"seconds"`
	CreatesPerSec float64 `json:"creates_per_s"`
	CPUUserS      float64 `json:"cpu_user_s"`
	CPUSysS       float64 `json:"cpu_sys_s"`
	CPUUsPerOK    float64 `json:"cpu_us_per_create"`
	MaxRSSKiB     int64   `json:"max_rss_kib"`
	FirstError    string  `json:"first_error,omitempty"`
}

func rusage() (user, sys float64, maxRSS int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime), tv(ru.Stime), ru.Maxrss
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "creator: "+format+"\n", args...)
	os.Exit(1)
}

func installCRD(ctx context.Context, dc dynamic.Interface, group, version, resource, kind string) {
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	name := resource + "." + group
	crd := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]interface{}{"name": name},
		"spec": map[string]interface{}{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]interface{}{
				"plural":   resource,
				"singular": strings.ToLower(kind),
				"kind":     kind,
				"listKind": kind + "List",
			},
			"versions": []interface{}{map[string]interface{}{
				"name":    version,
				"served":  true,
				"storage": true,
				"schema": map[string]interface{}{"openAPIV3Schema": map[string]interface{}{
					"type":                                 "object",
					"x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	if _, err := dc.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		die("installing CRD %s: %v", name, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		got, err := dc.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m, ok := c.(map[string]interface{})
				if ok && m["type"] == "Established" && m["status"] == "True" {
					return
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	die("CRD %s not Established after 60 s", name)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the target")
	kctx := flag.String("context", "", "context in the kubeconfig (default: current)")
	workers := flag.Int("workers", 50, "concurrent goroutines creating objects")
	total := flag.Int("total", 1000, "objects to create (0: only --install-crd)")
	payload := flag.Int("payload-bytes", 1024, "bytes of spec.payload per object")
	group := flag.String("group", "bench.capi-loadgen.io", "API group of the custom resource")
	version := flag.String("version", "v1", "API version")
	resource := flag.String("resource", "benchobjects", "plural resource name")
	kind := flag.String("kind", "BenchObject", "kind (for --install-crd and the objects)")
	namespace := flag.String("namespace", "", "namespace to create (default capi-loadgen-bench-<run-id>)")
	runID := flag.String("run-id", fmt.Sprintf("%d", time.Now().UnixNano()), "suffix making names unique per run")
	install := flag.Bool("install-crd", false, "install the CRD first and wait until it is Established")
	flag.Parse()
	if *workers < 1 || *total < 0 || *payload < 0 {
		die("--workers must be > 0, --total and --payload-bytes >= 0")
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: *kctx}).ClientConfig()
	if err != nil {
		die("loading kubeconfig: %v", err)
	}
	cfg.QPS = -1 // no client-side rate limiter (client-go: QPS < 0 disables it)
	cfg.Burst = 0
	cfg.UserAgent = "capi-loadgen-bench-creator"
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		die("dynamic client: %v", err)
	}
	ctx := context.Background()
	if *install {
		installCRD(ctx, dc, *group, *version, *resource, *kind)
	}
	if *total == 0 {
		return
	}

	ns := *namespace
	if ns == "" {
		ns = "capi-loadgen-bench-" + *runID
	}
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	nsObj := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]interface{}{"name": ns, "labels": map[string]interface{}{"app.kubernetes.io/managed-by": "capi-loadgen-bench"}},
	}}
	if _, err := dc.Resource(nsGVR).Create(ctx, nsObj, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		die("creating namespace %s: %v", ns, err)
	}

	gvr := schema.GroupVersionResource{Group: *group, Version: *version, Resource: *resource}
	client := dc.Resource(gvr).Namespace(ns)
	body := strings.Repeat("x", *payload)
	var next, ok, failed int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(*total) {
					return
				}
				obj := &unstructured.Unstructured{Object: map[string]interface{}{
					"apiVersion": *group + "/" + *version,
					"kind":       *kind,
					"metadata": map[string]interface{}{
						"name":   fmt.Sprintf("obj-%s-%d", *runID, i),
						"labels": map[string]interface{}{"app.kubernetes.io/managed-by": "capi-loadgen-bench", "capi-loadgen.io/run-id": *runID},
					},
					"spec": map[string]interface{}{"index": i, "payload": body},
				}}
				if _, err := client.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
					atomic.AddInt64(&failed, 1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				atomic.AddInt64(&ok, 1)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	user, sys, rss := rusage()
	r := result{
		Tool: "client-go dynamic creator (k8s.io/client-go vendored in kubernetes 1.20.2)", Go: runtime.Version(),
		Resource: gvr.String(), Namespace: ns, Workers: *workers, Total: *total, OK: ok, Errors: failed,
		PayloadBytes: *payload, Seconds: secs, CreatesPerSec: float64(ok) / secs,
		CPUUserS: user, CPUSysS: sys, MaxRSSKiB: rss,
	}
	if ok > 0 {
		r.CPUUsPerOK = (user + sys) * 1e6 / float64(ok)
	}
	if e, isStr := firstErr.Load().(string); isStr {
		r.FirstError = e
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	if failed > 0 {
		os.Exit(2)
	}
}
