package report

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/report/htmlreport"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// BisectSection is a bisect's answer as the reports show it (WriteInput.Bisect):
// first in summary.md, "bisect" in results.json, the headline and a steps
// table in report.html. The steps' cells are the run's results.
type BisectSection struct {
	Catalog string `json:"catalog"`
	From    string `json:"from"`
	// Builds are the build names, oldest first.
	Builds []string `json:"builds"`
	// Status is how the search ended (found, range, none-bad, good-is-bad, inconclusive, infrastructure, interrupted).
	Status   string `json:"status"`
	Sentence string `json:"sentence"`
	LastGood string `json:"lastGood,omitempty"`
	FirstBad string `json:"firstBad,omitempty"`
	// Candidates: the first bad build is one of these (status range).
	Candidates []string     `json:"candidates,omitempty"`
	Skipped    []string     `json:"skipped,omitempty"`
	Steps      []BisectStep `json:"steps"`
	// Cells run (retries included), the worst case planned, and the cells a
	// linear scan of the same builds would have run to the same answer (-1
	// when there is no first bad build to compare with).
	Cells       int           `json:"cells"`
	WorstCase   int           `json:"worstCaseCells"`
	LinearCells int           `json:"linearScanCells"`
	Took        time.Duration `json:"took"`
	// Repro reproduces the first bad build's cell; Diagnosis is its diagnosis.
	Repro     string   `json:"repro,omitempty"`
	Diagnosis []string `json:"diagnosis,omitempty"`
	// SweepError says why the compatibility sweep could not run.
	SweepError string `json:"sweepError,omitempty"`
}

// BisectStep is one cell of a bisect.
type BisectStep struct {
	Build   string        `json:"build"`
	Role    string        `json:"role"`
	Attempt int           `json:"attempt"`
	Verdict string        `json:"verdict"`
	Runner  string        `json:"runner401s"`
	Took    time.Duration `json:"duration"`
	Error   string        `json:"error,omitempty"`
}

// Headline is the answer's first line: "first bad build: NAME" when found.
func (s BisectSection) Headline() string {
	if s.Status == "found" {
		return "first bad build: " + s.FirstBad
	}
	return "bisect " + s.Status + ": " + s.Sentence
}

// RenderBisectMarkdown is the bisect's section of summary.md.
func RenderBisectMarkdown(s BisectSection) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "## Bisect: %s\n\n", mdText(s.Headline()))
	fmt.Fprintf(&b, "From %s (catalog %s) over %s: %s.\n\n", mdText(s.From), mdText(s.Catalog), plural(len(s.Builds), "build", "builds"), mdText(s.Sentence))
	if s.LastGood != "" {
		fmt.Fprintf(&b, "- Last good build: %s\n", mdText(s.LastGood))
	}
	if s.FirstBad != "" {
		fmt.Fprintf(&b, "- First bad build: %s\n", mdText(s.FirstBad))
	}
	if len(s.Candidates) > 0 {
		fmt.Fprintf(&b, "- Not narrowed: the first bad build is one of %s (skipped: %s)\n", mdText(strings.Join(s.Candidates, ", ")), mdText(strings.Join(s.Skipped, ", ")))
	}
	linear := "n/a (no first bad build)"
	if s.LinearCells >= 0 {
		linear = fmt.Sprint(s.LinearCells)
	}
	fmt.Fprintf(&b, "- Cells: %d run (worst case %d; a linear scan of the same builds: %s), %s\n", s.Cells, s.WorstCase, linear, formatDuration(s.Took))
	if s.Repro != "" {
		fmt.Fprintf(&b, "- Repro of the first bad build: `%s`\n", mdCode(s.Repro))
	}
	for _, d := range s.Diagnosis {
		fmt.Fprintf(&b, "- Diagnosis: %s\n", mdText(d))
	}
	if s.SweepError != "" {
		fmt.Fprintf(&b, "- Compatibility sweep could not run: %s\n", mdText(OneLine(s.SweepError)))
	}
	b.WriteString("\n| # | Build | Step | Verdict | Runner 401s | Duration |\n|---|---|---|---|---|---|\n")
	for i, st := range bisectRows(s) {
		fmt.Fprintf(&b, "| %d | %s |\n", i+1, strings.Join(mdCells(st), " | "))
	}
	b.WriteString("\n")
	return []byte(b.String())
}

func mdCells(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = mdCell(c)
	}
	return out
}

// bisectRows are the steps as table rows: build, step, verdict, 401s, duration.
func bisectRows(s BisectSection) [][]string {
	var rows [][]string
	for _, st := range s.Steps {
		role := st.Role
		if st.Attempt > 1 {
			role += " (retry)"
		}
		v := st.Verdict
		if st.Error != "" {
			v += " — could not run: " + OneLine(st.Error)
		}
		rows = append(rows, []string{st.Build, role, v, st.Runner, formatDuration(st.Took)})
	}
	return rows
}

// compatTable is a compatibility sweep as report.html shows it: the table
// of summary.md's compatibility section.
func compatTable(c diagnose.Compat) htmlreport.Table {
	t := c.Table()
	out := htmlreport.Table{Title: fmt.Sprintf("Compatibility %s → %s: %s", c.From, c.To, c.Sentence), Header: append([]string{"Caller", "Family"}, t.Columns...)}
	for _, r := range t.Rows {
		row := []string{string(r.Caller) + " " + r.CallerVersion, r.Method + " " + r.Path}
		for _, cell := range r.Cells {
			row = append(row, cell.Text())
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// writeBisectHTML writes report.html headed by the bisect's answer, with its
// steps on the first cell and the answer on the first bad build's cell.
func writeBisectHTML(dir string, results []cellrun.Report, r *secrets.Redactor, s BisectSection, compat []diagnose.Compat) error {
	first := true
	page, err := htmlreport.Render(htmlreport.Input{Results: results, Describe: FormatObservation, Headline: s.Headline(), Cell: cellText,
		Tables: func(res cellrun.Report) []htmlreport.Table {
			var ts []htmlreport.Table
			if first {
				first = false
				rows := [][]string{}
				for i, row := range bisectRows(s) {
					rows = append(rows, append([]string{fmt.Sprint(i + 1)}, row...))
				}
				ts = append(ts, htmlreport.Table{Title: fmt.Sprintf("Bisect from %s: %s (%d cells; worst case %d; linear scan %d)", s.From, s.Sentence, s.Cells, s.WorstCase, s.LinearCells),
					Header: []string{"#", "Build", "Step", "Verdict", "Runner 401s", "Duration"}, Rows: rows})
			}
			if res.Cell.To != s.FirstBad || res.Verdict == verdict.Pass {
				return append(ts, diagnosisTable(res)...)
			}
			if s.Repro != "" {
				ts = append(ts, htmlreport.Table{Title: "First bad build " + s.FirstBad, Header: []string{"What", ""},
					Rows: [][]string{{"last good build", s.LastGood}, {"repro", s.Repro}}})
			}
			ts = append(ts, diagnosisTable(res)...)
			for _, c := range compat {
				ts = append(ts, compatTable(c))
			}
			return ts
		}})
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, HTMLFile), redactHTML(page, r))
}
