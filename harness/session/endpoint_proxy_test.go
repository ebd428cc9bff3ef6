package session

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newProxyOnlyEndpoint builds an endpoint whose pod tracking is driven by the
// test (no cluster): only the listener and the dial path run.
func newProxyOnlyEndpoint(t *testing.T) *BackendEndpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &BackendEndpoint{
		cfg:         endpointConfig{namespace: PlatformNamespace, selector: BackendPodSelector, port: BackendPort, logf: t.Logf},
		url:         "http://" + ln.Addr().String(),
		listener:    ln,
		refresh:     make(chan struct{}, 1),
		unavailable: "no ready backend pod (backend-api-old: terminating)",
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.transport = &http.Transport{DialContext: e.dialContext}
	e.wg.Add(1)
	go e.acceptLoop()
	t.Cleanup(e.Close)
	return e
}

func fakeForwarder(pod, addr string) *podForwarder {
	done := make(chan struct{})
	f := &podForwarder{pod: pod, localAddr: addr, done: done}
	var closed bool
	f.cancel = func() {
		if !closed {
			closed = true
			f.err = errors.New("lost connection to pod")
			close(done)
		}
	}
	return f
}

func TestEndpointFailsFastDuringOutageAndFollowsPodSwitch(t *testing.T) {
	e := newProxyOnlyEndpoint(t)
	hc := &http.Client{Transport: e.Transport(), Timeout: 2 * time.Second}
	plain := &http.Client{Timeout: 2 * time.Second}

	// Outage: a clear, immediate error through Transport, a closed connection through URL.
	start := time.Now()
	_, err := hc.Get(e.URL() + "/health")
	if !errors.Is(err, ErrBackendUnavailable) || !strings.Contains(err.Error(), "terminating") {
		t.Fatalf("outage error = %v", err)
	}
	if _, err := plain.Get(e.URL() + "/health"); err == nil {
		t.Fatal("plain request during outage succeeded")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("outage answers took %s, want fail-fast", el)
	}
	select {
	case <-e.refresh:
	default:
		t.Error("a failed dial did not ask for a pod re-selection")
	}

	// Pod 1 appears.
	pod1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pod-1") }))
	defer pod1.Close()
	e.switchTo(fakeForwarder("backend-api-1", pod1.Listener.Addr().String()), "")
	for _, c := range []*http.Client{hc, plain} {
		resp, err := c.Get(e.URL() + "/health")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "pod-1" {
			t.Errorf("body = %q", b)
		}
	}
	if e.CurrentPod() != "backend-api-1" {
		t.Errorf("CurrentPod = %q", e.CurrentPod())
	}

	// Its forwarder dies: never handed out again.
	f1, _ := e.target()
	f1.cancel()
	e.forwarderEnded(f1) // what the ForwardPorts goroutine does when the pod goes away
	if _, err := hc.Get(e.URL() + "/health"); !errors.Is(err, ErrBackendUnavailable) || !strings.Contains(err.Error(), "backend-api-1") {
		t.Errorf("dead forwarder error = %v", err)
	}

	// Pod 2 replaces it.
	pod2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pod-2") }))
	defer pod2.Close()
	e.switchTo(fakeForwarder("backend-api-2", pod2.Listener.Addr().String()), "")
	resp, err := plain.Get(e.URL() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "pod-2" {
		t.Errorf("after switch body = %q", b)
	}

	// A forwarder whose local port stopped answering is dropped on first dial.
	gone := httptest.NewServer(http.NotFoundHandler())
	addr := gone.Listener.Addr().String()
	gone.Close()
	e.switchTo(fakeForwarder("backend-api-3", addr), "")
	if _, err := hc.Get(e.URL() + "/x"); !errors.Is(err, ErrBackendUnavailable) {
		t.Errorf("unreachable forwarder error = %v", err)
	}
	if e.CurrentPod() != "" {
		t.Errorf("dead forwarder still current: %q", e.CurrentPod())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.Ready(ctx); !errors.Is(err, ErrBackendUnavailable) {
		t.Errorf("Ready = %v", err)
	}
}
