package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// ErrBackendUnavailable is returned (wrapped) by Ready while no backend pod
// answers, e.g. during the Recreate rollout of an upgrade. Callers retry.
var ErrBackendUnavailable = errors.New("no ready backend pod is reachable")

// Option configures a BackendEndpoint.
type Option func(*endpointConfig)

type endpointConfig struct {
	baseURL   string
	namespace string
	service   string
	port      string
	logf      func(format string, args ...any)
}

// WithBaseURL uses a directly reachable backend (e.g. http://127.0.0.1:8080 or
// an httptest server) instead of the API server's service proxy; the
// rest.Config may be nil.
func WithBaseURL(baseURL string) Option { return func(c *endpointConfig) { c.baseURL = baseURL } }

// WithNamespace overrides the platform namespace (default ambient-code).
func WithNamespace(ns string) Option { return func(c *endpointConfig) { c.namespace = ns } }

// WithService overrides the backend Service and its port (name or number;
// default backend-service, 8080).
func WithService(name, port string) Option {
	return func(c *endpointConfig) { c.service, c.port = name, port }
}

// WithLogf receives the endpoint's diagnostics (readiness waits).
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *endpointConfig) { c.logf = logf }
}

// BackendEndpoint is a stable URL for the backend API. On a cluster it is the
// API server's service proxy of the backend Service: the API server sends
// each request to a ready backend pod, so the endpoint follows the pod across
// restarts and the Recreate rollout of an upgrade with no pod tracking of its
// own (measured against a port-forward that followed the pod: issue 12). While
// no pod is ready a request answers 503 at once and the caller retries.
type BackendEndpoint struct {
	cfg       endpointConfig
	url       string
	transport http.RoundTripper
}

// NewBackendEndpoint returns the backend's service proxy URL on the cluster of
// cfg, with a transport that authenticates to the API server as cfg does.
// The API server authenticates the harness by cfg's credentials and drops
// the Authorization header; the backend reads the test-user token from
// X-Forwarded-Access-Token, as behind upstream's OAuth proxy (docs/platform.md §5).
func NewBackendEndpoint(cfg *rest.Config, opts ...Option) (*BackendEndpoint, error) {
	c := endpointConfig{namespace: platform.Namespace, service: platform.BackendService, port: strconv.Itoa(platform.BackendPort), logf: func(string, ...any) {}}
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
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("NewBackendEndpoint: clientset from rest.Config (host %q): %w", cfg.Host, err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("NewBackendEndpoint: transport for %q: %w", cfg.Host, err)
	}
	u := cs.CoreV1().RESTClient().Get().Namespace(c.namespace).Resource("services").Name(c.service + ":" + c.port).SubResource("proxy").URL()
	return &BackendEndpoint{cfg: c, url: strings.TrimRight(u.String(), "/"), transport: rt}, nil
}

// URL is the base URL of the backend API (no trailing slash).
func (e *BackendEndpoint) URL() string { return e.url }

// Transport authenticates to the API server; nil (http.DefaultTransport) for
// WithBaseURL endpoints.
func (e *BackendEndpoint) Transport() http.RoundTripper { return e.transport }

// Ready waits until the backend answers GET /health through the endpoint
// (at once for WithBaseURL endpoints).
func (e *BackendEndpoint) Ready(ctx context.Context) error {
	if e.transport == nil {
		return nil
	}
	hc := &http.Client{Transport: e.transport, Timeout: 10 * time.Second}
	last := "no answer yet"
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/health", nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			// A call cut by the caller's own end says nothing; keep the answer before.
			if ctx.Err() == nil || last == "no answer yet" {
				last = err.Error()
			}
			return false, nil
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			last = "GET /health: " + resp.Status
			return false, nil
		}
		return true, nil
	})
	if err == nil {
		e.cfg.logf("backend endpoint: %s answers", e.url)
	}
	if err != nil {
		return fmt.Errorf("backend endpoint (service %s/%s port %s): %w: %s", e.cfg.namespace, e.cfg.service, e.cfg.port, ErrBackendUnavailable, last)
	}
	return nil
}

// Close drops idle connections. It is safe to call twice.
func (e *BackendEndpoint) Close() {
	if e.transport != nil {
		utilnet.CloseIdleConnectionsFor(e.transport)
	}
}
