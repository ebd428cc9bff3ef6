package detect

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// RunnerLogs streams the ambient-code-runner container of every runner pod in
// every managed project namespace and records access lines (contract §2, §8.1).
type RunnerLogs struct {
	client kubernetes.Interface
	ledger *ledger.Ledger
	opts   options
	lf     *logFollower

	mu      sync.Mutex
	managed map[string]bool
	podInf  cache.SharedIndexInformer
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewRunnerLogs returns a RunnerLogs detector writing into l.
func NewRunnerLogs(client kubernetes.Interface, l *ledger.Ledger, opts ...Option) *RunnerLogs {
	o := buildOptions(opts)
	if o.opener == nil && client != nil {
		o.opener = NewClientsetLogOpener(client)
	}
	d := &RunnerLogs{client: client, ledger: l, opts: o, managed: map[string]bool{}}
	d.lf = newLogFollower("runner-log", l, o)
	d.lf.containers = func(pod *corev1.Pod) []string { return []string{RunnerContainer} }
	d.lf.session = func(pod *corev1.Pod) string { return pod.Labels[SessionLabel] }
	d.lf.onLine = d.handleLine
	return d
}

// Name implements Detector.
func (d *RunnerLogs) Name() string { return "runner-logs" }

// Start watches managed namespaces and runner pods; it returns once both
// caches are synced and streams of existing pods have been started.
func (d *RunnerLogs) Start(ctx context.Context) error {
	if d.client == nil || d.ledger == nil {
		return fmt.Errorf("runner logs: need a Kubernetes client and a ledger")
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.lf.start(ctx)
	nsFactory := informers.NewSharedInformerFactoryWithOptions(d.client, d.opts.resync,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = ManagedNamespaceLabel + "=true" }))
	podFactory := informers.NewSharedInformerFactoryWithOptions(d.client, d.opts.resync,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = "app=" + RunnerAppLabelValue }))
	d.podInf = podFactory.Core().V1().Pods().Informer()
	nsInf := nsFactory.Core().V1().Namespaces().Informer()

	if _, err := nsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.onNamespace(obj, true) },
		UpdateFunc: func(_, obj any) { d.onNamespace(obj, true) },
		DeleteFunc: func(obj any) { d.onNamespace(obj, false) },
	}); err != nil {
		return fmt.Errorf("runner logs: namespace handler: %w", err)
	}
	if _, err := d.podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.onPod(obj) },
		UpdateFunc: func(_, obj any) { d.onPod(obj) },
		DeleteFunc: func(obj any) {
			if pod := podFrom(obj); pod != nil {
				d.lf.remove(pod)
			}
		},
	}); err != nil {
		return fmt.Errorf("runner logs: pod handler: %w", err)
	}
	// Namespaces first, so existing pods are recognised as managed when listed.
	nsFactory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nsInf.HasSynced) {
		return fmt.Errorf("runner logs: namespace cache did not sync: %w", context.Cause(ctx))
	}
	podFactory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), d.podInf.HasSynced) {
		return fmt.Errorf("runner logs: pod cache did not sync: %w", context.Cause(ctx))
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		<-ctx.Done()
		nsFactory.Shutdown()
		podFactory.Shutdown()
	}()
	return nil
}

// Stop ends every stream; holes are recorded as gaps.
func (d *RunnerLogs) Stop() {
	if d.cancel != nil {
		d.cancel()
	}
	d.lf.stop()
	d.wg.Wait()
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
	inf := d.podInf
	d.mu.Unlock()
	if managed && !was && inf != nil {
		// A namespace labelled after its pods appeared: pick them up now.
		for _, obj := range inf.GetStore().List() {
			if pod := podFrom(obj); pod != nil && pod.Namespace == ns.Name {
				d.lf.upsert(pod)
			}
		}
	}
}

