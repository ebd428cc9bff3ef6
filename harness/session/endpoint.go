package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Backend deployment facts (contract §6).
const (
	BackendPodSelector = "app=backend-api"
	BackendPort        = 8080
)

// ErrBackendUnavailable is returned (wrapped) by dials through a BackendEndpoint
// while no ready backend pod is forwarded, e.g. during the Recreate rollout of
// an upgrade. Callers retry.
var ErrBackendUnavailable = errors.New("no ready backend pod is reachable")

// Option configures a BackendEndpoint.
type Option func(*endpointConfig)

type endpointConfig struct {
	baseURL     string
	namespace   string
	selector    string
	port        int
	logf        func(format string, args ...any)
	resync      time.Duration
	readyWithin time.Duration
}

// WithBaseURL uses a directly reachable backend (e.g. http://127.0.0.1:8080 or
// an httptest server) instead of port-forwarding; the rest.Config may be nil.
func WithBaseURL(baseURL string) Option { return func(c *endpointConfig) { c.baseURL = baseURL } }

// WithNamespace overrides the platform namespace (default ambient-code).
func WithNamespace(ns string) Option { return func(c *endpointConfig) { c.namespace = ns } }

// WithPodSelector overrides the backend pod label selector (default app=backend-api).
func WithPodSelector(sel string) Option { return func(c *endpointConfig) { c.selector = sel } }

// WithTargetPort overrides the backend container port (default 8080).
func WithTargetPort(port int) Option { return func(c *endpointConfig) { c.port = port } }

// WithLogf receives the endpoint's diagnostics (pod switches, refused connections).
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *endpointConfig) { c.logf = logf }
}

// BackendEndpoint is a stable local URL for the backend API. In port-forward
// mode it follows the current ready backend pod across restarts and upgrades.
type BackendEndpoint struct {
	cfg endpointConfig
	url string

	restConfig *rest.Config
	clientset  kubernetes.Interface
	listener   net.Listener
	transport  *http.Transport

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	refresh chan struct{}

	mu          sync.Mutex
	current     *podForwarder
	unavailable string // why current is nil
	closeOnce   sync.Once
}

// podForwarder is one client-go port-forward to one backend pod.
type podForwarder struct {
	pod       string
	uid       types.UID
	localAddr string
	cancel    context.CancelFunc
	done      chan struct{}
	err       error // set before done is closed

	connMu   sync.Mutex
	conns    map[net.Conn]struct{}
	shutDown bool
}

// track remembers a connection made through f so that dropping f also cuts
// kept-alive connections that would otherwise still reach the old pod.
func (f *podForwarder) track(c net.Conn) (net.Conn, bool) {
	f.connMu.Lock()
	defer f.connMu.Unlock()
	if f.shutDown {
		return nil, false
	}
	if f.conns == nil {
		f.conns = map[net.Conn]struct{}{}
	}
	tc := &trackedConn{Conn: c, owner: f}
	f.conns[tc] = struct{}{}
	return tc, true
}

