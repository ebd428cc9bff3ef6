package session

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// fakeAPIServer stands in for the API server's service proxy: it records the
// paths it is asked for and answers /health 503 (no endpoints) the first
// notReady times, like the API server while no backend pod is ready.
type fakeAPIServer struct {
	mu       sync.Mutex
	paths    []string
	notReady int
	// answered is called after each answer, with how many there were.
	answered func(n int)
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path)
	down := f.notReady > 0
	if down {
		f.notReady--
	}
	f.mu.Unlock()
	if down {
		http.Error(w, `{"kind":"Status","message":"no endpoints available for service \"backend-service\""}`, http.StatusServiceUnavailable)
	} else {
		_, _ = w.Write([]byte(`{"status":"healthy"}`))
	}
	if f.answered != nil {
		f.mu.Lock()
		n := len(f.paths)
		f.mu.Unlock()
		f.answered(n)
	}
}

func TestBackendEndpointIsTheServiceProxy(t *testing.T) {
	api := &fakeAPIServer{notReady: 2}
	srv := httptest.NewServer(api)
	defer srv.Close()
	ep, err := NewBackendEndpoint(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	want := srv.URL + "/api/v1/namespaces/ambient-code/services/backend-service:8080/proxy"
	if ep.URL() != want || ep.Transport() == nil {
		t.Fatalf("URL = %q (transport %v), want %q with the API server's transport", ep.URL(), ep.Transport(), want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ep.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.paths) != 3 || api.paths[2] != "/api/v1/namespaces/ambient-code/services/backend-service:8080/proxy/health" {
		t.Errorf("Ready asked %q, want /health through the proxy three times (503, 503, 200)", api.paths)
	}
}

func TestBackendEndpointOptionsAndReadyError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Never ready; the caller gives up after the second answer.
	api := &fakeAPIServer{notReady: 1 << 30, answered: func(n int) {
		if n == 2 {
			cancel()
		}
	}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	ep, err := NewBackendEndpoint(&rest.Config{Host: srv.URL}, WithNamespace("plat"), WithService("be", "http"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ep.URL(), "/api/v1/namespaces/plat/services/be:http/proxy") {
		t.Errorf("URL = %q", ep.URL())
	}
	err = ep.Ready(ctx)
	if !errors.Is(err, ErrBackendUnavailable) || !strings.Contains(err.Error(), "plat/be") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Ready = %v, want ErrBackendUnavailable naming the service and the last answer", err)
	}
}