func (d *RunnerLogs) onPod(obj any) {
	pod := podFrom(obj)
	if pod == nil {
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
			Time: l.time, Phase: d.opts.phaseAt(l.time), Signal: ledger.SignalRunnerAuthEnabled, Source: source,
			Namespace: l.pod.Namespace, Session: session, Detail: Redact(l.text),
		})
		return
	}
	a, ok := ParseAccessLine(l.text)
	if !ok {
		return
	}
	caller, callerPod := d.resolve(a.ClientIP, l.time)
	o := ledger.Observation{
		Time:      l.time,
		Phase:     d.opts.phaseAt(l.time),
		Signal:    ledger.SignalRunnerAccess,
		Source:    source,
		Caller:    caller,
		CallerPod: callerPod,
		Method:    a.Method,
		Path:      a.Path,
		Status:    a.Status,
		Namespace: l.pod.Namespace,
		Session:   session,
		Detail:    Redact(l.text),
	}
	d.ledger.Add(o)
	if a.Status == 401 {
		o.Signal = ledger.SignalRunner401
		d.ledger.Add(o)
	}
}

// resolve attributes a caller IP, giving the pod watch a moment to catch up
// with a pod that was created just before it called.
func (d *RunnerLogs) resolve(ip string, t time.Time) (ledger.Caller, string) {
	if d.opts.resolver == nil {
		return ledger.CallerUnknown, ""
	}
	for try := 0; ; try++ {
		c, pod := d.opts.resolver.Resolve(ip, t)
		if c != ledger.CallerUnknown || try+1 >= d.opts.attributionTries {
			return c, pod
		}
		time.Sleep(d.opts.attributionDelay)
	}
}

// PlatformLogs streams every container of every operator and backend pod
// (old and new across a rollout) and records the §8 lines.
type PlatformLogs struct {
	client kubernetes.Interface
	ledger *ledger.Ledger
	opts   options
	lf     *logFollower
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewPlatformLogs returns a PlatformLogs detector writing into l.
func NewPlatformLogs(client kubernetes.Interface, l *ledger.Ledger, opts ...Option) *PlatformLogs {
	o := buildOptions(opts)
	if o.opener == nil && client != nil {
		o.opener = NewClientsetLogOpener(client)
	}
	d := &PlatformLogs{client: client, ledger: l, opts: o}
	d.lf = newLogFollower("platform-log", l, o)
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
	if d.client == nil || d.ledger == nil {
		return fmt.Errorf("platform logs: need a Kubernetes client and a ledger")
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.lf.start(ctx)
	selector := fmt.Sprintf("app in (%s,%s)", OperatorAppLabelValue, BackendAppLabelValue)
	factory := informers.NewSharedInformerFactoryWithOptions(d.client, d.opts.resync,
		informers.WithNamespace(d.opts.platformNamespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = selector }))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod := podFrom(obj); pod != nil {
				d.lf.upsert(pod)
			}
		},
		UpdateFunc: func(_, obj any) {
			if pod := podFrom(obj); pod != nil {
				d.lf.upsert(pod)
			}
		},
		DeleteFunc: func(obj any) {
			if pod := podFrom(obj); pod != nil {
				d.lf.remove(pod)
			}
		},
	}); err != nil {
		return fmt.Errorf("platform logs: pod handler: %w", err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("platform logs: pod cache of namespace %s did not sync: %w", d.opts.platformNamespace, context.Cause(ctx))
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		<-ctx.Done()
		factory.Shutdown()
	}()
	return nil
}

// Stop ends every stream; holes are recorded as gaps.
func (d *PlatformLogs) Stop() {
	if d.cancel != nil {
		d.cancel()
	}
	d.lf.stop()
	d.wg.Wait()
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
		Time:      t,
		Phase:     d.opts.phaseAt(t),
		Signal:    p.Signal(),
		Source:    "platform-log:" + l.pod.Namespace + "/" + l.pod.Name + "/" + l.container,
		Caller:    CallerOfPod(l.pod),
		CallerPod: l.pod.Namespace + "/" + l.pod.Name,
		Method:    method,
		Path:      path,
		Status:    p.Status,
		Namespace: p.Namespace,
		Session:   p.Session,
		Detail:    Redact(l.text),
	})
}
