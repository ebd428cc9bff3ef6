package report

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// DefaultMaxEvidence is how many evidence lines per rule summary.md shows.
const DefaultMaxEvidence = 10

// RenderMarkdown renders results (already redacted) as the run summary: the
// overall result and exit code first (exit is the code the command exits
// with, as its caller decided; nil leaves it out), a matrix table, then
// details for every failed, mismatched or broken cell.
func RenderMarkdown(results []cellrun.Report, maxEvidence int, exit *Exit) []byte {
	if maxEvidence <= 0 {
		maxEvidence = DefaultMaxEvidence
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", mdText(Summarize(results, exit).Headline))
	fmt.Fprintf(&b, "Upgrade matrix of %s. Timelines (rollouts, session phases, every runner 401 by caller and family): [`%s`](%s), next to this summary in the artifacts.\n\n",
		plural(len(results), "cell", "cells"), HTMLFile, HTMLFile)
	levels := workingLevels(results)
	b.WriteString(workingSentence(levels, len(results)) + "\n\n")
	b.WriteString("| Cell | Expected | Verdict | Outcome | Runner 401s | Duration |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range results {
		expected := string(r.Cell.Expect.Verdict)
		if r.Cell.Expect.Why != "" {
			expected += " — " + r.Cell.Expect.Why
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
			mdCell(cellLabel(r.Cell)), mdCell(expected), mdCell(verdictAtLevel(r, len(levels) > 1)), mdCell(outcomeText(r)),
			mdCell(Format401s(r.Unauthorized)), mdCell(formatDuration(r.Duration)+restartStopNote(r)))
	}
	writeRepeats(&b, Repeats(results))
	for _, r := range results {
		if OutcomeOf(r) == OutcomeAsExpected && r.Verdict != verdict.Fail && len(r.Unauthorized) == 0 {
			continue
		}
		writeCellDetails(&b, r, maxEvidence)
	}
	out := b.String()
	for strings.Contains(out, "\n\n\n") {
		out = strings.ReplaceAll(out, "\n\n\n", "\n\n")
	}
	return []byte(out)
}

// restartStopNote is the Duration column's note on how long the restarted
// session's old runner took to stop, part of the cell's time and a finding
// when it ran out its grace period ("" when no restart ran).
func restartStopNote(r cellrun.Report) string {
	if r.RestartStop == nil {
		return ""
	}
	return " (restart: " + r.RestartStop.Reason + ")"
}

// workingOf is the working level r was judged at (a result written before
// levels existed was judged at the default).
func workingOf(r cellrun.Report) verdict.WorkingLevel {
	return r.Working.Or(verdict.DefaultWorkingLevel)
}

// workingLevels lists the levels the results were judged at, in
// verdict.WorkingLevels order, each with how many cells used it.
func workingLevels(results []cellrun.Report) map[verdict.WorkingLevel]int {
	n := map[verdict.WorkingLevel]int{}
	for _, r := range results {
		n[workingOf(r)]++
	}
	return n
}

// workingSentence states what counted as a working session in this run.
func workingSentence(levels map[verdict.WorkingLevel]int, cells int) string {
	if len(levels) == 1 {
		for l := range levels {
			what := "every cell"
			if cells == 1 {
				what = "the cell"
			}
			return fmt.Sprintf("Working level **%s** in %s: a session counted as working once %s.", l, what, l.Meaning())
		}
	}
	var parts []string
	for _, l := range verdict.WorkingLevels {
		if n := levels[l]; n > 0 {
			parts = append(parts, fmt.Sprintf("**%s** in %s (%s)", l, plural(n, "cell", "cells"), l.Meaning()))
		}
	}
	return "Working levels: " + strings.Join(parts, "; ") + ". The Verdict column names each cell's."
}

// writeWorking says what the cell's verdict needed of a working session.
func writeWorking(b *strings.Builder, r cellrun.Report) {
	fmt.Fprintf(b, "Working level: **%s** (a session counted as working once %s).\n\n", workingOf(r), workingOf(r).Meaning())
}

// verdictAtLevel is the verdict column, naming the level when the run mixed them.
func verdictAtLevel(r cellrun.Report, mixed bool) string {
	v := verdictText(r)
	if mixed && OutcomeOf(r) != OutcomeInfrastructure && OutcomeOf(r) != OutcomeInterrupted {
		v += " at " + string(workingOf(r))
	}
	return v
}

func cellLabel(c upgrade.Cell) string {
	label := Title(c)
	if c.Catalog != "" {
		label += " (" + c.Catalog + ")"
	}
	if !c.Overrides.IsZero() {
		label += " overrides: " + FormatOverrides(c.Overrides)
	}
	return label
}

// outcomeMark is the outcome as one sign: ✓ as expected, ✗ regression,
// ⚠ infrastructure error, ⏹ interrupted.
func outcomeMark(r cellrun.Report) string {
	switch OutcomeOf(r) {
	case OutcomeAsExpected:
		return "✓"
	case OutcomeRegression:
		return "✗"
	case OutcomeInfrastructure:
		return "⚠"
	}
	return "⏹"
}

// outcomeText is the outcome column: "✓ as expected", "⚠ infrastructure
// error: deploy v0.2.0".
func outcomeText(r cellrun.Report) string {
	switch OutcomeOf(r) {
	case OutcomeAsExpected:
		return "✓ as expected"
	case OutcomeRegression:
		return "✗ regression"
	case OutcomeInfrastructure:
		return "⚠ infrastructure error: " + InfraFailureOf(r).Step
	}
	return "⏹ interrupted"
}

// verdictText is the verdict column; a cell that could not run has none.
func verdictText(r cellrun.Report) string {
	switch OutcomeOf(r) {
	case OutcomeInfrastructure, OutcomeInterrupted:
		return "none (did not run to the end)"
	}
	return string(r.Verdict)
}

func writeCellDetails(b *strings.Builder, r cellrun.Report, maxEvidence int) {
	fmt.Fprintf(b, "\n### %s %s\n\n", outcomeMark(r), mdText(cellLabel(r.Cell)))
	switch OutcomeOf(r) {
	case OutcomeInfrastructure:
		f := InfraFailureOf(r)
		fmt.Fprintf(b, "**Infrastructure error** in step `%s`: %s\n\n", mdCode(f.Step), mdText(f.Error))
		fmt.Fprintf(b, "**Try:** %s\n\n", mdText(f.Try))
	case OutcomeInterrupted:
		fmt.Fprintf(b, "**Interrupted:** %s\n\n", mdText(OneLine(r.Error)))
	case OutcomeRegression:
		fmt.Fprintf(b, "**Regression:** %s\n\n", mdText(cellMismatch(r)))
		writeWorking(b, r)
	default:
		// Details are written for failed cells and for passed cells with
		// broken informational rules (the from release's own 401s).
		fmt.Fprintf(b, "%s as expected (%s).\n\n", verdictWord(r.Verdict), mdText(r.Cell.Expect.Why))
		writeWorking(b, r)
	}
	write401s(b, r)
	if r.RestartStop != nil {
		fmt.Fprintf(b, "**Restart:** %s.\n\n", mdText(r.RestartStop.Reason))
	}
	if broken := brokenRules(r); len(broken) > 0 {
		b.WriteString("**Broken rules**\n\n")
		for _, rr := range broken {
			status, _ := ruleOutcome(r, rr)
			note := ""
			switch {
			case rr.Informational:
				note = " (informational)"
			case status != ruleFailed:
				note = " (expected)"
			}
			fmt.Fprintf(b, "- `%s` — %s%s: %s\n", rr.Rule, rr.Verdict, note, mdText(OneLine(rr.Reason)))
			if len(rr.Evidence) > 0 {
				var ev strings.Builder
				writeEvidence(&ev, rr, maxEvidence, "")
				fmt.Fprintf(b, "\n  ```text\n%s  ```\n", indentLines(ev.String(), "  "))
			}
		}
		b.WriteString("\n")
	}
	writeDiagnosis(b, r)
	if r.Repro != "" {
		fmt.Fprintf(b, "Repro:\n\n```sh\n%s\n```\n\n", r.Repro)
	}
	if r.BundleDir != "" {
		fmt.Fprintf(b, "Bundle: `%s`\n\n", mdCode(r.BundleDir))
	}
	if r.KeptCluster != "" {
		fmt.Fprintf(b, "Kept cluster (kind cluster / kubectl context): `%s`\n\n", mdCode(r.KeptCluster))
	}
}

// write401s lists the cell's runner 401s by caller and runner release: those
// the upgrade caused, then the from release's own ("already broken before the
// upgrade"), which never fail the upgrade but are never hidden either.
func write401s(b *strings.Builder, r cellrun.Report) {
	var caused, own []verdict.Count401
	for _, c := range r.Unauthorized {
		if c.Class == ledger.ClassFromRelease {
			own = append(own, c)
		} else {
			caused = append(caused, c)
		}
	}
	if len(caused) > 0 {
		b.WriteString("**Runner 401s caused by the upgrade**\n\n")
		for _, c := range caused {
			fmt.Fprintf(b, "- %s\n", mdText(Format401Pair(c)))
		}
		b.WriteString("\n")
	}
	if len(own) > 0 {
		total := 0
		for _, c := range own {
			total += c.Count
		}
		fmt.Fprintf(b, "**Already broken before the upgrade** (%s's own 401s, %d in all; they do not fail the upgrade)\n\n", mdText(r.Cell.From), total)
		for _, c := range own {
			fmt.Fprintf(b, "- %s\n", mdText(Format401Pair(c)))
		}
		b.WriteString("\n")
	}
}

func indentLines(s, indent string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(indent + strings.ReplaceAll(l, "```", "'''"))
		}
	}
	return b.String()
}

// mdText escapes text so redaction markers and HTML-looking text stay visible.
func mdText(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}

func mdCell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }

func mdCode(s string) string { return strings.ReplaceAll(s, "`", "'") }

// verdictWord is the verdict as the start of a sentence: "Failed", "Passed".
func verdictWord(v verdict.Verdict) string {
	switch v {
	case verdict.Pass:
		return "Passed"
	case verdict.Fail:
		return "Failed"
	}
	return "Ended " + string(v)
}
