package detect

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// clockSkew absorbs the difference between API server timestamps (pod
// creation) and kubelet timestamps (log lines), and second-granular creation times.
const clockSkew = 2 * time.Second

type ipHolder struct {
	ip     string
	pod    string // namespace/name
	image  string // the component container's image
	caller ledger.Caller
	from   time.Time
	to     time.Time // zero while the pod still holds the IP
	// created is the pod's creationTimestamp: its release is the one
	// deployed then (ledger.ComponentReleasedAt).
	created time.Time
}

// CallerResolver answers "who had this IP at that time": platform pods
// (operator, backend), runner pods, and node addresses (kubelet probes). IPs
// reused by a later pod are attributed by time.
type CallerResolver struct {
	watches *Watches
	opts    options

	mu        sync.RWMutex
	holders   map[string][]*ipHolder // ip -> intervals, oldest first
	open      map[string]*podIPs     // pod uid -> its open intervals
	kubeletIP map[string]string      // ip -> node name

	sub *subscription
}

type podIPs struct {
	holders []*ipHolder
}

// NewCallerResolver returns a resolver; Start feeds it from the shared pod and
// node watches (nil: tests feed it directly with ObservePod/ObservePodGone/ObserveNode).
func NewCallerResolver(w *Watches, opts ...Option) *CallerResolver {
	return &CallerResolver{
		watches:   w,
		opts:      buildOptions(opts),
		holders:   map[string][]*ipHolder{},
		open:      map[string]*podIPs{},
		kubeletIP: map[string]string{},
	}
}

// Name implements Detector.
func (r *CallerResolver) Name() string { return "caller-resolver" }

// Start watches pods of the platform namespace, runner pods in every namespace
// and nodes, and returns once its handlers have seen the first list.
func (r *CallerResolver) Start(ctx context.Context) error {
	if r.watches == nil {
		return fmt.Errorf("caller resolver: no watches to feed it")
	}
	podHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.onPod(obj) },
		UpdateFunc: func(_, obj any) { r.onPod(obj) },
		DeleteFunc: func(obj any) {
			if pod := podFrom(obj); pod != nil {
				r.ObservePodGone(pod, r.opts.clock.Now())
			}
		},
	}
	nodeHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.onNode(obj) },
		UpdateFunc: func(_, obj any) { r.onNode(obj) },
	}
	sub, err := r.watches.subscribe(ctx, "caller resolver",
		handlerOn{"platform pods", r.watches.platformPods, podHandler},
		handlerOn{"runner pods", r.watches.runnerPods, podHandler},
		handlerOn{"nodes", r.watches.nodes, nodeHandler})
	r.sub = sub
	return err
}

// Stop ends its handlers.
func (r *CallerResolver) Stop() { r.sub.cancel() }

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
		r.ObservePodGone(pod, r.opts.clock.Now())
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

// ComponentImage is the image a pod runs as its component: the runner
// container of a runner pod, the (single) container of an operator or backend
// pod; "" for anything else. Releases are told apart by it.
func ComponentImage(pod *corev1.Pod) string {
	switch CallerOfPod(pod) {
	case ledger.CallerRunner:
		for _, c := range pod.Spec.Containers {
			if c.Name == platform.RunnerContainer {
				return c.Image
			}
		}
	case ledger.CallerOperator, ledger.CallerBackend:
		if len(pod.Spec.Containers) > 0 {
			return pod.Spec.Containers[0].Image
		}
	}
	return ""
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
		h := &ipHolder{ip: ip, pod: pod.Namespace + "/" + pod.Name, image: ComponentImage(pod), caller: CallerOfPod(pod), from: from, created: from}
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

// Identity is who held an IP at some time: the component, its pod
// ("namespace/name") and the image of its component container.
type Identity struct {
	Caller ledger.Caller
	Pod    string
	Image  string
	// Created is the pod's creationTimestamp (zero for non-pods).
	Created time.Time
}

// Resolve returns the caller that held ip at t and, for pods, "namespace/name".
func (r *CallerResolver) Resolve(ip string, t time.Time) (ledger.Caller, string) {
	id := r.Identify(ip, t)
	return id.Caller, id.Pod
}

// Identify returns who held ip at t. Loopback is the harness (a port-forward,
// e.g. kubectl's, lands on the pod's loopback); a node address is the kubelet.
func (r *CallerResolver) Identify(ip string, t time.Time) Identity {
	if addr, err := netip.ParseAddr(ip); err == nil {
		if addr.IsLoopback() {
			return Identity{Caller: ledger.CallerHarness}
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
		return Identity{Caller: best.caller, Pod: best.pod, Image: best.image, Created: best.created}
	}
	if node, ok := r.kubeletIP[ip]; ok {
		return Identity{Caller: ledger.CallerKubelet, Pod: "node/" + node}
	}
	return Identity{Caller: ledger.CallerUnknown}
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
