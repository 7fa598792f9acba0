package main

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
)

// newInformer builds each informer as controller-runtime does (client-go's
// NewSharedIndexInformer), records the resync period it was given (controller-runtime has
// already drawn it, 0.9-1.1 x the sync period, once per informer) and, with
// --resync-jitter=false, uses the sync period exactly instead: the one deliberate departure,
// for comparisons whose knee would otherwise move with the draw by up to ±10%.
func newInformer(o options, m *meters) func(toolscache.ListerWatcher, runtime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer {
	return func(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
		if !o.resyncJitter && resync > 0 {
			resync = o.syncPeriod
		}
		kind := strings.ToLower(obj.GetObjectKind().GroupVersionKind().Kind)
		m.period.WithLabelValues(kind).Set(resync.Seconds())
		return toolscache.NewSharedIndexInformer(lw, obj, resync, idx)
	}
}
