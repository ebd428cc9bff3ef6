package detect

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// clockSkew absorbs the difference between API server timestamps (pod
// creation) and kubelet timestamps (log lines), and second-granular creation times.
const clockSkew = 2 * time.Second

type ipHolder struct {
	ip     string
	pod    string // namespace/name
	caller ledger.Caller
	from   time.Time
	to     time.Time // zero while the pod still holds the IP
}

// CallerResolver answers "who had this IP at that time": platform pods
// (operator, backend), runner pods, and node addresses (kubelet probes). IPs
// reused by a later pod are attributed by time.
type CallerResolver struct {
	client kubernetes.Interface
	opts   options

	mu        sync.RWMutex
	holders   map[string][]*ipHolder // ip -> intervals, oldest first
	open      map[string]*podIPs     // pod uid -> its open intervals
	kubeletIP map[string]string      // ip -> node name

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type podIPs struct {
	holders []*ipHolder
}

// NewCallerResolver returns a resolver; Start feeds it from pod and node
// watches. Tests may feed it directly with ObservePod/ObservePodGone/ObserveNode.
func NewCallerResolver(client kubernetes.Interface, opts ...Option) *CallerResolver {
	return &CallerResolver{
		client:    client,
		opts:      buildOptions(opts),
		holders:   map[string][]*ipHolder{},
		open:      map[string]*podIPs{},
		kubeletIP: map[string]string{},
	}
}

// Name implements Detector.
func (r *CallerResolver) Name() string { return "caller-resolver" }

// Start watches pods of the platform namespace, runner pods in every namespace
// and nodes, and returns once the first list is in.
func (r *CallerResolver) Start(ctx context.Context) error {
	if r.client == nil {
		return fmt.Errorf("caller resolver: no Kubernetes client")
	}
	ctx, r.cancel = context.WithCancel(ctx)
	platform := informers.NewSharedInformerFactoryWithOptions(r.client, r.opts.resync, informers.WithNamespace(r.opts.platformNamespace))
	runners := informers.NewSharedInformerFactoryWithOptions(r.client, r.opts.resync,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = "app=" + RunnerAppLabelValue }))
	cluster := informers.NewSharedInformerFactoryWithOptions(r.client, r.opts.resync)

	podHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.onPod(obj) },
		UpdateFunc: func(_, obj any) { r.onPod(obj) },
		DeleteFunc: func(obj any) {
			if pod := podFrom(obj); pod != nil {
				r.ObservePodGone(pod, r.opts.now())
			}
		},
	}
	// A synced cache is not enough: the handlers must have seen the first list,
	// or a line logged right after Start could not be attributed.
	var regs []cache.ResourceEventHandlerRegistration
	reg, err := platform.Core().V1().Pods().Informer().AddEventHandler(podHandler)
	if err != nil {
		return fmt.Errorf("caller resolver: platform pod handler: %w", err)
	}
	regs = append(regs, reg)
	if reg, err = runners.Core().V1().Pods().Informer().AddEventHandler(podHandler); err != nil {
		return fmt.Errorf("caller resolver: runner pod handler: %w", err)
	}
	regs = append(regs, reg)
	if reg, err = cluster.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.onNode(obj) },
		UpdateFunc: func(_, obj any) { r.onNode(obj) },
	}); err != nil {
		return fmt.Errorf("caller resolver: node handler: %w", err)
	}
	regs = append(regs, reg)
	for _, f := range []informers.SharedInformerFactory{platform, runners, cluster} {
		f.Start(ctx.Done())
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("caller resolver: cache of %v did not sync: %w", typ, context.Cause(ctx))
			}
		}
	}
	for _, reg := range regs {
		if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			return fmt.Errorf("caller resolver: handlers did not see the first list: %w", context.Cause(ctx))
		}
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		<-ctx.Done()
		platform.Shutdown()
		runners.Shutdown()
		cluster.Shutdown()
	}()
	return nil
}

// Stop ends the watches.
func (r *CallerResolver) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

func podFrom(obj any) *corev1.Pod {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

func (r *CallerResolver) onPod(obj any) {
	pod := podFrom(obj)
	if pod == nil {
		return
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// A finished pod's sandbox is gone and its IP may be handed out again.
		r.ObservePodGone(pod, r.opts.now())
		return
	}
	r.ObservePod(pod)
}

func (r *CallerResolver) onNode(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		r.ObserveNode(n)
	}
}

