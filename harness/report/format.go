package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// FormatObservation renders one ledger entry on one line, for JUnit bodies,
// summaries and ledger.txt. Empty fields are left out.
func FormatObservation(o ledger.Observation) string {
	parts := []string{o.Time.UTC().Format("2006-01-02T15:04:05.000Z")}
	if o.Phase != "" {
		parts = append(parts, "["+string(o.Phase)+"]")
	}
	parts = append(parts, string(o.Signal))
	if o.Caller != "" {
		caller := "caller=" + string(o.Caller)
		if o.CallerRelease != "" {
			caller += "@" + o.CallerRelease
		}
		if o.CallerPod != "" {
			caller += "(" + o.CallerPod + ")"
		}
		parts = append(parts, caller)
	}
	if o.RunnerRelease != "" {
		parts = append(parts, "runner@"+o.RunnerRelease)
	}
	if o.Class != "" {
		parts = append(parts, "class="+string(o.Class))
	}
	if o.Method != "" || o.Path != "" {
		parts = append(parts, strings.TrimSpace(o.Method+" "+o.Path))
	}
	if o.Status != 0 {
		parts = append(parts, fmt.Sprintf("status=%d", o.Status))
	}
	if o.RunnerPod != "" && o.Wire != nil {
		parts = append(parts, "runner="+o.RunnerPod)
	}
	if w := o.Wire; w != nil {
		// Header names and token fingerprints: the wire witness never records a value.
		parts = append(parts, "headers=["+strings.Join(w.HeaderNames, ", ")+"]")
		tokens := make([]string, 0, len(w.TokenHeaders))
		for _, h := range w.TokenHeaders {
			fp := h.Fingerprint
			if h.Bearer {
				fp = "Bearer " + fp
			}
			tokens = append(tokens, h.Name+": "+fp)
		}
		if len(tokens) == 0 {
			parts = append(parts, "no-token-header")
		} else {
			parts = append(parts, "tokens=["+strings.Join(tokens, "; ")+"]")
		}
	}
	if o.Session != "" {
		parts = append(parts, "session="+o.Namespace+"/"+o.Session)
	} else if o.Namespace != "" {
		parts = append(parts, "ns="+o.Namespace)
	}
	if o.Role != "" {
		parts = append(parts, "role="+o.Role)
	}
	if o.Source != "" {
		parts = append(parts, "from="+o.Source)
	}
	line := strings.Join(parts, " ")
	if o.Detail != "" {
		// Keep the raw line's spacing (uvicorn pads after "INFO:"); only fold line breaks.
		line += " | " + strings.NewReplacer("\r\n", " ⏎ ", "\n", " ⏎ ", "\r", " ⏎ ").Replace(strings.TrimRight(o.Detail, "\r\n"))
	}
	return line
}

