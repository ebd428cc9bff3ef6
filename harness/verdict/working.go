package verdict

import (
	"fmt"
	"strings"
)

// WorkingLevel is the evidence a session needs to count as working. A catalog
// (working:, per cell) and the command line (-working) choose it; rules.yaml
// gives clauses that only count at some levels (a clause's working:). A 401 is
// a 401 at every level: the fail clauses carry no level.
type WorkingLevel string

const (
	// WorkingRunFinished: a run finished (RUN_FINISHED) after the upgrade.
	WorkingRunFinished WorkingLevel = "run-finished"
	// WorkingRunStarted: the runner accepted a run (a 2xx answer to POST / and
	// RUN_STARTED). Upstream's runner in its mock mode (no model key) sends
	// RUN_STARTED and never RUN_FINISHED, so a platform CI without a model
	// key can only ever show this much.
	WorkingRunStarted WorkingLevel = "run-started"
)

// DefaultWorkingLevel is the level of a cell whose catalog names none.
const DefaultWorkingLevel = WorkingRunFinished

// WorkingLevels lists the valid levels, strictest first.
var WorkingLevels = []WorkingLevel{WorkingRunFinished, WorkingRunStarted}

// WorkingLevelsText is the valid levels as a message lists them.
func WorkingLevelsText() string {
	s := make([]string, len(WorkingLevels))
	for i, l := range WorkingLevels {
		s[i] = string(l)
	}
	return strings.Join(s, " or ")
}

// ParseWorkingLevel checks s; its error says what is valid (callers add the
// file, field or flag).
func ParseWorkingLevel(s string) (WorkingLevel, error) {
	if contains(WorkingLevels, WorkingLevel(s)) {
		return WorkingLevel(s), nil
	}
	return "", fmt.Errorf("%q is not a working level (want %s)", s, WorkingLevelsText())
}

// Meaning says in a few words what a session needs at l to count as working.
func (l WorkingLevel) Meaning() string {
	switch l {
	case WorkingRunFinished:
		return "a run finished (RUN_FINISHED) after the upgrade"
	case WorkingRunStarted:
		return "the runner accepted a run (a 2xx answer to POST / and RUN_STARTED) after the upgrade, with no RUN_ERROR"
	}
	return "unknown working level " + string(l)
}

// Or is l, or def when l is unset.
func (l WorkingLevel) Or(def WorkingLevel) WorkingLevel {
	if l == "" {
		return def
	}
	return l
}
