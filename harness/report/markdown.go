package report

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// DefaultMaxEvidence is how many evidence lines per rule summary.md shows.
const DefaultMaxEvidence = 10

// RenderMarkdown renders results (already redacted) as the run summary: a
// matrix table, then details for every failed, mismatched or broken cell.
func RenderMarkdown(results []verdict.CellResult, maxEvidence int) []byte {
	if maxEvidence <= 0 {
		maxEvidence = DefaultMaxEvidence
	}
	mismatched := 0
	for _, r := range results {
		if !r.Matched || r.Error != "" {
			mismatched++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Upgrade matrix: %d cells, %d matched, %d not matched\n\n", len(results), len(results)-mismatched, mismatched)
	b.WriteString("| Cell | Expected | Verdict | Matched | Runner 401s | Duration |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range results {
		expected := string(r.Expected.Verdict)
		if r.Expected.Why != "" {
			expected += " — " + r.Expected.Why
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
			mdCell(cellLabel(r.Cell)), mdCell(expected), mdCell(string(r.Verdict)), matchMark(r),
			mdCell(Format401s(r.Unauthorized)), formatDuration(r.Duration))
	}
	for _, r := range results {
		if r.Matched && r.Error == "" && r.Verdict != verdict.Fail {
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

func cellLabel(c verdict.Cell) string {
	label := fmt.Sprintf("%s → %s [%s]", c.From, c.To, orderOf(c))
	if c.Catalog != "" {
		label += " (" + c.Catalog + ")"
	}
	if len(c.Overrides) > 0 {
		label += " overrides: " + FormatOverrides(c.Overrides)
	}
	return label
}

func matchMark(r verdict.CellResult) string {
	if r.Matched && r.Error == "" {
		return "✓"
	}
	return "✗"
}

func writeCellDetails(b *strings.Builder, r verdict.CellResult, maxEvidence int) {
	fmt.Fprintf(b, "\n### %s %s\n\n", matchMark(r), mdText(cellLabel(r.Cell)))
	if msg := cellMismatch(r); msg != "" {
		fmt.Fprintf(b, "**Not matched:** %s\n\n", mdText(msg))
	} else {
		fmt.Fprintf(b, "Failed as expected (%s).\n\n", mdText(r.Expected.Why))
	}
	if broken := brokenRules(r); len(broken) > 0 {
		b.WriteString("**Broken rules**\n\n")
		for _, rr := range broken {
			status, _ := ruleOutcome(r, rr)
			note := ""
			if status != ruleFailed {
				note = " (expected)"
			}
			fmt.Fprintf(b, "- `%s` — %s%s: %s\n", rr.Rule, rr.Verdict, note, mdText(oneLine(rr.Reason)))
			if len(rr.Evidence) > 0 {
				var ev strings.Builder
				writeEvidence(&ev, rr, maxEvidence, "")
				fmt.Fprintf(b, "\n  ```text\n%s  ```\n", indentLines(ev.String(), "  "))
			}
		}
		b.WriteString("\n")
	}
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
