package cell

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// The restart runs beside the cell (startRestart returns at once), is timed
// as the step StepRestart, and its old runner's stop lands in the result.
func TestTheRestartRunsBesideTheCellAndKeepsTheRunnersStopTime(t *testing.T) {
	r := newRunner(Input{Target: &cluster.Target{}, Cell: upgrade.Cell{From: "v0.2.0", To: "v0.2.2"}, Log: io.Discard})
	release := make(chan struct{})
	stop := session.RunnerStop{Pod: "uh-cell/s-a-runner", Measured: true, Took: 60 * time.Second, GracePeriod: 60 * time.Second,
		HitGracePeriod: true, Reason: "runner took 60 s to stop: grace period"}
	run := r.startRestart(context.Background(), "s-a", func(ctx context.Context) (session.RestartResult, error) {
		<-release
		return session.RestartResult{Phase: session.PhaseRunning, Stop: stop}, nil
	})
	// The cell goes on (the post-upgrade window) while the restart waits.
	select {
	case err := <-run.done:
		t.Fatalf("the restart ended before it was released: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := run.wait(); err != nil {
		t.Fatal(err)
	}
	if err := run.wait(); err != nil {
		t.Errorf("a second wait: %v, want nil", err)
	}
	res := r.finish(context.Background(), "", nil)
	if res.RestartStop == nil || *res.RestartStop != stop {
		t.Errorf("result's restart stop %+v, want %+v", res.RestartStop, stop)
	}
	if _, ok := res.Phase(StepRestart); !ok {
		t.Errorf("phases %+v lack the restart", res.Phases)
	}
}

// A cell that fails while the restart runs ends it (stop cancels its
// context and waits), and a failed restart is the cell's error.
func TestARestartIsEndedWithTheCellAndItsErrorIsTheCells(t *testing.T) {
	r := newRunner(Input{Target: &cluster.Target{}, Cell: upgrade.Cell{From: "v0.2.0", To: "v0.2.2"}, Log: io.Discard})
	cancelled := false
	run := r.startRestart(context.Background(), "s-a", func(ctx context.Context) (session.RestartResult, error) {
		<-ctx.Done()
		cancelled = true
		return session.RestartResult{Stop: session.RunnerStop{Reason: "runner stop not timed: cancelled"}}, ctx.Err()
	})
	done := make(chan struct{})
	go func() { run.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not end the restart")
	}
	if !cancelled {
		t.Error("stop returned before the restart ended")
	}

	if r.result.RestartStop == nil || r.result.RestartStop.Reason != "runner stop not timed: cancelled" {
		t.Errorf("restart stop %+v, want the cancelled restart's reason", r.result.RestartStop)
	}

	r = newRunner(Input{Target: &cluster.Target{}, Cell: upgrade.Cell{From: "v0.2.0", To: "v0.2.2"}, Log: io.Discard})
	failing := r.startRestart(context.Background(), "s-b", func(context.Context) (session.RestartResult, error) {
		return session.RestartResult{}, errors.New("stop session uh-cell/s-b: HTTP 500")
	})
	if err := failing.wait(); err == nil || !strings.Contains(err.Error(), "restart pre-upgrade session s-b: stop session uh-cell/s-b: HTTP 500") {
		t.Errorf("err %v, want the restart step's error", err)
	}
	if r.result.RestartStop != nil {
		t.Errorf("restart stop %+v from a restart that said nothing about it, want none", r.result.RestartStop)
	}
}

// The story's roles keep every session rule's evidence: a, restarted beside
// the post-upgrade window, holds role restarted from its creation, so
// pre-upgrade-sessions-keep-working judges b alone and restarted-session-runs
// judges a. Had a been pre-upgrade until its restart began, the rule would
// wait in vain for a run a finishes after the upgrade.
func TestTheRestartedSessionIsJudgedOnlyAsRestarted(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	story := func(aPreUpgradeUntilRestart bool) []ledger.Observation {
		l := ledger.New()
		aRole := ledger.RoleRestarted
		if aPreUpgradeUntilRestart {
			aRole = ledger.RolePreUpgrade
		}
		l.MarkSessionRole(Project, "a", aRole, at(0))
		l.MarkSessionRole(Project, "b", ledger.RolePreUpgrade, at(0))
		l.MarkSessionRole(Project, "c", ledger.RolePostUpgrade, at(40))
		l.MarkPhase(ledger.PhaseDuring, at(30))
		l.MarkPhase(ledger.PhaseAfter, at(40))
		if aPreUpgradeUntilRestart {
			l.MarkSessionRole(Project, "a", ledger.RoleRestarted, at(45))
		}
		add := func(s int, sess string, sig ledger.Signal, detail string) {
			l.Add(ledger.Observation{Time: at(s), Signal: sig, Namespace: Project, Session: sess, Detail: detail})
		}
		for _, s := range []string{"a", "b"} {
			add(1, s, ledger.SignalCondition, "phase=Running")
			add(10, s, ledger.SignalRunEvent, "RUN_FINISHED")
			add(35, s, ledger.SignalRunEvent, "RUN_FINISHED") // during the upgrade
		}
		add(42, "c", ledger.SignalCondition, "phase=Running")
		add(50, "c", ledger.SignalRunEvent, "RUN_FINISHED")
		add(50, "b", ledger.SignalRunEvent, "RUN_FINISHED")
		// a's restart, beside the window: stop, its runner's grace period, start.
		add(46, "a", ledger.SignalCondition, "phase=Stopping")
		add(47, "a", ledger.SignalCondition, "phase=Stopped")
		add(48, "a", ledger.SignalCondition, "phase=Pending")
		add(108, "a", ledger.SignalCondition, "phase=Running")
		return l.All()
	}
	rules := func(obs []ledger.Observation) map[string]verdict.RuleResult {
		res := Result{Cell: upgrade.Cell{From: "v0.2.0", To: "v0.2.2"}}
		evaluate(&res, obs, nil)
		m := map[string]verdict.RuleResult{}
		for _, rr := range res.Rules {
			m[rr.Rule] = rr
		}
		return m
	}
	got := rules(story(false))
	if r := got["pre-upgrade-sessions-keep-working"]; r.Verdict != verdict.Pass || !slices.Equal(r.Sessions, []string{Project + "/b"}) {
		t.Errorf("pre-upgrade-sessions-keep-working = %s on %v (%s), want pass on b alone", r.Verdict, r.Sessions, r.Reason)
	}
	if r := got["restarted-session-runs"]; r.Verdict != verdict.Pass || !slices.Equal(r.Sessions, []string{Project + "/a"}) {
		t.Errorf("restarted-session-runs = %s on %v (%s), want pass on a", r.Verdict, r.Sessions, r.Reason)
	}
	if r := got["post-upgrade-sessions-work"]; r.Verdict != verdict.Pass {
		t.Errorf("post-upgrade-sessions-work = %s (%s)", r.Verdict, r.Reason)
	}
	if r := rules(story(true))["pre-upgrade-sessions-keep-working"]; r.Verdict != verdict.Inconclusive || !strings.Contains(r.Reason, "session "+Project+"/a") {
		t.Errorf("with a pre-upgrade until its restart: %s (%s), want inconclusive on a", r.Verdict, r.Reason)
	}
}
