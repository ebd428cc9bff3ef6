package detect

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// RunnerLogs streams the ambient-code-runner container of every runner pod in
// every managed project namespace and records access lines (docs/platform.md §2, §8.1).
type RunnerLogs struct {
	watches *Watches
	ledger  *ledger.Ledger
	opts    options
	lf      *logFollower

	mu      sync.Mutex
	managed map[string]bool
	cancel  context.CancelFunc
	sub     *subscription
}

// NewRunnerLogs returns a RunnerLogs detector fed by w, writing into l. Logs
// are opened with WithLogOpener (e.g. NewClientsetLogOpener).
func NewRunnerLogs(w *Watches, l *ledger.Ledger, opts ...Option) *RunnerLogs {
	d := &RunnerLogs{watches: w, ledger: l, opts: buildOptions(opts), managed: map[string]bool{}}
	d.lf = newLogFollower("runner-log", l, d.opts)
	d.lf.containers = func(pod *corev1.Pod) []string { return []string{RunnerContainer} }
	d.lf.session = func(pod *corev1.Pod) string { return pod.Labels[SessionLabel] }
	d.lf.onLine = d.handleLine
	return d
}

// Name implements Detector.
func (d *RunnerLogs) Name() string { return "runner-logs" }

// Start watches managed namespaces and runner pods; it returns once both
// were listed and streams of existing pods have been started.
func (d *RunnerLogs) Start(ctx context.Context) error {
	if d.watches == nil || d.ledger == nil || d.opts.opener == nil {
		return fmt.Errorf("runner logs: need watches, a ledger and a log opener")
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.lf.start(ctx)
	sub, err := d.watches.subscribe(ctx, "runner logs",
		handlerOn{"namespaces", d.watches.namespaces, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { d.onNamespace(obj, true) },
			UpdateFunc: func(_, obj any) { d.onNamespace(obj, true) },
			DeleteFunc: func(obj any) { d.onNamespace(obj, false) },
		}},
		handlerOn{"runner pods", d.watches.runnerPods, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { d.onPod(obj) },
			UpdateFunc: func(_, obj any) { d.onPod(obj) },
			DeleteFunc: func(obj any) {
				if pod := podFrom(obj); pod != nil {
					d.lf.remove(pod)
				}
			},
		}})
	d.sub = sub
	return err
}

// Stop ends every stream; holes are recorded as gaps.
func (d *RunnerLogs) Stop() {
	d.sub.cancel()
	if d.cancel != nil {
		d.cancel()
	}
	d.lf.stop()
}

func (d *RunnerLogs) onNamespace(obj any, present bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	managed := present && ns.Labels[ManagedNamespaceLabel] == "true"
	d.mu.Lock()
	was := d.managed[ns.Name]
	d.managed[ns.Name] = managed
	d.mu.Unlock()
	if inf, err := d.watches.runnerPods(); err == nil && managed && !was {
		// A namespace labelled after its pods appeared (or listed after them): pick them up now.
		for _, obj := range inf.GetStore().List() {
			if pod := podFrom(obj); pod != nil && pod.Namespace == ns.Name && CallerOfPod(pod) == ledger.CallerRunner {
				d.lf.upsert(pod)
			}
		}
	}
}

func (d *RunnerLogs) onPod(obj any) {
	pod := podFrom(obj)
	if pod == nil || CallerOfPod(pod) != ledger.CallerRunner {
		return
	}
	d.mu.Lock()
	managed := d.managed[pod.Namespace]
	d.mu.Unlock()
	if managed {
		d.lf.upsert(pod)
	}
}

func (d *RunnerLogs) handleLine(l logLine) {
	session := l.pod.Labels[SessionLabel]
	source := "runner-log:" + l.pod.Namespace + "/" + l.pod.Name
	if IsAuthEnabledLine(l.text) {
		d.ledger.Add(ledger.Observation{
			Time: l.time, Signal: ledger.SignalRunnerAuthEnabled, Source: source,
			Namespace: l.pod.Namespace, Session: session, Detail: Redact(l.text),
		})
		return
	}
	a, ok := ParseAccessLine(l.text)
	if !ok {
		return
	}
	id := d.resolve(a.ClientIP, l.time)
	o := ledger.Observation{
		Time:          l.time,
		Signal:        ledger.SignalRunnerAccess,
		Source:        source,
		Caller:        id.Caller,
		CallerPod:     id.Pod,
		CallerImage:   id.Image,
		CallerCreated: id.Created,
		RunnerPod:     l.pod.Namespace + "/" + l.pod.Name,
		RunnerImage:   ComponentImage(l.pod),
		RunnerCreated: l.pod.CreationTimestamp.Time,
		Method:        a.Method,
		Path:          a.Path,
		Status:        a.Status,
		Namespace:     l.pod.Namespace,
		Session:       session,
		Detail:        Redact(l.text),
	}
	d.ledger.Add(o)
	if a.Status == 401 {
		o.Signal = ledger.SignalRunner401
		d.ledger.Add(o)
	}
}

