package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
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
		if o.CallerPod != "" {
			caller += "(" + o.CallerPod + ")"
		}
		parts = append(parts, caller)
	}
	if o.Method != "" || o.Path != "" {
		parts = append(parts, strings.TrimSpace(o.Method+" "+o.Path))
	}
	if o.Status != 0 {
		parts = append(parts, fmt.Sprintf("status=%d", o.Status))
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

// Format401s renders runner 401 counts as "backend / ×12, operator /workflow ×4",
// sorted by caller then path; "none" when there are none.
func Format401s(counts []verdict.Count401) string {
	sorted := append([]verdict.Count401(nil), counts...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Caller != sorted[j].Caller {
			return sorted[i].Caller < sorted[j].Caller
		}
		return sorted[i].Path < sorted[j].Path
	})
	var parts []string
	for _, c := range sorted {
		if c.Count == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s ×%d", c.Caller, c.Path, c.Count))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// CaseName is the JUnit test case name of a cell: "upgrade v0.2.0 -> v0.2.2 [all-at-once]".
func CaseName(c verdict.Cell) string {
	return fmt.Sprintf("upgrade %s -> %s [%s]", c.From, c.To, orderOf(c))
}

func orderOf(c verdict.Cell) string {
	if c.Order == "" {
		return "all-at-once"
	}
	return c.Order
}

func oneLine(s string) string {
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
	ruleSkipped
)

// ruleOutcome compares one rule with the cell's expectation: a pinned rule must
// equal its pin; otherwise a failing rule is a failure only where the cell is
// expected to pass (in a cell expected to fail it is the regression being
// reproduced), and an inconclusive rule is skipped.
func ruleOutcome(r verdict.CellResult, rr verdict.RuleResult) (ruleStatus, string) {
	if pinned, ok := r.Expected.Rules[rr.Rule]; ok {
		if rr.Verdict == pinned {
			return rulePassed, ""
		}
		return ruleFailed, fmt.Sprintf("expected %s (pinned), got %s: %s", pinned, rr.Verdict, rr.Reason)
	}
	switch {
	case rr.Verdict == verdict.Inconclusive:
		return ruleSkipped, "inconclusive: " + rr.Reason
	case rr.Verdict == verdict.Fail && r.Expected.Verdict == verdict.Pass:
		return ruleFailed, rr.Reason
	}
	return rulePassed, ""
}

// brokenRules are the rules a reader of a failed or mismatched cell should see:
// every failing rule and every rule that broke its pin.
func brokenRules(r verdict.CellResult) []verdict.RuleResult {
	var out []verdict.RuleResult
	for _, rr := range r.Rules {
		status, _ := ruleOutcome(r, rr)
		if rr.Verdict == verdict.Fail || status == ruleFailed {
			out = append(out, rr)
		}
	}
	return out
}

// cellMismatch explains why a cell did not match, or "" when it did.
func cellMismatch(r verdict.CellResult) string {
	if r.Error != "" {
		return "infrastructure: " + oneLine(r.Error)
	}
	if r.Matched {
		return ""
	}
	expected := string(r.Expected.Verdict)
	if r.Expected.Why != "" {
		expected += " (" + oneLine(r.Expected.Why) + ")"
	}
	if r.Verdict != r.Expected.Verdict {
		msg := fmt.Sprintf("expected %s, got %s", expected, r.Verdict)
		var names []string
		for _, rr := range brokenRules(r) {
			names = append(names, rr.Rule)
		}
		if len(names) > 0 {
			msg += "; failing rules: " + strings.Join(names, ", ")
		} else if r.Expected.Verdict == verdict.Fail {
			msg += "; no rule failed: the expected regression was not reproduced"
		}
		return msg
	}
	var pins []string
	for _, rr := range r.Rules {
		if status, why := ruleOutcome(r, rr); status == ruleFailed {
			if _, pinned := r.Expected.Rules[rr.Rule]; pinned {
				pins = append(pins, rr.Rule+": "+why)
			}
		}
	}
	if len(pins) > 0 {
		return fmt.Sprintf("verdict %s as expected, but pinned rules differ: %s", r.Verdict, strings.Join(pins, "; "))
	}
	return fmt.Sprintf("verdict %s, expected %s (marked not matched)", r.Verdict, expected)
}