// CallerOfPod maps a pod to the component it is, by the labels of the
// conventions: operator, backend, runner, otherwise unknown.
func CallerOfPod(pod *corev1.Pod) ledger.Caller {
	switch pod.Labels["app"] {
	case OperatorAppLabelValue:
		return ledger.CallerOperator
	case BackendAppLabelValue:
		return ledger.CallerBackend
	case RunnerAppLabelValue:
		return ledger.CallerRunner
	}
	return ledger.CallerUnknown
}

func podIPStrings(pod *corev1.Pod) []string {
	seen := map[string]bool{}
	var ips []string
	add := func(ip string) {
		if ip != "" && !seen[ip] {
			seen[ip] = true
			ips = append(ips, ip)
		}
	}
	add(pod.Status.PodIP)
	for _, p := range pod.Status.PodIPs {
		add(p.IP)
	}
	return ips
}

// ObservePod records that pod holds its IPs from its creation on. Host-network
// pods are skipped: their IP is the node's.
func (r *CallerResolver) ObservePod(pod *corev1.Pod) {
	if pod.Spec.HostNetwork {
		return
	}
	ips := podIPStrings(pod)
	if len(ips) == 0 {
		return
	}
	key := string(pod.UID)
	if key == "" {
		key = pod.Namespace + "/" + pod.Name
	}
	from := pod.CreationTimestamp.Time
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.open[key]
	if p == nil {
		p = &podIPs{}
		r.open[key] = p
	}
	for _, ip := range ips {
		known := false
		for _, h := range p.holders {
			known = known || h.ip == ip
		}
		if known {
			continue
		}
		h := &ipHolder{ip: ip, pod: pod.Namespace + "/" + pod.Name, caller: CallerOfPod(pod), from: from}
		p.holders = append(p.holders, h)
		list := append(r.holders[ip], h)
		sort.SliceStable(list, func(i, j int) bool { return list[i].from.Before(list[j].from) })
		r.holders[ip] = list
	}
}

// ObservePodGone closes the pod's intervals at t (deletion or termination).
func (r *CallerResolver) ObservePodGone(pod *corev1.Pod, t time.Time) {
	key := string(pod.UID)
	if key == "" {
		key = pod.Namespace + "/" + pod.Name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.open[key]
	if p == nil {
		return
	}
	for _, h := range p.holders {
		if h.to.IsZero() {
			h.to = t
		}
	}
	delete(r.open, key)
}

// ObserveNode records the node's addresses and the first address of each pod
// CIDR (the bridge gateway) as kubelet sources: probes arrive from there.
func (r *CallerResolver) ObserveNode(n *corev1.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			r.kubeletIP[a.Address] = n.Name
		}
	}
	cidrs := append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...)
	for _, c := range cidrs {
		if gw, ok := gatewayOf(c); ok {
			r.kubeletIP[gw] = n.Name
		}
	}
}

// AddKubeletIP marks ip as a kubelet/node source (e.g. a CNI gateway the node
// object does not show).
func (r *CallerResolver) AddKubeletIP(ip, node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kubeletIP[ip] = node
}

func gatewayOf(cidr string) (string, bool) {
	if cidr == "" {
		return "", false
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", false
	}
	return p.Masked().Addr().Next().String(), true
}

// Resolve returns the caller that held ip at t and, for pods, "namespace/name".
// Loopback is the harness (kubectl port-forward lands on the pod's loopback).
func (r *CallerResolver) Resolve(ip string, t time.Time) (ledger.Caller, string) {
	if addr, err := netip.ParseAddr(ip); err == nil {
		if addr.IsLoopback() {
			return ledger.CallerHarness, ""
		}
		ip = addr.Unmap().String()
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *ipHolder
	bestDist := clockSkew + 1
	for _, h := range r.holders[ip] {
		dist := distanceOutside(h, t)
		// Exact containment beats the skew margin; among equals the newer holder wins.
		if dist < bestDist || (dist == bestDist && best != nil && h.from.After(best.from)) {
			best, bestDist = h, dist
		}
	}
	if best != nil {
		return best.caller, best.pod
	}
	if node, ok := r.kubeletIP[ip]; ok {
		return ledger.CallerKubelet, "node/" + node
	}
	return ledger.CallerUnknown, ""
}

// distanceOutside is how far t lies outside h's interval (0 inside).
func distanceOutside(h *ipHolder, t time.Time) time.Duration {
	switch {
	case t.Before(h.from):
		return h.from.Sub(t)
	case !h.to.IsZero() && t.After(h.to):
		return t.Sub(h.to)
	}
	return 0
}
