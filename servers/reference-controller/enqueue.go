package main

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// enqueue is controller-runtime's default handler for a For() object
// (WithLowPriorityWhenUnchanged(EnqueueRequestForObject)) with two additions: it does not
// enqueue an object for its own status writes (an update that changes neither the
// generation nor comes from a resync), as the simulation's controller does not, and it
// records when each item was enqueued and which enqueues found the item still waiting.
type enqueue struct {
	controller string
	pending    *pendingSet
	meters     *meters
	inner      handler.EventHandler
	firstEvent sync.Once
	firstAt    time.Time
	resynced   sync.Once
}

func (e *enqueue) handler() handler.EventHandler {
	if e.inner == nil {
		e.inner = handler.WithLowPriorityWhenUnchanged(&handler.EnqueueRequestForObject{})
	}
	return e.inner
}

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

func (e *enqueue) note(key types.NamespacedName, reason string) {
	e.meters.enqueues.WithLabelValues(e.controller, reason).Inc()
	if _, loaded := e.pending.m.LoadOrStore(key, time.Now()); loaded && reason == "resync" {
		// A periodic enqueue that found the item still waiting from the previous one.
		e.meters.missed.WithLabelValues(e.controller).Inc()
	}
	e.firstEvent.Do(func() { e.firstAt = time.Now() })
	if reason == "resync" {
		e.resynced.Do(func() {
			e.meters.resyncAt.WithLabelValues(e.controller).Set(time.Since(e.firstAt).Seconds())
		})
	}
}

// Create implements handler.EventHandler (the informer's initial list delivers creates).
func (e *enqueue) Create(ctx context.Context, evt event.CreateEvent, q queue) {
	e.note(types.NamespacedName{Namespace: evt.Object.GetNamespace(), Name: evt.Object.GetName()}, "create")
	e.handler().Create(ctx, evt, q)
}

// Update implements handler.EventHandler: resyncs (same resourceVersion) and spec changes.
func (e *enqueue) Update(ctx context.Context, evt event.UpdateEvent, q queue) {
	reason := "update"
	switch {
	case evt.ObjectOld.GetResourceVersion() == evt.ObjectNew.GetResourceVersion():
		reason = "resync"
	case evt.ObjectOld.GetGeneration() == evt.ObjectNew.GetGeneration():
		// Status (or metadata) only: the reconciler's own PATCH.
		return
	}
	e.note(types.NamespacedName{Namespace: evt.ObjectNew.GetNamespace(), Name: evt.ObjectNew.GetName()}, reason)
	e.handler().Update(ctx, evt, q)
}

// Delete implements handler.EventHandler.
func (e *enqueue) Delete(ctx context.Context, evt event.DeleteEvent, q queue) {
	e.note(types.NamespacedName{Namespace: evt.Object.GetNamespace(), Name: evt.Object.GetName()}, "delete")
	e.handler().Delete(ctx, evt, q)
}

// Generic implements handler.EventHandler.
func (e *enqueue) Generic(ctx context.Context, evt event.GenericEvent, q queue) {
	e.note(types.NamespacedName{Namespace: evt.Object.GetNamespace(), Name: evt.Object.GetName()}, "generic")
	e.handler().Generic(ctx, evt, q)
}
