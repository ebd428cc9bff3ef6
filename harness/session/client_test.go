package session

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

var testRef = SessionRef{Project: "proj-a", Name: "session-1"}

func TestClientRoutesMethodsAndBodies(t *testing.T) {
	fb := newFakeBackend(t)
	c := fb.client(t)
	ctx := context.Background()
	base := "/api/projects/proj-a/agentic-sessions/session-1"

	tests := []struct {
		name       string
		do         func() APIResult
		wantMethod string
		wantPath   string
		wantBody   map[string]any // subset; nil means no body expected
	}{
		{"create project", func() APIResult { return c.CreateProject(ctx, "proj-a", "Project A") },
			"POST", "/api/projects", map[string]any{"name": "proj-a", "displayName": "Project A"}},
		{"get project", func() APIResult { return c.GetProject(ctx, "proj-a") }, "GET", "/api/projects/proj-a", nil},
		{"runner secrets", func() APIResult { return c.PutRunnerSecrets(ctx, "proj-a") },
			"PUT", "/api/projects/proj-a/runner-secrets", map[string]any{"data": map[string]any{"ANTHROPIC_API_KEY": "mock-replay-key"}}},
		{"create session", func() APIResult {
			_, r := c.CreateSession(ctx, "proj-a", SessionSpec{InitialPrompt: "hi", ActiveWorkflow: &Workflow{GitURL: ExampleWorkflowURL, Branch: "main", Path: "p"}})
			return r
		}, "POST", "/api/projects/proj-a/agentic-sessions", map[string]any{"initialPrompt": "hi",
			"activeWorkflow": map[string]any{"gitUrl": ExampleWorkflowURL, "branch": "main", "path": "p"}}},
		{"get session", func() APIResult { _, r := c.GetSession(ctx, testRef); return r }, "GET", base, nil},
		{"interrupt", func() APIResult { return c.Interrupt(ctx, testRef) }, "POST", base + "/agui/interrupt", map[string]any{}},
		{"capabilities", func() APIResult { return c.Capabilities(ctx, testRef) }, "GET", base + "/agui/capabilities", nil},
		{"feedback", func() APIResult { return c.Feedback(ctx, testRef, "nice") }, "POST", base + "/agui/feedback", map[string]any{"type": "META", "metaType": "thumbs_up"}},
		{"mcp status", func() APIResult { return c.McpStatus(ctx, testRef) }, "GET", base + "/mcp/status", nil},
		{"select workflow", func() APIResult {
			return c.SelectWorkflow(ctx, testRef, Workflow{GitURL: ExampleWorkflowURL, Branch: "main", Path: "w"})
		},
			"POST", base + "/workflow", map[string]any{"gitUrl": ExampleWorkflowURL, "branch": "main", "path": "w"}},
		{"add repo", func() APIResult { return c.AddRepo(ctx, testRef, Repo{URL: ExampleRepoURL, Branch: "main"}) },
			"POST", base + "/repos", map[string]any{"url": ExampleRepoURL, "branch": "main"}},
		{"remove repo", func() APIResult { return c.RemoveRepo(ctx, testRef, Repo{URL: ExampleRepoURL + ".git"}.Name()) },
			"DELETE", base + "/repos/example-repo", nil},
		{"switch model", func() APIResult { return c.SwitchModel(ctx, testRef, "claude-opus") }, "POST", base + "/model", map[string]any{"model": "claude-opus"}},
		{"workspace", func() APIResult { return c.ListWorkspace(ctx, testRef) }, "GET", base + "/workspace", nil},
		{"repos status", func() APIResult { return c.ReposStatus(ctx, testRef) }, "GET", base + "/repos/status", nil},
		{"stop", func() APIResult { return c.Stop(ctx, testRef) }, "POST", base + "/stop", nil},
		{"start", func() APIResult { return c.Start(ctx, testRef) }, "POST", base + "/start", nil},
		{"pod events", func() APIResult { return c.PodEvents(ctx, testRef) }, "GET", base + "/pod-events", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fb.reqs())
			res := tt.do()
			if !res.OK() {
				t.Fatalf("result not OK: %+v", res)
			}
			reqs := fb.reqs()
			if len(reqs) != before+1 {
				t.Fatalf("want exactly one request, got %d", len(reqs)-before)
			}
			got := reqs[len(reqs)-1]
			if got.Method != tt.wantMethod || got.Path != tt.wantPath {
				t.Errorf("request = %s %s, want %s %s", got.Method, got.Path, tt.wantMethod, tt.wantPath)
			}
			assertIdentity(t, got.Header)
			if tt.wantBody == nil && got.Body != nil {
				t.Errorf("unexpected body %v", got.Body)
			}
			for k, want := range tt.wantBody {
				if !jsonEqual(got.Body[k], want) {
					t.Errorf("body[%q] = %v, want %v", k, got.Body[k], want)
				}
			}
			if tt.wantBody != nil && got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", got.Header.Get("Content-Type"))
			}
		})
	}
}

