package diagnose

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// ScoredCell is what the score needs of one cell's result.
type ScoredCell struct {
	Name    string
	Fault   string
	Expect  verdict.Expectation
	Outcome verdict.Outcome
	// Error is set when the cell could not run.
	Error string
}

// Score measures the harness on seeded faults: per fault cell whether it was
// detected (the cell failed), attributed (every expected 401 and no-401 held)
// and diagnosed (every expected class was established); per control cell
// (no fault, expected to pass) whether it raised a false alarm (did not pass,
// or showed a 401 caused by the upgrade or any diagnosis).
type Score struct {
	Faults      []FaultScore   `json:"faults"`
	Controls    []ControlScore `json:"controls"`
	Detected    int            `json:"detected"`
	Attributed  int            `json:"attributed"`
	Diagnosed   int            `json:"diagnosed"`
	FalseAlarms int            `json:"falseAlarms"`
	// NotRun counts cells that could not run (neither caught nor missed).
	NotRun int `json:"notRun,omitempty"`
}

// FaultScore is one fault cell.
type FaultScore struct {
	Fault      string `json:"fault"`
	Cell       string `json:"cell"`
	Ran        bool   `json:"ran"`
	Detected   bool   `json:"detected"`
	Attributed bool   `json:"attributed"`
	Diagnosed  bool   `json:"diagnosed"`
	// Diagnoses are the classes established, Why what was missed.
	Diagnoses []verdict.Diagnosis `json:"diagnoses,omitempty"`
	Why       string              `json:"why,omitempty"`
}

// ControlScore is one control cell.
type ControlScore struct {
	Cell       string `json:"cell"`
	Ran        bool   `json:"ran"`
	FalseAlarm bool   `json:"falseAlarm"`
	Why        string `json:"why,omitempty"`
}

// NewScore scores cells; nil when none carries a fault (nothing to score).
func NewScore(cells []ScoredCell) *Score {
	s := &Score{Faults: []FaultScore{}, Controls: []ControlScore{}}
	for _, c := range cells {
		switch {
		case c.Fault != "":
			s.Faults = append(s.Faults, scoreFault(c))
		case c.Expect.Verdict == verdict.Pass:
			s.Controls = append(s.Controls, scoreControl(c))
		}
	}
	if len(s.Faults) == 0 {
		return nil
	}
	for _, f := range s.Faults {
		s.Detected += b2i(f.Detected)
		s.Attributed += b2i(f.Attributed)
		s.Diagnosed += b2i(f.Diagnosed)
		s.NotRun += b2i(!f.Ran)
	}
	for _, c := range s.Controls {
		s.FalseAlarms += b2i(c.FalseAlarm)
		s.NotRun += b2i(!c.Ran)
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func scoreFault(c ScoredCell) FaultScore {
	f := FaultScore{Fault: c.Fault, Cell: c.Name, Ran: c.Error == "", Diagnoses: c.Outcome.Diagnoses}
	if !f.Ran {
		f.Why = "could not run: " + c.Error
		return f
	}
	var why []string
	f.Detected = c.Outcome.Verdict == verdict.Fail
	if !f.Detected {
		why = append(why, fmt.Sprintf("not detected: verdict %s", c.Outcome.Verdict))
	}
	attr := verdict.Expectation{Verdict: c.Outcome.Verdict, Unauthorized: c.Expect.Unauthorized, Authorized: c.Expect.Authorized}
	var msg string
	f.Attributed, msg = verdict.Match(c.Outcome, attr)
	if !f.Attributed {
		why = append(why, "attribution: "+msg)
	}
	diag := verdict.Expectation{Verdict: c.Outcome.Verdict, Diagnoses: c.Expect.Diagnoses}
	f.Diagnosed, msg = verdict.Match(c.Outcome, diag)
	if len(c.Expect.Diagnoses) == 0 {
		f.Diagnosed, msg = false, "the cell expects no diagnosis"
	}
	if !f.Diagnosed {
		why = append(why, "diagnosis: "+msg)
	}
	f.Why = strings.Join(why, "; ")
	return f
}

func scoreControl(c ScoredCell) ControlScore {
	s := ControlScore{Cell: c.Name, Ran: c.Error == ""}
	if !s.Ran {
		s.Why = "could not run: " + c.Error
		return s
	}
	var why []string
	if c.Outcome.Verdict != verdict.Pass {
		why = append(why, "verdict "+string(c.Outcome.Verdict))
	}
	n := 0
	for _, u := range c.Outcome.Unauthorized {
		if u.Class != ledger.ClassFromRelease {
			n += u.Count
		}
	}
	if n > 0 {
		why = append(why, fmt.Sprintf("%d runner 401s caused by the upgrade", n))
	}
	if len(c.Outcome.Diagnoses) > 0 {
		var ds []string
		for _, d := range c.Outcome.Diagnoses {
			ds = append(ds, d.String())
		}
		why = append(why, "diagnosed "+strings.Join(ds, ", "))
	}
	s.FalseAlarm = len(why) > 0
	s.Why = strings.Join(why, "; ")
	return s
}

// Summary is the score in one line: "7/7 detected, 7/7 attributed, 7/7
// diagnosed, 0/2 false alarms".
func (s *Score) Summary() string {
	if s == nil {
		return ""
	}
	n := len(s.Faults)
	line := fmt.Sprintf("%d/%d detected, %d/%d attributed, %d/%d diagnosed, %d/%d false alarms",
		s.Detected, n, s.Attributed, n, s.Diagnosed, n, s.FalseAlarms, len(s.Controls))
	if s.NotRun > 0 {
		line += fmt.Sprintf(" (%d cells could not run)", s.NotRun)
	}
	return line
}
