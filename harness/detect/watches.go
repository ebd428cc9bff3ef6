package detect

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Watches is the one set of informers the detectors of a cell share, so each
// kind of object is listed and watched once however many detectors read it:
// pods of the platform namespace, runner pods of every namespace, nodes and
// namespaces, and AgenticSessions. There is one factory per namespace set and
// label selector. Detectors subscribe handlers in their Start; Stop ends every
// watch once the detectors are stopped.
type Watches struct {
	platformNamespace string

	platform informers.SharedInformerFactory              // pods of the platform namespace
	runners  informers.SharedInformerFactory              // runner pods (app=ambient-code-runner), every namespace
	cluster  informers.SharedInformerFactory              // nodes and namespaces
	sessions dynamicinformer.DynamicSharedInformerFactory // AgenticSessions, every namespace

	ctx    context.Context // ends the informers
	cancel context.CancelFunc
	once   sync.Once
}

// NewWatches returns the informers over client (pods, nodes, namespaces) and
// dyn (sessions); either may be nil when no detector needs it. Options used:
// WithPlatformNamespace, WithResyncPeriod.
func NewWatches(client kubernetes.Interface, dyn dynamic.Interface, opts ...Option) *Watches {
	o := buildOptions(opts)
	w := &Watches{platformNamespace: o.platformNamespace}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if client != nil {
		w.platform = informers.NewSharedInformerFactoryWithOptions(client, o.resync, informers.WithNamespace(o.platformNamespace))
		w.runners = informers.NewSharedInformerFactoryWithOptions(client, o.resync,
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = "app=" + RunnerAppLabelValue }))
		w.cluster = informers.NewSharedInformerFactoryWithOptions(client, o.resync)
	}
	if dyn != nil {
		w.sessions = dynamicinformer.NewDynamicSharedInformerFactory(dyn, o.resync)
	}
	return w
}

// PlatformNamespace is the namespace PlatformPods watches.
func (w *Watches) PlatformNamespace() string { return w.platformNamespace }

var errNoClient = errors.New("no Kubernetes client")

func (w *Watches) platformPods() (cache.SharedIndexInformer, error) {
	if w.platform == nil {
		return nil, errNoClient
	}
	return w.platform.Core().V1().Pods().Informer(), nil
}

func (w *Watches) runnerPods() (cache.SharedIndexInformer, error) {
	if w.runners == nil {
		return nil, errNoClient
	}
	return w.runners.Core().V1().Pods().Informer(), nil
}

func (w *Watches) nodes() (cache.SharedIndexInformer, error) {
	if w.cluster == nil {
		return nil, errNoClient
	}
	return w.cluster.Core().V1().Nodes().Informer(), nil
}

func (w *Watches) namespaces() (cache.SharedIndexInformer, error) {
	if w.cluster == nil {
		return nil, errNoClient
	}
	return w.cluster.Core().V1().Namespaces().Informer(), nil
}

func (w *Watches) agenticSessions() (cache.SharedIndexInformer, error) {
	if w.sessions == nil {
		return nil, errors.New("no dynamic client")
	}
	return w.sessions.ForResource(platform.AgenticSessionGVR).Informer(), nil
}

// handlerOn is one handler for the informer that get returns.
type handlerOn struct {
	what    string
	get     func() (cache.SharedIndexInformer, error)
	handler cache.ResourceEventHandler
}

// subscription is one detector's handlers on the shared informers.
type subscription struct {
	regs []registered
}

type registered struct {
	inf cache.SharedIndexInformer
	reg cache.ResourceEventHandlerRegistration
}

// subscribe adds the handlers, starts every informer not running yet, and
// returns once each handler has seen its informer's first list (a synced cache
// is not enough: a line logged right after Start must find what was listed).
func (w *Watches) subscribe(ctx context.Context, who string, hs ...handlerOn) (*subscription, error) {
	s := &subscription{}
	for _, h := range hs {
		inf, err := h.get()
		if err != nil {
			s.cancel()
			return nil, fmt.Errorf("%s: %s: %w", who, h.what, err)
		}
		reg, err := inf.AddEventHandler(h.handler)
		if err != nil {
			s.cancel()
			return nil, fmt.Errorf("%s: %s handler: %w", who, h.what, err)
		}
		s.regs = append(s.regs, registered{inf: inf, reg: reg})
	}
	if w.ctx.Err() != nil {
		s.cancel()
		return nil, fmt.Errorf("%s: the shared watches are stopped", who)
	}
	for _, f := range []interface{ Start(<-chan struct{}) }{w.platform, w.runners, w.cluster, w.sessions} {
		if f != nil { // a nil factory interface converts to a nil interface
			f.Start(w.ctx.Done())
		}
	}
	for i, r := range s.regs {
		if !cache.WaitForCacheSync(ctx.Done(), r.reg.HasSynced) {
			s.cancel()
			return nil, fmt.Errorf("%s: %s not listed: %w", who, hs[i].what, context.Cause(ctx))
		}
	}
	return s, nil
}

// cancel removes the handlers; the informers keep running for the others.
func (s *subscription) cancel() {
	if s == nil {
		return
	}
	for _, r := range s.regs {
		_ = r.inf.RemoveEventHandler(r.reg)
	}
	s.regs = nil
}

// Stop ends every watch and waits for the informers to return.
func (w *Watches) Stop() {
	w.once.Do(func() {
		w.cancel()
		if w.platform != nil {
			w.platform.Shutdown()
			w.runners.Shutdown()
			w.cluster.Shutdown()
		}
		if w.sessions != nil {
			w.sessions.Shutdown()
		}
	})
}