func assertIdentity(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Authorization":                  "Bearer " + testToken,
		"X-Forwarded-User":               "system:serviceaccount:ambient-code:test-user",
		"X-Forwarded-Preferred-Username": "test-user",
		"X-Forwarded-Email":              "test-user@example.com",
		"X-Forwarded-Access-Token":       testToken,
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestRunSendsAGUIInputAndDecodesIDs(t *testing.T) {
	fb := newFakeBackend(t)
	c := fb.client(t)
	run, res := c.Run(context.Background(), testRef, "hello runner")
	if !res.OK() {
		t.Fatalf("run: %+v", res)
	}
	req := fb.reqs()[0]
	msgs, _ := req.Body["messages"].([]any)
	if len(msgs) != 1 {
		t.Fatalf("messages = %v, want one", req.Body["messages"])
	}
	m := msgs[0].(map[string]any)
	if m["role"] != "user" || m["content"] != "hello runner" || m["id"] == "" {
		t.Errorf("message = %v", m)
	}
	if run.RunID == "" || run.RunID != req.Body["runId"] || run.ThreadID != "session-1" {
		t.Errorf("run = %+v, request runId %v", run, req.Body["runId"])
	}
}

func TestCreateSessionReturnsNameAndGetSessionDecodesStatus(t *testing.T) {
	fb := newFakeBackend(t)
	c := fb.client(t)
	name, res := c.CreateSession(context.Background(), "proj-a", DefaultStartSpec())
	if !res.OK() || !strings.HasPrefix(name, "session-") || res.Status != 201 {
		t.Fatalf("create = %q %+v", name, res)
	}
	fb.ready[name] = platform.Condition{Type: "Ready", Status: "True", Reason: "Running", Message: "Session is running"}
	s, res := c.GetSession(context.Background(), SessionRef{Project: "proj-a", Name: name})
	if !res.OK() {
		t.Fatal(res.Error())
	}
	if s.Phase != PhaseRunning || s.Generation != 3 || s.ObservedGeneration != 2 || s.AgentStatus != "idle" || s.Project != "proj-a" {
		t.Errorf("session = %+v", s)
	}
	if c, ok := s.Condition("Ready"); !ok || c.Reason != "Running" {
		t.Errorf("Ready = %+v %v", c, ok)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		err    error
		want   string
	}{
		{"runner 401 passed through", 401, `{"detail":"Unauthorized"}`, nil, ClassRunner401},
		{"capabilities 200 with runner rejection", 200, `{"detail":"Unauthorized"}`, nil, ClassRunner401},
		{"interrupt error string", 401, `{"error":"{\"detail\":\"Unauthorized\"}"}`, nil, ClassRunner401},
		{"task stop error string", 401, `{"error":"{\"detail\": \"Unauthorized\"}"}`, nil, ClassRunner401},
		{"old backend add repo", 401, `{"error":"Failed to clone repository: {\"detail\":\"Unauthorized\"}"}`, nil, ClassRunner401},
		{"feedback rejected", 401, `{"error":"Runner rejected feedback","status":"failed"}`, nil, ClassRunner401},
		{"feedback runner unavailable", 202, `{"error":"Runner unavailable — feedback not recorded","status":"failed"}`, nil, ClassError},
		{"feedback without META", 400, `{"error":"Expected META event type"}`, nil, ClassError},
		{"backend no token", 401, `{"error":"User token required"}`, nil, ClassBackend401},
		{"backend bad token", 401, `{"error":"Invalid or missing token"}`, nil, ClassBackend401},
		{"backend no subject", 401, `{"error":"Invalid token"}`, nil, ClassBackend401},
		{"backend SSAR denial is not a runner 401", 403, `{"error":"Unauthorized"}`, nil, ClassError},
		{"mcp status hides 401 as empty list", 200, `{"servers":[],"totalCount":0}`, nil, ClassOK},
		{"plain ok", 200, `{"runId":"r","threadId":"t"}`, nil, ClassOK},
		{"accepted", 202, ``, nil, ClassOK},
		{"runner unavailable", 502, `{"error":"Runner is not available"}`, nil, ClassError},
		{"transport error", 0, ``, errors.New("connection refused"), ClassError},
		{"non-json 401", 401, `Unauthorized`, nil, ClassError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.status, []byte(tt.body), tt.err); got != tt.want {
				t.Errorf("Classify(%d, %s) = %s, want %s", tt.status, tt.body, got, tt.want)
			}
		})
	}
}

