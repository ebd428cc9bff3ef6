package session

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

const testToken = "eyJhbGciOiJSUzI1NiJ9.test-user-secret-token-value"

type recordedRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   map[string]any
}

type cannedAnswer struct {
	status int
	body   string
	// times the answer is given before the route answers normally (0: always).
	times int
}

// fakeBackend implements the backend routes the client calls, checks the
// harness identity like the real backend (§9 item 4) and records requests.
type fakeBackend struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []recordedRequest
	canned   map[string]cannedAnswer       // "METHOD /suffix-after-session" or "METHOD /api/..." → answer
	phases   map[string][]string           // session → phases returned by successive GETs (last sticks)
	ready    map[string]platform.Condition // session → Ready condition
	// gate holds a route's calls until the channel is closed (or the call ends).
	gate     map[string]chan struct{}
	inFlight map[string]int
	maxIn    map[string]int
	created  int

	// onPhase, when set, sees every phase a GET of a session answers.
	onPhase func(session, phase string)

	// events: per connect, whether to fail; a stream is held open until the
	// client ends it when eventsHoldOpen, otherwise it ends after its events.
	eventsFail     func(n int) bool
	eventsHoldOpen bool
	eventsConn     int
}

func newFakeBackend(t *testing.T) *fakeBackend {
	f := &fakeBackend{t: t, canned: map[string]cannedAnswer{}, phases: map[string][]string{},
		ready: map[string]platform.Condition{}, gate: map[string]chan struct{}{}, inFlight: map[string]int{}, maxIn: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBackend) client(t *testing.T, opts ...ClientOption) *Client {
	t.Helper()
	ep, err := NewBackendEndpoint(nil, WithBaseURL(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ep, testToken, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeBackend) setCanned(key string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canned[key] = cannedAnswer{status: status, body: body}
}

// setCannedTimes answers key with status and body for its next n calls only.
func (f *fakeBackend) setCannedTimes(key string, status int, body string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canned[key] = cannedAnswer{status, body, n}
}

func (f *fakeBackend) reqs() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// splitSessionPath returns project, session and the route below the session.
func splitSessionPath(p string) (project, session, sub string, ok bool) {
	rest, found := strings.CutPrefix(p, "/api/projects/")
	if !found {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 3 || parts[1] != "agentic-sessions" {
		return parts[0], "", "", false
	}
	if len(parts) == 4 {
		sub = "/" + parts[3]
	}
	return parts[0], parts[2], sub, true
}

func (f *fakeBackend) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			writeJSON(w, 400, map[string]string{"error": "bad json"})
			return
		}
	}
	f.mu.Lock()
	f.requests = append(f.requests, recordedRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	f.mu.Unlock()

	// Backend auth (§5): token first, then the forwarded identity for project creation.
	authz := r.Header.Get("Authorization")
	if authz == "" && r.Header.Get("X-Forwarded-Access-Token") == "" {
		writeJSON(w, 401, map[string]string{"error": "User token required"})
		return
	}
	if authz != "Bearer "+testToken {
		writeJSON(w, 401, map[string]string{"error": "Invalid or missing token"})
		return
	}
	if r.Header.Get("X-Forwarded-User") != TestUserSubject {
		writeJSON(w, 401, map[string]string{"error": "Invalid token"})
		return
	}

	project, sess, sub, isSession := splitSessionPath(r.URL.Path)
	key := r.Method + " " + sub
	if !isSession {
		key = r.Method + " " + r.URL.Path
	}
	if isSession && sub != "" {
		f.mu.Lock()
		id := sess + key
		f.inFlight[id]++
		if f.inFlight[id] > f.maxIn[id] {
			f.maxIn[id] = f.inFlight[id]
		}
		gate := f.gate[key]
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.inFlight[id]--; f.mu.Unlock() }()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
	}
	f.mu.Lock()
	c, ok := f.canned[key]
	if ok && c.times > 0 {
		if c.times--; c.times == 0 {
			delete(f.canned, key)
		} else {
			f.canned[key] = c
		}
	}
	f.mu.Unlock()
	if ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(c.status)
		_, _ = io.WriteString(w, c.body)
		return
	}

	switch {
	case !isSession && r.Method == "POST" && r.URL.Path == "/api/projects":
		writeJSON(w, 201, map[string]any{"name": body["name"]})
	case !isSession && r.Method == "GET" && project != "" && r.URL.Path == "/api/projects/"+project:
		writeJSON(w, 200, map[string]any{"name": project})
	case !isSession && r.Method == "PUT" && strings.HasSuffix(r.URL.Path, "/runner-secrets"):
		writeJSON(w, 200, map[string]string{"message": "ok"})
	case !isSession && r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/agentic-sessions"):
		f.mu.Lock()
		f.created++
		name := fmt.Sprintf("session-%08d-0000-4000-8000-000000000000", f.created)
		f.mu.Unlock()
		writeJSON(w, 201, map[string]any{"message": "Agentic session created successfully", "name": name, "uid": "u1"})
	case isSession && sub == "" && r.Method == "GET":
		f.mu.Lock()
		phase := PhaseRunning
		if ph := f.phases[sess]; len(ph) > 0 {
			phase = ph[0]
			if len(ph) > 1 {
				f.phases[sess] = ph[1:]
			}
		}
		ready, hasReady := f.ready[sess]
		onPhase := f.onPhase
		f.mu.Unlock()
		if onPhase != nil {
			onPhase(sess, phase)
		}
		conds := []platform.Condition{}
		if hasReady {
			conds = append(conds, ready)
		}
		writeJSON(w, 200, map[string]any{
			"metadata":    map[string]any{"name": sess, "namespace": project, "generation": 3},
			"status":      map[string]any{"phase": phase, "observedGeneration": 2, "conditions": conds},
			"agentStatus": "idle",
		})
	case sub == "/agui/feedback" && body["type"] != "META":
		// As upstream's HandleAGUIFeedback (docs/platform.md §10 item 4).
		writeJSON(w, 400, map[string]string{"error": "Expected META event type"})
	case sub == "/agui/run":
		writeJSON(w, 200, map[string]any{"runId": body["runId"], "threadId": body["threadId"]})
	case sub == "/agui/events":
		f.serveEvents(w, r)
	case sub == "/stop", sub == "/start":
		writeJSON(w, 202, map[string]string{"message": "accepted"})
	case isSession:
		writeJSON(w, 200, map[string]any{"ok": true})
	default:
		writeJSON(w, 404, map[string]string{"error": "not found: " + key})
	}
}

func (f *fakeBackend) serveEvents(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.eventsConn++
	n := f.eventsConn
	fail := f.eventsFail != nil && f.eventsFail(n)
	hold := f.eventsHoldOpen
	f.mu.Unlock()
	if fail {
		writeJSON(w, 503, map[string]string{"error": "backend restarting"})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	fmt.Fprintf(w, "data: {\"type\":\"RUN_STARTED\",\"conn\":%d}\n\n", n)
	fmt.Fprintf(w, "data: {\"type\":\"RUN_ERROR\",\"message\":\"Runner error: HTTP 401\"}\n\n")
	w.(http.Flusher).Flush()
	if hold {
		<-r.Context().Done()
	}
}

// holdCalls makes calls of key wait until the returned func is called (also
// at the test's end, so no handler outlives it).
func (f *fakeBackend) holdCalls(key string) (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.gate[key] = ch
	f.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	f.t.Cleanup(release)
	return release
}

// inFlightMax is the most calls of key that were in flight at once for session.
func (f *fakeBackend) inFlightMax(session, key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxIn[session+key]
}