// Format401s renders runner 401 counts as "backend / ×12, operator /workflow
// ×4 (3 from-release)", summed per caller and path family, sorted by caller
// then path; "none" when there are none.
func Format401s(counts []verdict.Count401) string {
	type key struct {
		caller ledger.Caller
		path   string
	}
	total, fromRelease := map[key]int{}, map[key]int{}
	var keys []key
	for _, c := range counts {
		if c.Count == 0 {
			continue
		}
		k := key{c.Caller, c.Path}
		if _, seen := total[k]; !seen {
			keys = append(keys, k)
		}
		total[k] += c.Count
		if c.Class == ledger.ClassFromRelease {
			fromRelease[k] += c.Count
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].caller != keys[j].caller {
			return keys[i].caller < keys[j].caller
		}
		return keys[i].path < keys[j].path
	})
	var parts []string
	for _, k := range keys {
		p := fmt.Sprintf("%s %s ×%d", k.caller, k.path, total[k])
		if n := fromRelease[k]; n > 0 {
			p += fmt.Sprintf(" (%d from-release)", n)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Format401Pair renders one count with the releases on both sides, e.g.
// "operator@v0.2.2 → runner@v0.2.2 POST /repos/add 401 ×2".
func Format401Pair(c verdict.Count401) string {
	side := func(who, release string) string {
		if release == "" {
			release = verdict.UnknownRelease
		}
		return who + "@" + release
	}
	return fmt.Sprintf("%s → %s %s 401 ×%d", side(string(c.Caller), c.CallerRelease), side("runner", c.RunnerRelease),
		strings.TrimSpace(c.Method+" "+c.Path), c.Count)
}

// CaseName is the JUnit test case name of a cell: Title with ASCII arrows,
// "upgrade v0.2.0 -> v0.2.2 [all-at-once]" (test names CI has tracked), and
// "upgrade v0.2.0 -> v0.2.2 -> v0.2.0 (rollback) [all-at-once]" for a rollback cell.
func CaseName(c upgrade.Cell) string { return "upgrade " + title(c, "->") }

// runCaseName is CaseName with the run number of a repeated cell.
func runCaseName(r cellrun.Report) string {
	if r.Run > 0 {
		return fmt.Sprintf("%s (run %d)", CaseName(r.Cell), r.Run)
	}
	return CaseName(r.Cell)
}

func orderOf(c upgrade.Cell) string {
	if c.Order.Text == "" {
		return upgrade.OrderAllAtOnce
	}
	return c.Order.Text
}

// OneLine folds s onto one line, its runs of white space made one space.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// ruleStatus is how a rule shows up in reports.
type ruleStatus int

const (
	rulePassed ruleStatus = iota
	ruleFailed
	// ruleInconclusive: the rule could not decide where the cell did not
	// expect that (JUnitInconclusive says how JUnit writes it).
	ruleInconclusive
)

// ruleOutcome compares one rule with the cell's expectation: a pinned rule must
// equal its pin; an informational rule decides nothing; otherwise a failing
// rule is a failure only where the cell is expected to pass (in a cell
// expected to fail it is the regression being reproduced), and an
// inconclusive rule is inconclusive unless the cell expected inconclusive.
func ruleOutcome(r cellrun.Report, rr verdict.RuleResult) (ruleStatus, string) {
	if pinned, ok := r.Cell.Expect.Rules[rr.Rule]; ok {
		if rr.Verdict == pinned {
			return rulePassed, ""
		}
		return ruleFailed, fmt.Sprintf("expected %s (pinned), got %s: %s", pinned, rr.Verdict, rr.Reason)
	}
	switch {
	case rr.Informational:
		return rulePassed, ""
	case rr.Verdict == verdict.Inconclusive && r.Cell.Expect.Verdict != verdict.Inconclusive:
		return ruleInconclusive, "inconclusive: " + rr.Reason
	case rr.Verdict == verdict.Fail && r.Cell.Expect.Verdict == verdict.Pass:
		return ruleFailed, rr.Reason
	}
	return rulePassed, ""
}

// brokenRules are the rules a reader of a failed or mismatched cell should see:
// every failing rule and every rule that broke its pin.
func brokenRules(r cellrun.Report) []verdict.RuleResult {
	var out []verdict.RuleResult
	for _, rr := range r.Rules {
		status, _ := ruleOutcome(r, rr)
		if rr.Verdict == verdict.Fail || status == ruleFailed {
			out = append(out, rr)
		}
	}
	return out
}

// cellMismatch explains why a cell did not match, or "" when it did; it
// states the expectation once.
func cellMismatch(r cellrun.Report) string {
	reason := mismatchReason(r)
	if OutcomeOf(r) != OutcomeRegression {
		return reason
	}
	if r.Verdict == r.Cell.Expect.Verdict {
		return fmt.Sprintf("verdict %s as expected, but %s", r.Verdict, reason)
	}
	expected := string(r.Cell.Expect.Verdict)
	if r.Cell.Expect.Why != "" {
		expected += " (" + OneLine(r.Cell.Expect.Why) + ")"
	}
	msg := fmt.Sprintf("expected %s, got %s", expected, r.Verdict)
	if reason != "" {
		msg += "; " + reason
	}
	return msg
}

// mismatchReason is why a cell did not match, without restating what it
// expected and got (a page that shows those already adds only this); "" when
// it matched.
func mismatchReason(r cellrun.Report) string {
	switch OutcomeOf(r) {
	case OutcomeInterrupted:
		return "interrupted: " + OneLine(r.Error)
	case OutcomeInfrastructure:
		f := InfraFailureOf(r)
		return fmt.Sprintf("infrastructure error in step %s: %s", f.Step, f.Error)
	case OutcomeAsExpected:
		return ""
	}
	if r.Verdict != r.Cell.Expect.Verdict {
		var failing, undecided []string
		for _, rr := range brokenRules(r) {
			failing = append(failing, rr.Rule)
		}
		for _, rr := range r.Rules {
			if rr.Verdict == verdict.Inconclusive && !rr.Informational {
				undecided = append(undecided, rr.Rule)
			}
		}
		switch {
		case len(failing) > 0:
			return "failing rules: " + strings.Join(failing, ", ")
		case r.Cell.Expect.Verdict == verdict.Fail:
			return "no rule failed: the expected regression was not reproduced"
		case len(undecided) > 0:
			return "inconclusive rules: " + strings.Join(undecided, ", ")
		}
		return ""
	}
	var pins []string
	for _, rr := range r.Rules {
		if status, why := ruleOutcome(r, rr); status == ruleFailed {
			if _, pinned := r.Cell.Expect.Rules[rr.Rule]; pinned {
				pins = append(pins, rr.Rule+": "+why)
			}
		}
	}
	if len(pins) > 0 {
		return "pinned rules differ: " + strings.Join(pins, "; ")
	}
	if r.Mismatch != "" {
		// verdict.Match appends the expectation's why, which the caller states.
		return OneLine(strings.TrimSuffix(r.Mismatch, " [expectation: "+r.Cell.Expect.Why+"]"))
	}
	return "marked not matched"
}