func TestLedgerRecordsClassifiedAnswersWithoutTokens(t *testing.T) {
	fb := newFakeBackend(t)
	fb.setCanned("GET /agui/capabilities", 200, `{"detail":"Unauthorized"}`)
	fb.setCanned("POST /agui/interrupt", 401, `{"error":"{\"detail\":\"Unauthorized\"}"}`)
	// A backend that echoes the caller's token must not leak it into results.
	fb.setCanned("GET /workspace", 200, `{"items":[],"echo":"`+testToken+`"}`)
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	ctx := context.Background()

	caps := c.Capabilities(ctx, testRef)
	intr := c.Interrupt(ctx, testRef)
	ws := c.ListWorkspace(ctx, testRef)

	if caps.Class != ClassRunner401 || caps.Status != 200 || caps.OK() {
		t.Errorf("capabilities = %+v", caps)
	}
	if intr.Class != ClassRunner401 || intr.Status != 401 {
		t.Errorf("interrupt = %+v", intr)
	}
	if strings.Contains(ws.Body, testToken) || !strings.Contains(ws.Body, secrets.Fingerprint(testToken)) {
		t.Errorf("workspace body not redacted: %s", ws.Body)
	}

	// A bad token yields a backend 401, distinct from the runner's.
	ep, _ := NewBackendEndpoint(nil, WithBaseURL(fb.srv.URL))
	bad, _ := NewClient(ep, "wrong-token-value", WithLedger(l))
	if r := bad.Capabilities(ctx, testRef); r.Class != ClassBackend401 {
		t.Errorf("bad token capabilities = %+v", r)
	}

	obs := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalAPI })
	if len(obs) != 4 {
		t.Fatalf("want 4 API observations, got %d: %+v", len(obs), obs)
	}
	want := []struct {
		path, detail string
		status       int
	}{
		{"GET agui/capabilities", ClassRunner401, 200},
		{"POST agui/interrupt", ClassRunner401, 401},
		{"GET workspace", ClassOK, 200},
		{"GET agui/capabilities", ClassBackend401, 401},
	}
	for i, w := range want {
		o := obs[i]
		if o.Path != w.path || o.Detail != w.detail || o.Status != w.status || o.Session != "session-1" || o.Namespace != "proj-a" {
			t.Errorf("obs[%d] = %+v, want path %q detail %q status %d", i, o, w.path, w.detail, w.status)
		}
	}
	raw, _ := json.Marshal(l.All())
	if strings.Contains(string(raw), testToken) || strings.Contains(string(raw), "wrong-token-value") {
		t.Errorf("ledger contains a token: %s", raw)
	}
}

func TestCreateProjectConflictIsSuccess(t *testing.T) {
	fb := newFakeBackend(t)
	fb.setCanned("POST /api/projects", 409, `{"error":"project already exists"}`)
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	res := c.CreateProject(context.Background(), "proj-a", "")
	if !res.OK() || res.Status != 409 {
		t.Fatalf("409 must count as success: %+v", res)
	}
	if o := l.All()[0]; o.Detail != ClassOK || o.Path != "POST projects" {
		t.Errorf("ledger = %+v", o)
	}
}