// shutdown stops the forwarder and closes every connection made through it.
func (f *podForwarder) shutdown() {
	f.cancel()
	f.connMu.Lock()
	f.shutDown = true
	conns := f.conns
	f.conns = nil
	f.connMu.Unlock()
	for c := range conns {
		_ = c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	owner *podForwarder
}

func (c *trackedConn) Close() error {
	c.owner.connMu.Lock()
	delete(c.owner.conns, c)
	c.owner.connMu.Unlock()
	return c.Conn.Close()
}

func (f *podForwarder) dead() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// NewBackendEndpoint starts a 127.0.0.1 listener whose connections reach port
// 8080 of the current ready backend-api pod in ambient-code. It returns at once;
// use Ready to wait for the first pod.
func NewBackendEndpoint(cfg *rest.Config, opts ...Option) (*BackendEndpoint, error) {
	c := endpointConfig{
		namespace: PlatformNamespace, selector: BackendPodSelector, port: BackendPort,
		logf: func(string, ...any) {}, resync: 5 * time.Second, readyWithin: 20 * time.Second,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.baseURL != "" {
		u, err := url.Parse(c.baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("WithBaseURL(%q): want an absolute http(s) URL such as http://127.0.0.1:8080", c.baseURL)
		}
		return &BackendEndpoint{cfg: c, url: strings.TrimRight(c.baseURL, "/")}, nil
	}
	if cfg == nil {
		return nil, errors.New("NewBackendEndpoint: rest.Config is nil; pass the cluster's config, or WithBaseURL for a directly reachable backend")
	}
	if c.port <= 0 || c.port > 65535 {
		return nil, fmt.Errorf("WithTargetPort(%d): want a port in 1..65535", c.port)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("NewBackendEndpoint: clientset from rest.Config (host %q): %w", cfg.Host, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("NewBackendEndpoint: listen on 127.0.0.1: %w", err)
	}
	e := &BackendEndpoint{
		cfg: c, url: "http://" + ln.Addr().String(),
		restConfig: cfg, clientset: cs, listener: ln,
		refresh:     make(chan struct{}, 1),
		unavailable: "no backend pod selected yet",
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.transport = &http.Transport{
		DialContext:         e.dialContext,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}
	e.wg.Add(3)
	go e.manage()
	go e.watchPods()
	go e.acceptLoop()
	return e, nil
}

// URL is the base URL of the backend API (no trailing slash).
func (e *BackendEndpoint) URL() string { return e.url }

// Transport dials the current forwarder directly, so a request during an outage
// fails at once with ErrBackendUnavailable instead of a reset connection. It is
// nil (use http.DefaultTransport) for WithBaseURL endpoints.
func (e *BackendEndpoint) Transport() http.RoundTripper {
	if e.transport == nil {
		return nil
	}
	return e.transport
}

// CurrentPod names the backend pod connections go to now, or "".
func (e *BackendEndpoint) CurrentPod() string {
	if f, _ := e.target(); f != nil {
		return f.pod
	}
	return ""
}

// Ready waits until a backend pod is forwarded (immediately true for WithBaseURL).
func (e *BackendEndpoint) Ready(ctx context.Context) error {
	if e.listener == nil {
		return nil
	}
	for {
		f, why := e.target()
		if f != nil {
			return nil
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("backend endpoint (pods %q in %s): %w: %s", e.cfg.selector, e.cfg.namespace, ErrBackendUnavailable, why)
		}
	}
}

// Close stops the listener and every forwarder. It is safe to call twice.
func (e *BackendEndpoint) Close() {
	if e.listener == nil {
		return
	}
	e.closeOnce.Do(func() {
		e.cancel()
		_ = e.listener.Close()
		e.wg.Wait()
		e.switchTo(nil, "endpoint closed")
		e.transport.CloseIdleConnections()
	})
}

func (e *BackendEndpoint) target() (*podForwarder, string) {
	e.mu.Lock()
	cur := e.current
	if cur == nil {
		defer e.mu.Unlock()
		return nil, e.unavailable
	}
	if !cur.dead() {
		e.mu.Unlock()
		return cur, ""
	}
	e.current = nil
	e.unavailable = fmt.Sprintf("port-forward to pod %s ended (%v)", cur.pod, cur.err)
	why := e.unavailable
	e.mu.Unlock()
	e.dropped(cur)
	return nil, why
}

// forwarderEnded retires f at once (not at the next dial), so kept-alive
// connections to its pod are cut and the next request fails fast or goes to
// the next pod.
func (e *BackendEndpoint) forwarderEnded(f *podForwarder) {
	e.mu.Lock()
	if e.current == f {
		e.current = nil
		e.unavailable = fmt.Sprintf("port-forward to pod %s ended (%v)", f.pod, f.err)
	}
	e.mu.Unlock()
	e.dropped(f)
}

// dropped cuts everything still tied to a forwarder that is no longer current.
func (e *BackendEndpoint) dropped(f *podForwarder) {
	f.shutdown()
	if e.transport != nil {
		e.transport.CloseIdleConnections()
	}
	e.triggerRefresh()
}

func (e *BackendEndpoint) triggerRefresh() {
	select {
	case e.refresh <- struct{}{}:
	default:
	}
}

// switchTo replaces the current forwarder (stopping the old one first, so a
// dead pod is never handed out).
func (e *BackendEndpoint) switchTo(f *podForwarder, whyNone string) {
	e.mu.Lock()
	old := e.current
	e.current = f
	if f == nil {
		e.unavailable = whyNone
	}
	e.mu.Unlock()
	if old != nil && old != f {
		old.shutdown()
		if e.transport != nil {
			e.transport.CloseIdleConnections()
		}
	}
}

func (e *BackendEndpoint) manage() {
	defer e.wg.Done()
	resync := time.NewTicker(e.cfg.resync)
	defer resync.Stop()
	for {
		e.sync()
		select {
		case <-e.ctx.Done():
			e.switchTo(nil, "endpoint closed")
			return
		case <-e.refresh:
		case <-resync.C:
		}
	}
}

func (e *BackendEndpoint) sync() {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	pods, err := e.clientset.CoreV1().Pods(e.cfg.namespace).List(ctx, metav1.ListOptions{LabelSelector: e.cfg.selector})
	if err != nil {
		if f, _ := e.target(); f == nil {
			e.switchTo(nil, fmt.Sprintf("list pods %q in %s: %v", e.cfg.selector, e.cfg.namespace, err))
		}
		return // an API-server blip does not condemn a live forwarder
	}
	pod, err := SelectBackendPod(pods.Items)
	if err != nil {
		if cur, _ := e.target(); cur != nil {
			e.cfg.logf("backend endpoint: dropping pod %s: %v", cur.pod, err)
		}
		e.switchTo(nil, err.Error())
		return
	}
	if cur, _ := e.target(); cur != nil && cur.uid == pod.UID {
		return
	}
	e.switchTo(nil, fmt.Sprintf("connecting to backend pod %s", pod.Name))
	f, err := e.startForwarder(pod)
	if err != nil {
		e.switchTo(nil, err.Error())
		e.cfg.logf("backend endpoint: %v", err)
		go func() { // retry soon, but never in a hot loop
			if sleepCtx(e.ctx, time.Second) == nil {
				e.triggerRefresh()
			}
		}()
		return
	}
	e.cfg.logf("backend endpoint: %s now forwards to pod %s/%s:%d", e.url, e.cfg.namespace, pod.Name, e.cfg.port)
	e.switchTo(f, "")
}

func (e *BackendEndpoint) startForwarder(pod *corev1.Pod) (*podForwarder, error) {
	rt, upgrader, err := spdy.RoundTripperFor(e.restConfig)
	if err != nil {
		return nil, fmt.Errorf("port-forward transport for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	reqURL := e.clientset.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, reqURL)

	fctx, fcancel := context.WithCancel(e.ctx)
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesWithContext(fctx, dialer, []string{"127.0.0.1"},
		[]string{fmt.Sprintf("0:%d", e.cfg.port)}, ready, io.Discard, io.Discard)
	if err != nil {
		fcancel()
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	f := &podForwarder{pod: pod.Name, uid: pod.UID, cancel: fcancel, done: make(chan struct{})}
	go func() {
		f.err = pf.ForwardPorts()
		fcancel()
		close(f.done)
		e.forwarderEnded(f)
	}()
	select {
	case <-ready:
	case <-f.done:
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d failed: %v", pod.Namespace, pod.Name, e.cfg.port, f.err)
	case <-time.After(e.cfg.readyWithin):
		fcancel()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d not ready within %s", pod.Namespace, pod.Name, e.cfg.port, e.cfg.readyWithin)
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		fcancel()
		return nil, fmt.Errorf("port-forward to pod %s/%s: no local port bound: %v", pod.Namespace, pod.Name, err)
	}
	f.localAddr = fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
	return f, nil
}

// watchPods turns any change of backend pods into a re-selection, so a new pod
// is picked up without waiting for a failed dial.
func (e *BackendEndpoint) watchPods() {
	defer e.wg.Done()
	for e.ctx.Err() == nil {
		w, err := e.clientset.CoreV1().Pods(e.cfg.namespace).Watch(e.ctx, metav1.ListOptions{LabelSelector: e.cfg.selector})
		if err != nil {
			_ = sleepCtx(e.ctx, 2*time.Second)
			continue
		}
		for range w.ResultChan() {
			e.triggerRefresh()
		}
		w.Stop()
		_ = sleepCtx(e.ctx, 500*time.Millisecond)
	}
}

func (e *BackendEndpoint) dialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	f, why := e.target()
	if f == nil {
		e.triggerRefresh()
		return nil, fmt.Errorf("backend endpoint (pods %q in %s): %w: %s", e.cfg.selector, e.cfg.namespace, ErrBackendUnavailable, why)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", f.localAddr)
	if err != nil {
		e.mu.Lock()
		if e.current == f {
			e.current = nil
			e.unavailable = fmt.Sprintf("port-forward to pod %s stopped accepting connections", f.pod)
		}
		e.mu.Unlock()
		e.dropped(f)
		return nil, fmt.Errorf("backend endpoint: port-forward to pod %s/%s (local %s) is gone: %w: %v", e.cfg.namespace, f.pod, f.localAddr, ErrBackendUnavailable, err)
	}
	tc, ok := f.track(conn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("backend endpoint: pod %s/%s was dropped while connecting: %w", e.cfg.namespace, f.pod, ErrBackendUnavailable)
	}
	return tc, nil
}

func (e *BackendEndpoint) acceptLoop() {
	defer e.wg.Done()
	for {
		conn, err := e.listener.Accept()
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go e.proxy(conn)
	}
}

// proxy joins one local connection to the current forwarder; during an outage
// the connection is closed at once so the caller fails fast and retries.
func (e *BackendEndpoint) proxy(local net.Conn) {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	upstream, err := e.dialContext(ctx, "tcp", "")
	cancel()
	if err != nil {
		e.cfg.logf("%v", err)
		_ = local.Close()
		return
	}
	var once sync.Once
	closeBoth := func() { _ = local.Close(); _ = upstream.Close() }
	go func() { _, _ = io.Copy(upstream, local); once.Do(closeBoth) }()
	_, _ = io.Copy(local, upstream)
	once.Do(closeBoth)
}

// SelectBackendPod picks the pod new connections must go to: Running, Ready,
// not being deleted, and the newest of those (during a Recreate rollout the old
// pod may linger terminating while the new one starts). The error explains why
// each candidate was rejected.
func SelectBackendPod(pods []corev1.Pod) (*corev1.Pod, error) {
	var (
		ready    []*corev1.Pod
		rejected []string
	)
	for i := range pods {
		p := &pods[i]
		switch {
		case p.DeletionTimestamp != nil:
			rejected = append(rejected, p.Name+": terminating")
		case p.Status.Phase != corev1.PodRunning:
			rejected = append(rejected, fmt.Sprintf("%s: phase %s", p.Name, p.Status.Phase))
		case !podReady(p):
			rejected = append(rejected, p.Name+": not Ready")
		default:
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		if len(rejected) == 0 {
			return nil, errors.New("no backend pod exists")
		}
		return nil, fmt.Errorf("no ready backend pod (%s)", strings.Join(rejected, "; "))
	}
	sort.Slice(ready, func(i, j int) bool {
		ti, tj := ready[i].CreationTimestamp, ready[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return ready[i].Name > ready[j].Name
	})
	return ready[0], nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
