package cell

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/poll"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// EvidenceWindow says when a traffic window has seen enough: every session made
// Rounds calls of every repeating family, every Call reached its runner, and
// every Rule is decided. A window that found a failure may end then; one that
// would pass must last at least PassAfter. It never lasts longer than Max.
type EvidenceWindow struct {
	Name   string
	Since  time.Time
	Rounds int
	Calls  []pipeline.RunnerCall
	Rules  []string
	// From is the cell's from release, against which rules classify 401s.
	From      string
	PassAfter time.Duration
	Max       time.Duration
	// Working is the evidence a session needs to count as working, which
	// the Rules are decided at (verdict.DefaultWorkingLevel when empty).
	Working verdict.WorkingLevel
	// Clock times the window (default the real clock; tests step a fake one).
	Clock clock.Clock
}

// EvidenceResult is how a window ended.
type EvidenceResult struct {
	Took time.Duration
	// Missing names what was still missing when Max ran out (empty when complete).
	Missing []string
	// Failing names the rules already failing when the window ended early.
	Failing []string
}

// WaitForEvidence polls the ledger and the traffic until w is complete or Max
// has passed since w.Since. Missing evidence is not an error here: the rules
// turn it into an inconclusive verdict.
func WaitForEvidence(ctx context.Context, l *ledger.Ledger, traffic []*session.Traffic, w EvidenceWindow) EvidenceResult {
	const every = 500 * time.Millisecond
	clk := w.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	check := func() (EvidenceResult, bool) {
		missing, failing := evidenceState(l, traffic, w)
		elapsed := clk.Since(w.Since)
		complete := len(missing) == 0 && (len(failing) > 0 || elapsed >= w.PassAfter)
		res := EvidenceResult{Took: elapsed, Failing: failing}
		if !complete {
			res.Missing = missing
			if len(missing) == 0 {
				res.Missing = []string{fmt.Sprintf("a %s pass window", w.PassAfter)}
			}
		}
		return res, complete || elapsed >= w.Max
	}
	var res EvidenceResult
	if err := poll.Until(ctx, clk, every, func(context.Context) (bool, error) {
		var done bool
		res, done = check()
		return done, nil
	}); err != nil {
		res, _ = check() // ctx ended: what the ledger holds now
	}
	return res
}

func evidenceState(l *ledger.Ledger, traffic []*session.Traffic, w EvidenceWindow) (missing, failing []string) {
	for _, t := range traffic {
		if n, which := t.FewestCallsSince(w.Since); n < w.Rounds {
			missing = append(missing, fmt.Sprintf("%d of %d calls of %s", n, w.Rounds, which))
		}
	}
	if len(w.Calls) > 0 {
		// The latest time each call (keyed without its After) was seen at.
		latest := map[pipeline.RunnerCall]time.Time{}
		for _, o := range l.Filter(func(o ledger.Observation) bool {
			return (o.Signal == ledger.SignalRunnerAccess || o.Signal == ledger.SignalRunner401) && !o.Time.Before(w.Since)
		}) {
			k := pipeline.RunnerCall{Caller: o.Caller, Method: o.Method, Path: platform.PathFamily(o.Path), Session: session.SessionRef{Project: o.Namespace, Name: o.Session}}
			if o.Time.After(latest[k]) {
				latest[k] = o.Time
			}
		}
		for _, c := range w.Calls {
			k := c
			k.After = time.Time{}
			at, ok := latest[k]
			if !ok || at.Before(c.After) {
				missing = append(missing, c.String())
			}
		}
	}
	if len(w.Rules) > 0 {
		want := map[string]bool{}
		for _, n := range w.Rules {
			want[n] = true
		}
		for _, r := range verdict.Evaluate(verdict.EvaluateInput{Observations: l.All(), From: w.From, Working: w.Working}) {
			if !want[r.Rule] {
				continue
			}
			switch r.Verdict {
			case verdict.Inconclusive:
				missing = append(missing, "rule "+r.Rule+": "+r.Reason)
			case verdict.Fail:
				failing = append(failing, r.Rule)
			}
		}
	}
	return missing, failing
}

// describe is the progress line of a finished window.
func (e EvidenceResult) describe(w EvidenceWindow) string {
	switch {
	case len(e.Missing) > 0:
		return fmt.Sprintf("%s: evidence still missing after %s: %s", w.Name, e.Took.Round(100*time.Millisecond), strings.Join(e.Missing, "; "))
	case len(e.Failing) > 0:
		return fmt.Sprintf("%s: evidence complete in %s (already failing: %s)", w.Name, e.Took.Round(100*time.Millisecond), strings.Join(e.Failing, ", "))
	}
	return fmt.Sprintf("%s: evidence complete in %s", w.Name, e.Took.Round(100*time.Millisecond))
}