func TestEventsStream(t *testing.T) {
	fb := newFakeBackend(t)
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := c.Events(ctx, testRef)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := rc.Read(buf)
	rc.Close()
	if !strings.Contains(string(buf[:n]), "RUN_STARTED") {
		t.Errorf("stream = %q", buf[:n])
	}
	req := fb.reqs()[0]
	if req.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("Accept = %q", req.Header.Get("Accept"))
	}
	assertIdentity(t, req.Header)

	fb.setCanned("GET /agui/events", 401, `{"error":"Invalid or missing token"}`)
	if _, err := c.Events(ctx, testRef); err == nil || !strings.Contains(err.Error(), "backend-401") {
		t.Errorf("want backend-401 error, got %v", err)
	}
	obs := l.All()
	if len(obs) != 2 || obs[0].Detail != ClassOK || obs[1].Detail != ClassBackend401 || obs[1].Path != "GET agui/events" {
		t.Errorf("ledger = %+v", obs)
	}
}

func TestTransportErrorIsRecordedWithoutToken(t *testing.T) {
	fb := newFakeBackend(t)
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	fb.srv.Close()
	res := c.Capabilities(context.Background(), testRef)
	if res.Err == nil || res.Class != ClassError || res.OK() {
		t.Fatalf("want transport error, got %+v", res)
	}
	if strings.Contains(res.Error().Error(), testToken) {
		t.Errorf("error leaks token: %v", res.Error())
	}
	if o := l.All()[0]; o.Detail != ClassError || o.Status != 0 {
		t.Errorf("ledger = %+v", o)
	}
}

func TestNewClientAndEndpointValidation(t *testing.T) {
	if _, err := NewBackendEndpoint(nil); err == nil || !strings.Contains(err.Error(), "WithBaseURL") {
		t.Errorf("nil config without base URL: %v", err)
	}
	if _, err := NewBackendEndpoint(nil, WithBaseURL("127.0.0.1:8080")); err == nil {
		t.Error("relative base URL accepted")
	}
	ep, err := NewBackendEndpoint(nil, WithBaseURL("http://127.0.0.1:8080/"))
	if err != nil || ep.URL() != "http://127.0.0.1:8080" || ep.Transport() != nil {
		t.Fatalf("endpoint = %v, %v", ep, err)
	}
	ep.Close()
	if err := ep.Ready(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := NewClient(ep, " "); err == nil || !strings.Contains(err.Error(), "test-user-token") {
		t.Errorf("empty token: %v", err)
	}
	if _, err := NewClient(nil, testToken); err == nil {
		t.Error("nil endpoint accepted")
	}
}

func TestReadTestUserToken(t *testing.T) {
	cs := fake.NewSimpleClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "test-user-token", Namespace: "ambient-code"},
		Data:       map[string][]byte{"token": []byte(testToken + "\n"), "ca.crt": []byte("x")},
	})
	tok, err := ReadTestUserToken(context.Background(), cs)
	if err != nil || tok != testToken {
		t.Fatalf("token = fingerprint %s, err %v", secrets.Fingerprint(tok), err)
	}
	empty := fake.NewSimpleClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "test-user-token", Namespace: "ambient-code"},
		Data:       map[string][]byte{"ca.crt": []byte("x")},
	})
	if _, err := ReadTestUserToken(context.Background(), empty); err == nil || !strings.Contains(err.Error(), `"token"`) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := ReadTestUserToken(context.Background(), fake.NewSimpleClientset()); err == nil || !strings.Contains(err.Error(), "ambient-code/test-user-token") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	fp := secrets.Fingerprint("abc")
	if fp != "sha256:ba7816bf" {
		t.Errorf("secrets.Fingerprint(abc) = %s", fp)
	}
}

func TestRequestTimeoutBoundsHungCalls(t *testing.T) {
	fb := newFakeBackend(t)
	fb.holdCalls("GET /agui/capabilities") // answers only when the test ends
	c := fb.client(t, WithRequestTimeout(50*time.Millisecond))
	start := time.Now()
	res := c.Capabilities(context.Background(), testRef)
	if res.Err == nil || res.Class != ClassError {
		t.Fatalf("want timeout error, got %+v", res)
	}
	// About real time: the request timeout is a real 50 ms; the bound is loose.
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("call took %s", el)
	}
}
