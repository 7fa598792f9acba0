// Command creator is the client-go baseline of bench/bench.py: it creates objects
// through the dynamic client with `--workers` goroutines and no client-side rate limit
// (rest.Config QPS -1), then prints one JSON line with the achieved creates/s and its own
// user+sys CPU (getrusage), so CPU per create can be compared with capi-loadgen's.
//
// It is its own Go module (go.mod here requires the k8s.io/client-go release that matches
// the kube-apiserver the local environment runs) and is built by `scripts/setup.sh --bench`
// into ~/.cache/capi-loadgen/bench/bin/; it is not part of the Rust build.
//
// Two modes:
//
//   - --objects FILE (what bench/bench.py uses): creates exactly the objects in FILE, one
//     complete create body per line as written by `capi-loadgen run PROFILE --dry-run
//     --objects-out FILE` (the tool's own objects and payloads, in its creation order).
//     Each distinct apiVersion+kind is mapped to its resource once, before the timed window,
//     with a discovery-based RESTMapper (so the CRDs must already be installed: run
//     capi-loadgen once against the server). Inside the timed window it creates every
//     Namespace object first, one after another, then all other objects with --workers
//     goroutines pulling from a shared index. Namespace creates count in ok/creates, as the
//     tool counts its own. payload_bytes is the mean size of the lines (the create bodies).
//   - otherwise: `--total` BenchObject custom resources in one namespace (created before the
//     timed window, not counted), each carrying a `spec.payload` string of --payload-bytes
//     bytes. With --install-crd it first installs a minimal namespaced CRD (default
//     benchobjects.bench.capi-loadgen.io, schema: preserve unknown fields) and waits until it
//     is Established.
//
// CPU is the whole process's (reading and decoding FILE and discovery included), as the
// tool's figure is its whole process's. Failed creates are counted (errors), the first few
// printed to stderr; any failure makes the exit status 2.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
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
	// --objects mode only.
	ObjectsFile string         `json:"objects_file,omitempty"`
	Namespaces  int            `json:"namespaces,omitempty"`
	Kinds       map[string]int `json:"kinds,omitempty"`
	SetupS      float64        `json:"setup_s,omitempty"`
}

// maxPrintedErrors is how many failed creates are printed to stderr (all are counted).
const maxPrintedErrors = 5

func rusage() (user, sys float64, maxRSS int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime), tv(ru.Stime), ru.Maxrss
}

// clientGoVersion is the k8s.io/client-go version this binary was built with.
func clientGoVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "k8s.io/client-go" {
				return m.Version
			}
		}
	}
	return "version unknown"
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

// item is one object of the --objects file: its decoded body, where it came from and where
// it goes.
type item struct {
	obj  *unstructured.Unstructured
	line int
	res  dynamic.ResourceInterface
}

func (it *item) String() string {
	id := it.obj.GetName()
	if ns := it.obj.GetNamespace(); ns != "" {
		id = ns + "/" + id
	}
	return fmt.Sprintf("%s %s (line %d)", it.obj.GetObjectKind().GroupVersionKind().Kind, id, it.line)
}

// readObjects decodes every non-empty line of path as one object; it also returns the
// lines' total bytes.
func readObjects(path string) ([]*item, int64) {
	f, err := os.Open(path)
	if err != nil {
		die("--objects: %v", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var items []*item
	var total int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			die("--objects %s: line %d: %v", path, n, err)
		}
		if b := bytes.TrimSpace(line); len(b) > 0 {
			obj := &unstructured.Unstructured{}
			if uerr := obj.UnmarshalJSON(b); uerr != nil {
				die("--objects %s: line %d: %v", path, n, uerr)
			}
			if obj.GetName() == "" {
				die("--objects %s: line %d: %s without metadata.name", path, n, obj.GetKind())
			}
			items = append(items, &item{obj: obj, line: n})
			total += int64(len(b))
		}
		if err == io.EOF {
			return items, total
		}
	}
}

// resolve maps each distinct apiVersion+kind of items to its resource once (discovery
// RESTMapper) and gives every item its resource client.
func resolve(cfg *rest.Config, dc dynamic.Interface, items []*item) {
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		die("discovery client: %v", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	type target struct {
		gvr        schema.GroupVersionResource
		namespaced bool
	}
	targets := map[schema.GroupVersionKind]target{}
	for _, it := range items {
		gvk := it.obj.GroupVersionKind()
		t, seen := targets[gvk]
		if !seen {
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				die("no resource for %s (first at line %d): %v (are its CRDs installed? `capi-loadgen run` installs them)", gvk, it.line, err)
			}
			t = target{gvr: m.Resource, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}
			targets[gvk] = t
		}
		switch {
		case t.namespaced && it.obj.GetNamespace() == "":
			die("%s: namespaced %s without metadata.namespace", it, t.gvr.Resource)
		case t.namespaced:
			it.res = dc.Resource(t.gvr).Namespace(it.obj.GetNamespace())
		default:
			it.res = dc.Resource(t.gvr)
		}
	}
}

