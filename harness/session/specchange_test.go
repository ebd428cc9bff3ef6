package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// conflictBody is what the real backend answered to POST …/repos in 6 of 7
// real cells (issue 25).
const conflictBody = `{"error":"Operation cannot be fulfilled on agenticsessions.vteam.ambient-code \"session-1\": the object has been modified; please apply your changes to the latest version and try again"}`

func TestChangeSpecRetriesAConflictAndRereadsTheSession(t *testing.T) {
	fb := newFakeBackend(t)
	fb.setCannedTimes("POST /repos", 500, conflictBody, 2)
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	repo := Repo{URL: "https://github.com/ambient-code/x", Branch: "main"}
	res := c.ChangeSpec(context.Background(), ChangeSpecInput{Session: testRef, Retry: SpecChangeRetry{Tries: 3, Backoff: time.Millisecond},
		Apply: func(ctx context.Context) APIResult { return c.AddRepo(ctx, testRef, repo) }})
	if !res.Accepted() || res.Refused || res.Tries != 3 {
		t.Fatalf("result = %+v, want accepted on the 3rd try", res)
	}
	var seq []string
	for _, r := range fb.reqs() {
		seq = append(seq, r.Method+" "+r.Path[strings.LastIndex(r.Path, "/"):])
	}
	want := "POST /repos, GET /session-1, POST /repos, GET /session-1, POST /repos"
	if got := strings.Join(seq, ", "); got != want {
		t.Errorf("requests %s, want %s (re-read before each new try)", got, want)
	}
	if n := len(l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalSpecChangeRefused })); n != 0 {
		t.Errorf("%d spec-change-refused entries for an accepted change", n)
	}
}

func TestChangeSpecRecordsARefusalAfterTheLastTry(t *testing.T) {
	fb := newFakeBackend(t)
	fb.setCanned("POST /workflow", 409, `{"error":"conflict"}`)
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	res := c.ChangeSpec(context.Background(), ChangeSpecInput{Session: testRef, Retry: SpecChangeRetry{Tries: 3, Backoff: time.Millisecond},
		Apply: func(ctx context.Context) APIResult {
			return c.SelectWorkflow(ctx, testRef, Workflow{GitURL: ExampleWorkflowURL, Branch: DefaultBranch})
		}})
	if res.Accepted() || !res.Refused || res.Tries != 3 {
		t.Fatalf("result = %+v, want refused after 3 tries", res)
	}
	refused := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalSpecChangeRefused })
	if len(refused) != 1 {
		t.Fatalf("want one spec-change-refused entry, got %+v", refused)
	}
	o := refused[0]
	if o.Path != "POST workflow" || o.Status != 409 || o.Session != testRef.Name || o.Namespace != testRef.Project || !strings.Contains(o.Detail, "refused 3 times") {
		t.Errorf("entry = %+v", o)
	}
	if strings.Contains(o.Detail, testToken) {
		t.Errorf("entry carries the token: %s", o.Detail)
	}
}

func TestChangeSpecDoesNotRetryOtherRefusals(t *testing.T) {
	fb := newFakeBackend(t)
	// A runner's refusal passed through is evidence, not contention.
	fb.setCanned("POST /repos", 401, `{"error":"{\"detail\":\"Unauthorized\"}"}`)
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	res := c.ChangeSpec(context.Background(), ChangeSpecInput{Session: testRef, Retry: SpecChangeRetry{Tries: 3, Backoff: time.Millisecond},
		Apply: func(ctx context.Context) APIResult { return c.AddRepo(ctx, testRef, Repo{URL: "https://x/y"}) }})
	if res.Tries != 1 || res.Refused || res.Accepted() {
		t.Errorf("result = %+v, want one try, not refused, not accepted", res)
	}
	if n := len(l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalSpecChangeRefused })); n != 0 {
		t.Errorf("%d spec-change-refused entries for a runner refusal", n)
	}
}

func TestIsConflict(t *testing.T) {
	for _, tt := range []struct {
		res  APIResult
		want bool
	}{
		{APIResult{Status: 409}, true},
		{APIResult{Status: 500, Body: conflictBody}, true},
		{APIResult{Status: 500, Body: `{"error":"Failed to update session"}`}, false},
		{APIResult{Status: 502}, false},
		{APIResult{Status: 200}, false},
	} {
		if got := IsConflict(tt.res); got != tt.want {
			t.Errorf("IsConflict(%d %s) = %v, want %v", tt.res.Status, tt.res.Body, got, tt.want)
		}
	}
}