// resolve attributes a caller IP, giving the pod watch a moment to catch up
// with a pod that was created just before it called.
func (d *RunnerLogs) resolve(ip string, t time.Time) Identity {
	if d.opts.resolver == nil {
		return Identity{Caller: ledger.CallerUnknown}
	}
	var id Identity
	// The watch may not have delivered a pod that called the moment it got its
	// IP (a new operator pod during a rollout): wait for it, doubling the
	// delay. An IP some pod is known to hold is answered at once.
	_ = wait.ExponentialBackoff(wait.Backoff{Duration: d.opts.attributionDelay, Factor: 2, Steps: max(d.opts.attributionTries, 1)}, func() (bool, error) {
		id = d.opts.resolver.Identify(ip, t)
		return id.Caller != ledger.CallerUnknown || id.Pod != "", nil
	})
	return id
}

// PlatformLogs streams every container of every operator and backend pod
// (old and new across a rollout) and records the §8 lines.
type PlatformLogs struct {
	watches *Watches
	ledger  *ledger.Ledger
	opts    options
	lf      *logFollower
	cancel  context.CancelFunc
	sub     *subscription
}

// NewPlatformLogs returns a PlatformLogs detector fed by w, writing into l.
// Logs are opened with WithLogOpener (e.g. NewClientsetLogOpener).
func NewPlatformLogs(w *Watches, l *ledger.Ledger, opts ...Option) *PlatformLogs {
	d := &PlatformLogs{watches: w, ledger: l, opts: buildOptions(opts)}
	d.lf = newLogFollower("platform-log", l, d.opts)
	d.lf.containers = func(pod *corev1.Pod) []string {
		var names []string
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		return names
	}
	d.lf.onLine = d.handleLine
	return d
}

// Name implements Detector.
func (d *PlatformLogs) Name() string { return "platform-logs" }

// Start watches operator and backend pods in the platform namespace.
func (d *PlatformLogs) Start(ctx context.Context) error {
	if d.watches == nil || d.ledger == nil || d.opts.opener == nil {
		return fmt.Errorf("platform logs: need watches, a ledger and a log opener")
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.lf.start(ctx)
	upsert := func(obj any) {
		if pod := podFrom(obj); pod != nil && isPlatformComponent(pod) {
			d.lf.upsert(pod)
		}
	}
	sub, err := d.watches.subscribe(ctx, "platform logs",
		handlerOn{"pods of namespace " + d.watches.PlatformNamespace(), d.watches.platformPods, cache.ResourceEventHandlerFuncs{
			AddFunc:    upsert,
			UpdateFunc: func(_, obj any) { upsert(obj) },
			DeleteFunc: func(obj any) {
				if pod := podFrom(obj); pod != nil {
					d.lf.remove(pod)
				}
			},
		}})
	d.sub = sub
	return err
}

// isPlatformComponent: the operator's and the backend's pods, whose logs carry the §8 lines.
func isPlatformComponent(pod *corev1.Pod) bool {
	c := CallerOfPod(pod)
	return c == ledger.CallerOperator || c == ledger.CallerBackend
}

// Stop ends every stream; holes are recorded as gaps.
func (d *PlatformLogs) Stop() {
	d.sub.cancel()
	if d.cancel != nil {
		d.cancel()
	}
	d.lf.stop()
}

func (d *PlatformLogs) handleLine(l logLine) {
	p, ok := ParsePlatformLine(l.text)
	if !ok {
		return
	}
	t := l.time
	if t.IsZero() {
		t = p.Time
	}
	method, path := p.RunnerCall()
	d.ledger.Add(ledger.Observation{
		Time:          t,
		Signal:        p.Signal(),
		Source:        "platform-log:" + l.pod.Namespace + "/" + l.pod.Name + "/" + l.container,
		Caller:        CallerOfPod(l.pod),
		CallerPod:     l.pod.Namespace + "/" + l.pod.Name,
		CallerImage:   ComponentImage(l.pod),
		CallerCreated: l.pod.CreationTimestamp.Time,
		Method:        method,
		Path:          path,
		Status:        p.Status,
		Namespace:     p.Namespace,
		Session:       p.Session,
		Detail:        Redact(l.text),
	})
}