// runObjects is the --objects mode: resolves, then (timed) creates the Namespace objects one
// after another and the rest with `workers` goroutines.
func runObjects(ctx context.Context, cfg *rest.Config, dc dynamic.Interface, path string, workers int) result {
	t0 := time.Now()
	items, lineBytes := readObjects(path)
	if len(items) == 0 {
		die("--objects %s: no objects", path)
	}
	resolve(cfg, dc, items)
	var namespaces, others []*item
	kinds := map[string]int{}
	for _, it := range items {
		gvk := it.obj.GroupVersionKind()
		kinds[gvk.GroupKind().String()]++
		if gvk.Group == "" && gvk.Kind == "Namespace" {
			namespaces = append(namespaces, it)
		} else {
			others = append(others, it)
		}
	}
	setup := time.Since(t0).Seconds()

	var next, ok, failed int64
	var firstErr atomic.Value
	create := func(it *item) {
		if _, err := it.res.Create(ctx, it.obj, metav1.CreateOptions{}); err != nil {
			if n := atomic.AddInt64(&failed, 1); n <= maxPrintedErrors {
				fmt.Fprintf(os.Stderr, "creator: create %s: %v\n", it, err)
			}
			firstErr.CompareAndSwap(nil, it.String()+": "+err.Error())
			return
		}
		atomic.AddInt64(&ok, 1)
	}
	start := time.Now()
	for _, it := range namespaces {
		create(it)
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(len(others)) {
					return
				}
				create(others[i])
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if failed > maxPrintedErrors {
		fmt.Fprintf(os.Stderr, "creator: %d failed creates in all (first %d shown)\n", failed, maxPrintedErrors)
	}

	gks := make([]string, 0, len(kinds))
	for k := range kinds {
		gks = append(gks, k)
	}
	sort.Strings(gks)
	r := result{
		Resource: "objects of " + strings.Join(gks, ", "), Workers: workers, Total: len(items),
		OK: ok, Errors: failed, PayloadBytes: int(lineBytes / int64(len(items))),
		Seconds: secs, CreatesPerSec: float64(ok) / secs,
		ObjectsFile: path, Namespaces: len(namespaces), Kinds: kinds, SetupS: setup,
	}
	if len(namespaces) > 0 {
		r.Namespace = namespaces[0].obj.GetName()
	}
	if e, isStr := firstErr.Load().(string); isStr {
		r.FirstError = e
	}
	return r
}

// finish fills in the CPU figures, prints r as one JSON line and exits 2 on failed creates.
func finish(r result) {
	user, sys, rss := rusage()
	r.Tool = "client-go dynamic creator (k8s.io/client-go " + clientGoVersion() + ")"
	r.Go = runtime.Version()
	r.CPUUserS, r.CPUSysS, r.MaxRSSKiB = user, sys, rss
	if r.OK > 0 {
		r.CPUUsPerOK = (user + sys) * 1e6 / float64(r.OK)
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	if r.Errors > 0 {
		os.Exit(2)
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the target")
	kctx := flag.String("context", "", "context in the kubeconfig (default: current)")
	workers := flag.Int("workers", 50, "concurrent goroutines creating objects")
	objects := flag.String("objects", "", "create the objects of the JSON-lines `FILE` (one create body per line, as written by capi-loadgen run --dry-run --objects-out) instead of BenchObjects")
	total := flag.Int("total", 1000, "BenchObjects to create (0: only --install-crd); ignored with --objects")
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
	if *objects != "" {
		finish(runObjects(ctx, cfg, dc, *objects, *workers))
		return
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
					if n := atomic.AddInt64(&failed, 1); n <= maxPrintedErrors {
						fmt.Fprintf(os.Stderr, "creator: create %s: %v\n", obj.GetName(), err)
					}
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				atomic.AddInt64(&ok, 1)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	r := result{
		Resource: gvr.String(), Namespace: ns, Workers: *workers, Total: *total, OK: ok, Errors: failed,
		PayloadBytes: *payload, Seconds: secs, CreatesPerSec: float64(ok) / secs,
	}
	if e, isStr := firstErr.Load().(string); isStr {
		r.FirstError = e
	}
	finish(r)
}
