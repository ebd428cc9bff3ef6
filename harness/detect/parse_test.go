package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

func TestParseAccessLine(t *testing.T) {
	ts := time.Date(2026, 11, 28, 21, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		line string
		want AccessLine
		ok   bool
	}{
		{"workflow 401", `INFO:     10.244.0.7:51234 - "POST /workflow HTTP/1.1" 401 Unauthorized`,
			AccessLine{ClientIP: "10.244.0.7", ClientPort: 51234, Method: "POST", Path: "/workflow", Status: 401, Reason: "Unauthorized"}, true},
		{"kubelet prefix", `2026-11-28T21:00:00.123456789Z INFO:     10.244.0.7:51234 - "POST / HTTP/1.1" 401 Unauthorized`,
			AccessLine{Time: ts, ClientIP: "10.244.0.7", ClientPort: 51234, Method: "POST", Path: "/", Status: 401, Reason: "Unauthorized"}, true},
		{"events 404", `INFO:     10.244.0.9:40000 - "GET /events HTTP/1.1" 404 Not Found`,
			AccessLine{ClientIP: "10.244.0.9", ClientPort: 40000, Method: "GET", Path: "/events", Status: 404, Reason: "Not Found"}, true},
		{"query stripped", `INFO:     10.244.0.9:40000 - "GET /content/list?path=%2Fworkspace HTTP/1.1" 200 OK`,
			AccessLine{ClientIP: "10.244.0.9", ClientPort: 40000, Method: "GET", Path: "/content/list", Query: "path=%2Fworkspace", Status: 200, Reason: "OK"}, true},
		{"health probe", `INFO:     10.244.0.1:33000 - "GET /health HTTP/1.1" 200 OK`,
			AccessLine{ClientIP: "10.244.0.1", ClientPort: 33000, Method: "GET", Path: "/health", Status: 200, Reason: "OK"}, true},
		{"ipv6", `INFO:     [fd00:10:244::7]:51234 - "DELETE /content/delete HTTP/1.1" 200 OK`,
			AccessLine{ClientIP: "fd00:10:244::7", ClientPort: 51234, Method: "DELETE", Path: "/content/delete", Status: 200, Reason: "OK"}, true},
		{"no reason", `INFO:     10.244.0.7:1 - "GET /tasks HTTP/1.1" 200`,
			AccessLine{ClientIP: "10.244.0.7", ClientPort: 1, Method: "GET", Path: "/tasks", Status: 200}, true},
		{"startup line", `INFO:     Uvicorn running on http://0.0.0.0:8001 (Press CTRL+C to quit)`, AccessLine{}, false},
		{"auth line", `INFO:ambient_runner.app:AG-UI token authentication enabled`, AccessLine{}, false},
		{"port out of range", `INFO:     10.244.0.7:99999 - "GET / HTTP/1.1" 200 OK`, AccessLine{}, false},
		{"empty", ``, AccessLine{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseAccessLine(tt.line)
			if ok != tt.ok {
				t.Fatalf("ParseAccessLine(%q) ok = %v, want %v", tt.line, ok, tt.ok)
			}
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("time = %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPathFamily(t *testing.T) {
	for in, want := range map[string]string{
		"/":                      "/",
		"/events":                "/events",
		"/events/":               "/events",
		"/events/thread-1":       "/events/{thread}",
		"/events/thread-1/wait":  "/events/{thread}/wait",
		"/tasks":                 "/tasks",
		"/tasks/t1/stop":         "/tasks/{id}/stop",
		"/tasks/t2/output":       "/tasks/{id}/output",
		"/tasks/t3":              "/tasks/{id}",
		"/workflow":              "/workflow",
		"/content/list?path=/ws": "/content/list",
	} {
		if got := PathFamily(in); got != want {
			t.Errorf("PathFamily(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsAuthEnabledLine(t *testing.T) {
	for line, want := range map[string]bool{
		"INFO:ambient_runner.app:AG-UI token authentication enabled":                                    true,
		"2026-11-28T21:00:00.5Z INFO:ambient_runner.app:AG-UI token authentication enabled":             true,
		"INFO:ambient_runner.app:AG-UI token authentication enabled\n":                                  true,
		"INFO:     Started server process [1]":                                                          false,
		`INFO:     10.244.0.7:51234 - "GET /events HTTP/1.1" 401 Unauthorized`:                          false,
		"INFO:ambient_runner.app:AG-UI token authentication enabled? no, disabled because it was empty": false,
	} {
		if got := IsAuthEnabledLine(line); got != want {
			t.Errorf("IsAuthEnabledLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestSplitTimestamps(t *testing.T) {
	ts, rest, ok := SplitKubeletTimestamp("2026-11-28T21:00:00Z hello world")
	if !ok || rest != "hello world" || !ts.Equal(time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)) {
		t.Errorf("kubelet split = %v %q %v", ts, rest, ok)
	}
	if _, rest, ok := SplitKubeletTimestamp("2026/11/28 21:00:00 not kubelet"); ok || rest != "2026/11/28 21:00:00 not kubelet" {
		t.Errorf("a Go log line must not be taken as kubelet-stamped: %q %v", rest, ok)
	}
	gts, rest, ok := SplitGoLogTimestamp("2026/11/28 21:00:01.250000 [Reconcile] x")
	if !ok || rest != "[Reconcile] x" || !gts.Equal(time.Date(2026, 11, 28, 21, 0, 1, 250000000, time.UTC)) {
		t.Errorf("go log split = %v %q %v", gts, rest, ok)
	}
}

func TestParsePlatformLine(t *testing.T) {
	kubelet := "2026-11-28T21:00:00.5Z "
	goLog := "2026/11/28 21:00:02 "
	tests := []struct {
		name   string
		line   string
		want   PlatformLine
		signal ledger.Signal
		method string
		path   string
	}{
		{"proxy 401", kubelet + goLog + `AGUI Proxy: runner returned 401: {"detail":"Unauthorized"}`,
			PlatformLine{Kind: KindBackendProxy401, Status: 401}, ledger.SignalBackendProxy401, "POST", "/"},
		{"listener 401", goLog + `Between-run listener: runner returned 401 for proj-a/session-b (attempt 3/30)`,
			PlatformLine{Kind: KindBackendListener401, Namespace: "proj-a", Session: "session-b", Status: 401, Attempt: 3, MaxAttempts: 30}, ledger.SignalBackendListener401, "GET", "/events"},
		{"listener gave up", goLog + `Between-run listener: gave up after 30 attempts for proj-a/session-b`,
			PlatformLine{Kind: KindBackendListenerGaveUp, Namespace: "proj-a", Session: "session-b", MaxAttempts: 30}, ledger.SignalSessionState, "GET", "/events"},
		{"feedback 401", goLog + `AGUI Feedback: runner returned 401 for session-b: {"detail":"Unauthorized"}`,
			PlatformLine{Kind: KindBackendFeedback401, Session: "session-b", Status: 401}, ledger.SignalBackendProxy401, "POST", "/feedback"},
		{"workspace 401", goLog + `ListSessionWorkspace: runner returned error status 401`,
			PlatformLine{Kind: KindBackendWorkspace401, Status: 401}, ledger.SignalBackendProxy401, "GET", "/content/list"},
		{"operator workflow non-200 401", goLog + `[Reconcile] Runner returned non-200 for workflow change: 401 - {"detail":"Unauthorized"}`,
			PlatformLine{Kind: KindOperatorWorkflowNon200, Status: 401}, ledger.SignalOperatorWorkflow401, "POST", "/workflow"},
		{"operator workflow non-200 500 is no 401", goLog + `[Reconcile] Runner returned non-200 for workflow change: 500 - boom`,
			PlatformLine{Kind: KindOperatorWorkflowNon200, Status: 500}, ledger.SignalSessionState, "POST", "/workflow"},
		{"operator repo add", goLog + `[Reconcile] Runner returned 401 for repo add`,
			PlatformLine{Kind: KindOperatorRepo401, Status: 401, RepoOp: "repo add"}, ledger.SignalOperatorRepo401, "POST", "/repos/add"},
		{"operator branch change", `[Reconcile] Runner returned 401 for branch change`,
			PlatformLine{Kind: KindOperatorRepo401, Status: 401, RepoOp: "branch change"}, ledger.SignalOperatorRepo401, "POST", "/repos/add"},
		{"operator repo remove", goLog + `[Reconcile] Runner returned 401 for repo remove`,
			PlatformLine{Kind: KindOperatorRepo401, Status: 401, RepoOp: "repo remove"}, ledger.SignalOperatorRepo401, "POST", "/repos/remove"},
		{"operator workflow failed", goLog + `[Reconcile] Failed to reconcile workflow for proj-a/session-b: runner workflow update failed: 401`,
			PlatformLine{Kind: KindOperatorWorkflowFailed, Namespace: "proj-a", Session: "session-b", Status: 401}, ledger.SignalOperatorWorkflow401, "POST", "/workflow"},
		{"token refreshed", goLog + `Refreshed runner token for session proj-a/session-a`,
			PlatformLine{Kind: KindOperatorTokenRefreshed, Namespace: "proj-a", Session: "session-a"}, ledger.SignalSessionState, "", ""},
		{"token provision regenerating", goLog + `[TokenProvision] Regenerating runner token for proj-a/session-b`,
			PlatformLine{Kind: KindOperatorTokenProvision, Namespace: "proj-a", Session: "session-b"}, ledger.SignalSessionState, "", ""},
		{"token provision created", goLog + `[TokenProvision] Created secret ambient-runner-token-session-b with runner token`,
			PlatformLine{Kind: KindOperatorTokenProvision, Session: "session-b"}, ledger.SignalSessionState, "", ""},
		{"token provision success", goLog + `[TokenProvision] Successfully regenerated token for session proj-a/session-b`,
			PlatformLine{Kind: KindOperatorTokenProvision, Namespace: "proj-a", Session: "session-b"}, ledger.SignalSessionState, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParsePlatformLine(tt.line)
			if !ok {
				t.Fatalf("ParsePlatformLine(%q) not recognised", tt.line)
			}
			if strings.HasPrefix(tt.line, kubelet) && !got.Time.Equal(time.Date(2026, 11, 28, 21, 0, 0, 500000000, time.UTC)) {
				t.Errorf("kubelet time must win, got %v", got.Time)
			} else if !strings.HasPrefix(tt.line, kubelet) && strings.HasPrefix(tt.line, goLog) && !got.Time.Equal(time.Date(2026, 11, 28, 21, 0, 2, 0, time.UTC)) {
				t.Errorf("go log time expected, got %v", got.Time)
			}
			if strings.HasPrefix(got.Message, "2026") {
				t.Errorf("Message keeps a timestamp: %q", got.Message)
			}
			got.Time, got.Message = time.Time{}, ""
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if s := got.Signal(); s != tt.signal {
				t.Errorf("Signal() = %s, want %s", s, tt.signal)
			}
			if m, p := got.RunnerCall(); m != tt.method || p != tt.path {
				t.Errorf("RunnerCall() = %s %s, want %s %s", m, p, tt.method, tt.path)
			}
		})
	}
	for _, line := range []string{
		goLog + "Starting backend server on :8080",
		goLog + "[Reconcile] Successfully reconciled workflow",
		`INFO:     10.244.0.7:51234 - "POST / HTTP/1.1" 401 Unauthorized`,
		"",
	} {
		if p, ok := ParsePlatformLine(line); ok {
			t.Errorf("ParsePlatformLine(%q) = %+v, want not recognised", line, p)
		}
	}
}

func TestRedact(t *testing.T) {
	secret := "0b6f0a7e-7a0e-4f7c-9a55-3c1a2e9b1d77"
	for _, line := range []string{
		`GET /api/projects/p/agui/events?token=` + secret + `&x=1`,
		`Authorization: Bearer ` + secret,
		`X-Ambient-Session-Token: ` + secret,
		`{"agui-token":"` + secret + `"}`,
	} {
		got := Redact(line)
		if strings.Contains(got, secret) {
			t.Errorf("Redact(%q) = %q still holds the secret", line, got)
		}
		if !strings.Contains(got, secrets.Fingerprint(secret)) {
			t.Errorf("Redact(%q) = %q lacks the fingerprint %s", line, got, secrets.Fingerprint(secret))
		}
	}
	plain := `INFO:     10.244.0.7:51234 - "POST /workflow HTTP/1.1" 401 Unauthorized`
	if got := Redact(plain); got != plain {
		t.Errorf("Redact changed a line without secrets: %q", got)
	}
	if fp := secrets.Fingerprint("x"); !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+8 {
		t.Errorf("Fingerprint shape %q", fp)
	}
}
