package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

func TestWaitForSessionPhaseReachesRunning(t *testing.T) {
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhasePending, PhaseCreating, PhaseRunning}
	c := fb.client(t)
	s, err := c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{
		Session: testRef, Phases: []string{PhaseRunning}, Timeout: 2 * time.Second, PollInterval: 10 * time.Millisecond,
	})
	if err != nil || s.Phase != PhaseRunning {
		t.Fatalf("phase %q err %v", s.Phase, err)
	}
	if n := len(fb.reqs()); n != 3 {
		t.Errorf("want 3 polls, got %d", n)
	}
}

func TestWaitForSessionPhaseTimesOutNamingLastState(t *testing.T) {
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhasePending}
	fb.ready["session-1"] = platform.Condition{Type: "Ready", Status: "False", Reason: "ImagePullBackOff", Message: "Runner waiting: ImagePullBackOff - x"}
	c := fb.client(t)
	start := time.Now()
	_, err := c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{
		Session: testRef, Phases: []string{PhaseRunning}, Timeout: 150 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("want timeout")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("timeout took %s", el)
	}
	for _, want := range []string{`"Pending"`, "Running", "ImagePullBackOff", "proj-a/session-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef}); err == nil {
		t.Error("empty Phases accepted")
	}
}

func TestWaitForProjectReady(t *testing.T) {
	fb := newFakeBackend(t)
	fb.setCannedTimes("GET /api/projects/proj-a", 404, `{"error":"not found"}`, 2)
	c := fb.client(t)
	if err := c.WaitForProjectReady(context.Background(), WaitForProjectReadyInput{Project: "proj-a", Timeout: 10 * time.Second, PollInterval: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if n := len(fb.reqs()); n != 3 {
		t.Errorf("%d polls, want 3 (two 404s, then 200)", n)
	}
	fb.setCanned("GET /api/projects/proj-b", 404, `{"error":"not found"}`)
	err := c.WaitForProjectReady(context.Background(), WaitForProjectReadyInput{Project: "proj-b", Timeout: 80 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("want timeout naming the 404, got %v", err)
	}
}

func TestPrepareProjectAndStartSession(t *testing.T) {
	fb := newFakeBackend(t)
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	ctx := context.Background()
	if err := PrepareProject(ctx, PrepareProjectInput{Client: c, Project: "proj-a", Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range fb.reqs() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	want := []string{"POST /api/projects", "GET /api/projects/proj-a", "PUT /api/projects/proj-a/runner-secrets"}
	if strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("flow = %v, want %v", paths, want)
	}

	ref, err := StartSession(ctx, StartSessionInput{Client: c, Ledger: l, Project: "proj-a", Role: ledger.RolePreUpgrade, Timeout: 2 * time.Second, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.SessionRole("proj-a", ref.Name); got != ledger.RolePreUpgrade {
		t.Errorf("role = %q", got)
	}
	create := fb.reqs()[3]
	if create.Body["initialPrompt"] == "" || create.Body["activeWorkflow"] == nil {
		t.Errorf("session created without prompt or workflow: %v", create.Body)
	}
	// Observations of the session now carry the role.
	obs := l.Filter(func(o ledger.Observation) bool { return o.Session == ref.Name })
	if len(obs) == 0 || obs[len(obs)-1].Role != ledger.RolePreUpgrade {
		t.Errorf("observations = %+v", obs)
	}
}

func TestPrepareProjectStopsOnBackend401(t *testing.T) {
	fb := newFakeBackend(t)
	fb.setCanned("POST /api/projects", 401, `{"error":"Invalid token"}`)
	c := fb.client(t)
	err := PrepareProject(context.Background(), PrepareProjectInput{Client: c, Project: "proj-a", Timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "identity") {
		t.Errorf("want identity error, got %v", err)
	}
}

func TestStartSessionReportsFailedPhase(t *testing.T) {
	fb := newFakeBackend(t)
	fb.phases["session-00000001-0000-4000-8000-000000000000"] = []string{PhasePending, PhaseFailed}
	fb.ready["session-00000001-0000-4000-8000-000000000000"] = platform.Condition{Type: "Ready", Status: "False", Reason: "PodFailed", Message: "boom"}
	c := fb.client(t)
	_, err := StartSession(context.Background(), StartSessionInput{Client: c, Project: "proj-a", Timeout: 2 * time.Second, PollInterval: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "PodFailed") {
		t.Errorf("want Failed with reason, got %v", err)
	}
}

func TestRestartSessionReportsCreateContainerConfigError(t *testing.T) {
	fb := newFakeBackend(t)
	msg := "Runner waiting: CreateContainerConfigError - couldn't find key agui-token in Secret proj-a/ambient-runner-token-session-1"
	fb.phases["session-1"] = []string{PhaseRunning, PhaseStopping, PhaseStopped, PhaseStopped, PhasePending, PhaseFailed}
	fb.ready["session-1"] = platform.Condition{Type: "Ready", Status: "False", Reason: "CreateContainerConfigError", Message: msg}
	l := ledger.New()
	l.SetSessionRole("proj-a", "session-1", ledger.RoleRestarted)
	c := fb.client(t)
	res, err := RestartSession(context.Background(), RestartSessionInput{Client: c, Ledger: l, Session: testRef,
		StopTimeout: 2 * time.Second, StartTimeout: 2 * time.Second, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Phase != PhaseFailed || res.ReadyReason != "CreateContainerConfigError" || res.ReadyMessage != msg {
		t.Errorf("result = %+v", res)
	}
	var order []string
	for _, r := range fb.reqs() {
		if strings.HasSuffix(r.Path, "/stop") || strings.HasSuffix(r.Path, "/start") {
			order = append(order, r.Path[strings.LastIndex(r.Path, "/")+1:])
		}
	}
	if strings.Join(order, ",") != "stop,start" {
		t.Errorf("calls = %v", order)
	}
	st := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalSessionState })
	if len(st) != 1 || !strings.Contains(st[0].Detail, "phase=Failed") || !strings.Contains(st[0].Detail, "CreateContainerConfigError") || st[0].Role != ledger.RoleRestarted {
		t.Errorf("session-state = %+v", st)
	}
}
