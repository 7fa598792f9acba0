package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// clusterNameLabel is the label Cluster API puts on every object of a cluster.
const clusterNameLabel = "cluster.x-k8s.io/cluster-name"

func newObject(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// pendingSet remembers when each queued item was first enqueued (cleared when a worker takes
// it), which gives the queue wait, the reconcile lag and the missed periods per item with
// the queue's own de-duplication.
type pendingSet struct{ m sync.Map }

// reconciler makes one reconcile's calls: GETs of the object and the objects it references
// (cycling over them), LISTs of the cluster's Machines, status PATCHes of the object.
type reconciler struct {
	name            string
	gvk, machineGVK schema.GroupVersionKind
	calls           Calls
	think           time.Duration
	reader          client.Reader
	writer          client.Client
	mapper          meta.RESTMapper
	open            func() bool
	meters          *meters
	pending         *pendingSet
	refsMu          sync.Mutex
	refs            map[types.NamespacedName][]*unstructured.Unstructured
}

// Reconcile implements reconcile.Reconciler.
func (r *reconciler) Reconcile(ctx context.Context, req ctrlreconcile.Request) (ctrlreconcile.Result, error) {
	started := time.Now()
	queuedAt, queued := r.pending.m.LoadAndDelete(req.NamespacedName)
	if queued {
		r.meters.queueWait.WithLabelValues(r.name).Observe(started.Sub(queuedAt.(time.Time)).Seconds())
	}
	if !r.open() {
		return ctrlreconcile.Result{}, nil
	}
	r.meters.busy.WithLabelValues(r.name).Inc()
	defer r.meters.busy.WithLabelValues(r.name).Dec()
	if r.think > 0 {
		// Time spent off the management apiserver: it holds the worker, not the client.
		time.Sleep(r.think)
	}
	if !r.finish(ctx, req) {
		return ctrlreconcile.Result{}, nil
	}
	r.meters.reconciles.WithLabelValues(r.name).Inc()
	r.meters.took.WithLabelValues(r.name).Observe(time.Since(started).Seconds())
	if queued {
		r.meters.lag.WithLabelValues(r.name).Observe(time.Since(queuedAt.(time.Time)).Seconds())
	}
	return ctrlreconcile.Result{}, nil
}

// call counts one API call (when the calls are still open) and returns whether it ran.
func (r *reconciler) call(verb string, f func() error) bool {
	if !r.open() {
		return false
	}
	r.meters.inFlight.Inc()
	err := f()
	r.meters.inFlight.Dec()
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	r.meters.calls.WithLabelValues(r.name, verb, outcome).Inc()
	return true
}

// finish makes the reconcile's calls; false when the calls closed before it finished.
func (r *reconciler) finish(ctx context.Context, req ctrlreconcile.Request) bool {
	obj := newObject(r.gvk)
	targets := r.targets(req)
	for i := 0; i < r.calls.Get; i++ {
		t := obj
		if i > 0 && len(targets) > 0 {
			t = targets[(i-1)%len(targets)]
		}
		key := types.NamespacedName{Namespace: req.Namespace, Name: t.GetName()}
		if t == obj {
			key = req.NamespacedName
		}
		got := newObject(t.GroupVersionKind())
		if !r.call("get", func() error { return r.reader.Get(ctx, key, got) }) {
			return false
		}
		if t == obj {
			obj = got
			if obj.GetName() == "" {
				obj.SetGroupVersionKind(r.gvk)
			} else {
				targets = r.learn(req, obj)
			}
		}
	}
	clusterName := req.Name
	if r.name == "machine" {
		if n, _, _ := unstructured.NestedString(obj.Object, "spec", "clusterName"); n != "" {
			clusterName = n
		}
	}
	for i := 0; i < r.calls.List; i++ {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(r.machineGVK.GroupVersion().WithKind("MachineList"))
		if !r.call("list", func() error {
			return r.reader.List(ctx, list, client.InNamespace(req.Namespace),
				client.MatchingLabels{clusterNameLabel: clusterName})
		}) {
			return false
		}
	}
	for i := 0; i < r.calls.PatchStatus; i++ {
		target := newObject(r.gvk)
		target.SetNamespace(req.Namespace)
		target.SetName(req.Name)
		patch := client.RawPatch(types.MergePatchType, conditionPatch())
		if !r.call("patch", func() error { return r.writer.Status().Patch(ctx, target, patch) }) {
			return false
		}
	}
	return true
}

// conditionPatch is a Ready condition stamped now (with a message: the upstream v1beta1
// schemas refuse an empty one).
func conditionPatch() []byte {
	now := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	b, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []any{
		map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now, "reason": "Reconciled", "message": "reconciled"},
	}}})
	return b
}

// targets are the objects besides the reconciled one that its GETs read (learned from the
// object's references on an earlier GET).
func (r *reconciler) targets(req ctrlreconcile.Request) []*unstructured.Unstructured {
	r.refsMu.Lock()
	defer r.refsMu.Unlock()
	return r.refs[req.NamespacedName]
}

// learn records the objects `obj` references, as Cluster API's reconcilers follow them:
// a Cluster's infrastructureRef and controlPlaneRef; a Machine's bootstrap.configRef and
// infrastructureRef.
func (r *reconciler) learn(req ctrlreconcile.Request, obj *unstructured.Unstructured) []*unstructured.Unstructured {
	var paths [][]string
	if r.name == "cluster" {
		paths = [][]string{{"spec", "infrastructureRef"}, {"spec", "controlPlaneRef"}}
	} else {
		paths = [][]string{{"spec", "bootstrap", "configRef"}, {"spec", "infrastructureRef"}}
	}
	var out []*unstructured.Unstructured
	for _, p := range paths {
		ref, ok, _ := unstructured.NestedMap(obj.Object, p...)
		if !ok {
			continue
		}
		kind, _ := ref["kind"].(string)
		name, _ := ref["name"].(string)
		if kind == "" || name == "" {
			continue
		}
		var gv schema.GroupVersion
		if av, _ := ref["apiVersion"].(string); av != "" {
			gv, _ = schema.ParseGroupVersion(av)
		} else if g, _ := ref["apiGroup"].(string); g != "" {
			// A v1beta2 reference names the group only: take its preferred version.
			m, err := r.mapper.RESTMapping(schema.GroupKind{Group: g, Kind: kind})
			if err != nil {
				continue
			}
			gv = m.GroupVersionKind.GroupVersion()
		}
		if gv.Version == "" || strings.Contains(name, "/") {
			continue
		}
		t := newObject(gv.WithKind(kind))
		t.SetName(name)
		out = append(out, t)
	}
	r.refsMu.Lock()
	if r.refs == nil {
		r.refs = map[types.NamespacedName][]*unstructured.Unstructured{}
	}
	r.refs[req.NamespacedName] = out
	r.refsMu.Unlock()
	return out
}
