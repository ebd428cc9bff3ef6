// Package verdict turns a cell's ledger into pass, fail or inconclusive by
// evaluating rules that are data (see rules.go), never a guess.
package verdict

import (
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// Verdict is the outcome of a rule or a whole cell.
type Verdict string

const (
	Pass         Verdict = "pass"
	Fail         Verdict = "fail"
	Inconclusive Verdict = "inconclusive"
)

// RuleResult is one rule's outcome with the ledger entries that decided it.
type RuleResult struct {
	Rule        string  `json:"rule"`
	Description string  `json:"description"`
	Verdict     Verdict `json:"verdict"`
	// Informational results are reported but do not decide the cell verdict.
	Informational bool `json:"informational,omitempty"`
	// Reason says in one sentence why (which entries broke it, or what was missing).
	Reason string `json:"reason"`
	// Sessions lists, for a rule run per session, every session judged
	// ("namespace/session"): each that held the rule's role at some time.
	Sessions []string `json:"sessions,omitempty"`
	// Working is the working level a level-dependent rule was judged at
	// (empty for rules whose clauses count at every level).
	Working  WorkingLevel         `json:"working,omitempty"`
	Evidence []ledger.Observation `json:"evidence,omitempty"`
}

// Expectation is what the catalog's matrix says a cell should show.
type Expectation struct {
	Verdict Verdict `json:"verdict"`
	// Why is the human reason, e.g. "fail: upstream #1425".
	Why string `json:"why,omitempty"`
	// Working is the evidence a session needs to count as working, which the
	// verdict is expected at (the catalog's working:, or -working);
	// DefaultWorkingLevel when empty.
	Working WorkingLevel `json:"working,omitempty"`
	// Rules optionally pins the expected verdict of individual rules
	// (e.g. {"restarted-session-runs": "fail"} for docs/platform.md §3.5 item 7).
	Rules map[string]Verdict `json:"rules,omitempty"`
	// Unauthorized lists callers and path families that must get runner 401s
	// (each at least one); Authorized those that must get none. An empty family
	// stands for every family of the caller.
	Unauthorized []Attribution `json:"unauthorized,omitempty"`
	Authorized   []Attribution `json:"authorized,omitempty"`
	// Diagnoses are the classes harness/diagnose must establish (each one for
	// its caller; no caller for a restart break).
	Diagnoses []Diagnosis `json:"diagnoses,omitempty"`
}

// Attribution names a caller and a runner path family, e.g. backend "/events".
type Attribution struct {
	Caller ledger.Caller `json:"caller" yaml:"caller"`
	Family string        `json:"family,omitempty" yaml:"family,omitempty"`
}

func (a Attribution) String() string {
	if a.Family == "" {
		return string(a.Caller) + " (any path)"
	}
	return string(a.Caller) + " " + a.Family
}

// Covers reports whether a 401 count falls under a: same caller and family,
// and caused by the upgrade (the from release's own 401s are not attributed
// to the upgrade).
func (a Attribution) Covers(c Count401) bool {
	return a.Caller == c.Caller && (a.Family == "" || a.Family == c.Path) && c.Class != ledger.ClassFromRelease
}

// Outcome is what a cell showed, as Match compares it with an Expectation.
type Outcome struct {
	Verdict      Verdict
	Rules        []RuleResult
	Unauthorized []Count401
	// Diagnoses are the classes the cell's diagnosis established; nil when the
	// cell was not diagnosed.
	Diagnoses []Diagnosis
}

// Count401 is the number of runner 401s for one caller and path family, of
// one class, between one caller release and one runner release.
type Count401 struct {
	Caller        ledger.Caller `json:"caller"`
	Method        string        `json:"method,omitempty"`
	Path          string        `json:"path"`
	Class         ledger.Class  `json:"class,omitempty"`
	CallerRelease string        `json:"callerRelease,omitempty"`
	RunnerRelease string        `json:"runnerRelease,omitempty"`
	Count         int           `json:"count"`
}
