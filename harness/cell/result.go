package cell

import (
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/chaos"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Stable step keys of a cell's phases (Result.Phases[].Step).
const (
	StepReset        = pipeline.StepReset
	StepPreload      = pipeline.StepPreload
	StepDeploy       = pipeline.StepDeploy
	StepDetectors    = pipeline.StepDetectors
	StepPreSessions  = "pre-upgrade sessions"
	StepUpgrade      = "upgrade"
	StepPostSessions = "post-upgrade sessions"
	StepRestart      = "restart"
	StepRollback     = "rollback"
)

// Result is what one cell showed: the verdict, each rule's result with its
// evidence, the whole ledger and how long each phase took. Reports, bench and
// tests read it; the cell writes it once and nobody writes it afterwards
// (what a driver adds — run number, repro, bundle, kept cluster — lives in
// report/cellrun.Report).
type Result struct {
	Cell upgrade.Cell `json:"cell"`
	// NodeImage is the kind node image the cell ran on ("" for an existing cluster).
	NodeImage    string               `json:"nodeImage,omitempty"`
	Verdict      verdict.Verdict      `json:"verdict"`
	Rules        []verdict.RuleResult `json:"rules"`
	Unauthorized []verdict.Count401   `json:"unauthorized"`
	Started      time.Time            `json:"started"`
	Duration     time.Duration        `json:"duration"`
	// Working is the working level the rules judged the cell at: what
	// evidence a session needed to count as working (verdict.WorkingLevel).
	Working verdict.WorkingLevel `json:"working"`
	// UpgradeStarted splits logs and the ledger into before/after.
	UpgradeStarted time.Time `json:"upgradeStarted"`
	// Phases are the cell's phases in the order they ended.
	Phases []progress.Phase `json:"phases,omitempty"`
	// Rollouts are what the upgrade rolled out, per step and component.
	Rollouts []Rollout `json:"rollouts,omitempty"`
	// RestartStop is how long the restarted session's old runner pod took to
	// stop (stop request → pod gone), with the reason reports show, e.g.
	// "runner took 60 s to stop: grace period" (nil: no restart ran).
	RestartStop *session.RunnerStop `json:"restartStop,omitempty"`
	// Matched is true when the outcome meets the cell's expectation; Mismatch
	// says why not.
	Matched  bool   `json:"matched"`
	Mismatch string `json:"mismatch,omitempty"`
	// Error is set when the cell could not run (infrastructure, or stopped by
	// a signal), with Verdict inconclusive.
	Error string `json:"error,omitempty"`
	// Interrupted says which signal stopped the cell in which phase
	// ("SIGINT during upgrade v0.2.0 → v0.2.2 (all-at-once)"); such a cell has
	// no verdict of its own (inconclusive, never matched).
	Interrupted string `json:"interrupted,omitempty"`
	// Diagnosis is what the diagnose stage (Input.Diagnose, the matrix's
	// probes) established for the cell (nil: not diagnosed); Outcome carries
	// its classes to verdict.Match.
	Diagnosis *diagnose.Findings `json:"diagnosis,omitempty"`
	// Faults are the faults injected on purpose (Input.Faults) and what each did.
	Faults []chaos.Injected     `json:"faults,omitempty"`
	Ledger []ledger.Observation `json:"ledger"`
}

// Phase returns the timing of the first phase with the given step key.
func (r Result) Phase(step string) (progress.Phase, bool) {
	for _, t := range r.Phases {
		if t.Step == step {
			return t, true
		}
	}
	return progress.Phase{}, false
}

// Outcome is the part of the result an expectation is matched against.
func (r Result) Outcome() verdict.Outcome {
	return verdict.Outcome{Verdict: r.Verdict, Rules: r.Rules, Unauthorized: r.Unauthorized, Diagnoses: r.Diagnosis.Diagnoses()}
}

// NeedsBundle reports whether reports should carry a failure bundle.
func (r Result) NeedsBundle() bool { return r.Verdict != verdict.Pass || !r.Matched }

// NotStarted is the result of a cell the run never started because err
// stopped it first (its cluster could not be made, or a signal came);
// interrupted says which signal during what ("SIGINT during cluster uh-x"),
// "" when none did. It is inconclusive and never matches.
func NotStarted(c upgrade.Cell, err error, interrupted string) Result {
	res := Result{Cell: c, Started: time.Now(), Interrupted: interrupted}
	evaluate(&res, nil, err)
	match(&res, err)
	return res
}

// evaluate classifies the raw ledger's 401s and evaluates the rules over it.
// A cell that could not run is inconclusive.
func evaluate(res *Result, raw []ledger.Observation, runErr error) {
	obs := verdict.Annotate(raw, res.Cell.From)
	res.Ledger = obs
	res.Working = res.Cell.Expect.Working.Or(verdict.DefaultWorkingLevel)
	res.Rules = verdict.Evaluate(verdict.EvaluateInput{Observations: obs, Annotated: true, Working: res.Working})
	res.Verdict = verdict.Combine(res.Rules)
	res.Unauthorized = verdict.Count401s(obs)
	if runErr != nil {
		res.Error = runErr.Error()
		res.Verdict = verdict.Inconclusive
	}
}

// match judges the outcome (rules, verdict and diagnosis) against the cell's
// expectation, once, after the diagnosis. A cell that could not run never
// matches; an interrupted one has no verdict of its own.
func match(res *Result, runErr error) {
	res.Matched, res.Mismatch = verdict.Match(res.Outcome(), res.Cell.Expect)
	if runErr != nil {
		res.Matched, res.Mismatch = false, "could not run: "+runErr.Error()
	}
	if res.Interrupted != "" {
		res.Mismatch = "interrupted (" + res.Interrupted + "): no verdict"
	}
	if res.Matched {
		res.Mismatch = ""
	}
}
