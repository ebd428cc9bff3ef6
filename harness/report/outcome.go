package report

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// Outcome is what one cell's result means for the run. Every report (the
// headline, the matrix tables, JUnit, results.json) classifies a cell by it,
// so a cell that could not run never reads like a verdict.
type Outcome string

const (
	// OutcomeAsExpected: the cell ran and gave the verdict its catalog expects.
	OutcomeAsExpected Outcome = "as-expected"
	// OutcomeRegression: the cell ran and its verdict (or a pinned rule)
	// differs from the expectation, a regression or an unexpected pass.
	OutcomeRegression Outcome = "regression"
	// OutcomeInfrastructure: the cell could not run to a verdict (cluster,
	// engine, image or rollout failed); see InfraFailureOf.
	OutcomeInfrastructure Outcome = "infrastructure-error"
	// OutcomeInterrupted: a signal stopped the cell; it decided nothing.
	OutcomeInterrupted Outcome = "interrupted"
)

// OutcomeOf classifies one result.
func OutcomeOf(r cellrun.Report) Outcome {
	switch {
	case r.Interrupted != "":
		return OutcomeInterrupted
	case r.Error != "":
		return OutcomeInfrastructure
	case r.Matched:
		return OutcomeAsExpected
	}
	return OutcomeRegression
}

// Counts are the outcomes of a run's cells (each run of a repeated cell counts).
type Counts struct {
	Cells          int `json:"cells"`
	AsExpected     int `json:"asExpected"`
	Regressions    int `json:"regressions"`
	Infrastructure int `json:"infrastructureErrors"`
	Interrupted    int `json:"interrupted"`
	// Flaky counts repeated cells whose runs gave different verdicts.
	Flaky int `json:"flaky"`
}

// CountOutcomes counts the outcomes of results. It is pure: the exit code is
// decided by the caller (the matrix) and passed to the reports as it is.
func CountOutcomes(results []cellrun.Report) Counts {
	c := Counts{Cells: len(results), Flaky: len(Flaky(results))}
	for _, r := range results {
		switch OutcomeOf(r) {
		case OutcomeAsExpected:
			c.AsExpected++
		case OutcomeRegression:
			c.Regressions++
		case OutcomeInfrastructure:
			c.Infrastructure++
		case OutcomeInterrupted:
			c.Interrupted++
		}
	}
	return c
}

// RunSummary is the run's overall result as results.json carries it.
type RunSummary struct {
	// Result is PASS, FAIL, ERROR, INTERRUPTED or BAD INPUT.
	Result   string `json:"result"`
	Headline string `json:"headline"`
	// ExitCode is the code the command exits with; absent when the caller did
	// not say.
	ExitCode *int `json:"exitCode,omitempty"`
	Counts
}

// Exit is how the run ends, as its driver decided it: the kind of its
// outcome (harness/fault) and the exit code the command maps it to (nil: the
// caller did not say).
type Exit struct {
	Kind fault.Kind
	Code *int
}

// ExitOf is the Exit of a run whose outcome is the typed error outcome (nil:
// every cell as expected); code is the command's mapping from outcome to
// exit code (nil leaves the code out).
func ExitOf(outcome error, code func(error) int) *Exit {
	e := &Exit{Kind: fault.KindOf(outcome)}
	if code != nil {
		c := code(outcome)
		e.Code = &c
	}
	return e
}

// Summarize returns the overall result of results. exit is how the run ends,
// as its caller decided it (nil: not known; the result word then comes from
// the counts and the headline names no code).
func Summarize(results []cellrun.Report, exit *Exit) RunSummary {
	c := CountOutcomes(results)
	s := RunSummary{Result: resultWord(c, exit), Counts: c}
	if exit != nil {
		s.ExitCode = exit.Code
	}
	s.Headline = s.Result + " — " + outcomeList(c)
	if s.ExitCode != nil {
		s.Headline += fmt.Sprintf("; exit %d", *s.ExitCode)
	}
	return s
}

func resultWord(c Counts, exit *Exit) string {
	if exit != nil {
		switch exit.Kind {
		case fault.KindNone:
			return "PASS"
		case fault.KindRegression:
			return "FAIL"
		case fault.KindBadInput:
			return "BAD INPUT"
		case fault.KindInterrupted:
			return "INTERRUPTED"
		}
		return "ERROR" // infrastructure, or an error of no known kind
	}
	switch {
	case c.Regressions > 0 || c.Flaky > 0:
		return "FAIL"
	case c.Interrupted > 0:
		return "INTERRUPTED"
	case c.Infrastructure > 0 || c.Cells == 0:
		return "ERROR"
	}
	return "PASS"
}

// outcomeList says what made the result: "1 regression, 1 infrastructure
// error, 2 of 4 cells as expected", or "4 cells as expected".
func outcomeList(c Counts) string {
	if c.Cells == 0 {
		return "no cell ran"
	}
	var parts []string
	add := func(n int, one, many string) {
		if n > 0 {
			parts = append(parts, plural(n, one, many))
		}
	}
	add(c.Regressions, "regression", "regressions")
	add(c.Flaky, "flaky cell", "flaky cells")
	add(c.Infrastructure, "infrastructure error", "infrastructure errors")
	add(c.Interrupted, "interrupted cell", "interrupted cells")
	if len(parts) == 0 {
		return plural(c.Cells, "cell", "cells") + " as expected"
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(", %d of %s as expected", c.AsExpected, plural(c.Cells, "cell", "cells"))
}

// plural writes n with the noun in the right number: "1 cell", "2 cells".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Title names a cell in every report: "v0.2.0 → v0.2.2 [all-at-once]", and
// for a rollback cell "v0.2.0 → v0.2.2 → v0.2.0 (rollback) [all-at-once]".
func Title(c upgrade.Cell) string { return title(c, "→") }

func title(c upgrade.Cell, arrow string) string {
	t := c.From + " " + arrow + " " + c.To
	if c.Rollback {
		t += " " + arrow + " " + c.From + " (rollback)"
	}
	return t + " [" + orderOf(c) + "]"
}
