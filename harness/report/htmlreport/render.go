// Package htmlreport renders a run as one self-contained HTML page: the matrix
// overview, then per cell a timeline (an inline SVG: component rollouts,
// session phases, every runner 401 on its caller → family lane, the phase
// bands of the upgrade), the rules with their evidence and the repro line.
// The page loads nothing: no script, no stylesheet, no image, no font from
// anywhere. It is rendered with html/template, so every value is escaped; the
// caller passes results that are already redacted.
package htmlreport

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"sort"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// DefaultMaxEvidence is how many evidence entries per rule the page shows.
const DefaultMaxEvidence = 40

// Table is an extra per-cell table (e.g. a diagnosis or a compatibility
// table). A cell without tables renders no section for them.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
}

// CellText is how the reports name and classify one cell.
type CellText struct {
	// Title names the cell: "v0.2.0 → v0.2.2 → v0.2.0 (rollback) [all-at-once]".
	Title string
	// Outcome is "as-expected", "regression", "infrastructure-error" or
	// "interrupted"; Mark its sign (✓ ✗ ⚠ ⏹) and Text its words.
	Outcome, Mark, Text string
	// Explain says why the cell is not as expected without restating what
	// it expected and got, which the page shows already.
	Explain string
	// Step and Try are set for an infrastructure error: the step that
	// failed and what to try.
	Step, Try string
}

// Input is what Render needs.
type Input struct {
	// Results are the cells of the run, already redacted.
	Results []cellrun.Report
	// Describe renders one ledger entry on one line (hover titles, evidence). Required.
	Describe func(ledger.Observation) string
	// Headline is the run's overall result, the page's title and first
	// line; "<n> cells" when empty.
	Headline string
	// Cell names and classifies a cell as every report does; when nil, the
	// title is from → to [order] and the outcome matched or not.
	Cell func(cellrun.Report) CellText
	// Tables returns a cell's extra tables; none when nil.
	Tables func(cellrun.Report) []Table
	// MaxEvidence caps the evidence entries per rule; DefaultMaxEvidence when 0.
	MaxEvidence int
}

//go:embed report.html.tmpl
var pageTemplate string

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"f1":  func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"add": func(a, b float64) float64 { return a + b },
	"diamond": func(x, y float64) string {
		return fmt.Sprintf("%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f", x, y-6, x+6, y, x, y+6, x-6, y)
	},
}).Parse(pageTemplate))

type page struct {
	Headline string
	Cells    []cellView
}

type cellView struct {
	ID, Label, Name     string
	Expected, Why       string
	Verdict             string
	Out                 CellText
	Ran                 bool
	Counts              []verdict.Count401
	Duration            string
	Meta                [][2]string
	Timeline            *Timeline
	Phases              []phaseRow
	Rollouts            []rolloutRow
	Rules               []ruleView
	Tables              []Table
	Repro, Bundle, Kept string
}

type phaseRow struct{ Name, Start, Took, Error string }

type rolloutRow struct {
	Step                                  int
	Component, Deployment, From, To       string
	Started, Took, Replaced, Pods, Status string
}

type ruleView struct {
	Rule, Description, Verdict, Reason, Note string
	Evidence                                 []string
	More, Total                              int
}

// Render returns the page.
func Render(in Input) ([]byte, error) {
	if in.Describe == nil {
		return nil, errors.New("htmlreport.Input.Describe is nil: pass the one-line ledger formatter (report.FormatObservation)")
	}
	if in.MaxEvidence <= 0 {
		in.MaxEvidence = DefaultMaxEvidence
	}
	p := page{Headline: in.Headline}
	if p.Headline == "" {
		p.Headline = "Upgrade matrix: 1 cell"
		if len(in.Results) != 1 {
			p.Headline = fmt.Sprintf("Upgrade matrix: %d cells", len(in.Results))
		}
	}
	for _, r := range in.Results {
		p.Cells = append(p.Cells, newCellView(r, in))
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("render report.html: %w", err)
	}
	return b.Bytes(), nil
}

// CellID is the fragment of a cell's section: report.html#cell-v0.2.0-v0.2.2.
func CellID(c upgrade.Cell) string { return "cell-" + c.Name() }

func newCellView(r cellrun.Report, in Input) cellView {
	out := defaultCellText(r)
	if in.Cell != nil {
		out = in.Cell(r)
	}
	cv := cellView{
		ID: CellID(r.Cell), Name: r.Cell.Name(), Label: out.Title,
		Expected: string(r.Cell.Expect.Verdict), Why: r.Cell.Expect.Why, Verdict: string(r.Verdict),
		Out: out, Ran: out.Outcome == "as-expected" || out.Outcome == "regression", Duration: dur(r.Duration),
		Repro: r.Repro, Bundle: r.BundleDir, Kept: r.KeptCluster,
	}
	counts := append([]verdict.Count401(nil), r.Unauthorized...)
	sort.SliceStable(counts, func(i, j int) bool {
		if counts[i].Caller != counts[j].Caller {
			return counts[i].Caller < counts[j].Caller
		}
		return counts[i].Path < counts[j].Path
	})
	for _, c := range counts {
		if c.Count > 0 {
			cv.Counts = append(cv.Counts, c)
		}
	}
	meta := func(k, v string) {
		if v != "" {
			cv.Meta = append(cv.Meta, [2]string{k, v})
		}
	}
	meta("catalog", r.Cell.Catalog)
	meta("from → to", r.Cell.From+" → "+r.Cell.To)
	meta("order", orderText(r))
	for _, c := range r.Cell.Overrides.Components() {
		meta("override "+string(c), r.Cell.Overrides.Get(c))
	}
	meta("node image", r.NodeImage)
	if !r.Started.IsZero() {
		meta("started", r.Started.UTC().Format(time.RFC3339))
	}
	if !r.UpgradeStarted.IsZero() {
		meta("upgrade started", r.UpgradeStarted.UTC().Format("15:04:05.000")+" UTC")
	}
	meta("ledger entries", fmt.Sprint(len(r.Ledger)))

	if tl, ok := BuildTimeline(r, in.Describe); ok {
		cv.Timeline = tl
	}
	for _, ph := range r.Phases {
		cv.Phases = append(cv.Phases, phaseRow{Name: ph.Name, Start: clock(ph.Started), Took: dur(ph.Took), Error: ph.Error})
	}
	for _, ro := range r.Rollouts {
		row := rolloutRow{Step: ro.Step, Component: string(ro.Component), Deployment: ro.Deployment, From: orUnknown(ro.FromImage), To: ro.ToImage,
			Started: clock(ro.Started), Replaced: podList(ro.Replaced), Pods: podList(ro.Pods)}
		if ro.Deployment == "" {
			row.Deployment = "(agent registry pin)"
		}
		if ro.Done.IsZero() {
			row.Status = "not seen done"
		} else {
			row.Took = dur(ro.Done.Sub(ro.Started))
		}
		cv.Rollouts = append(cv.Rollouts, row)
	}
	for _, rr := range r.Rules {
		rv := ruleView{Rule: rr.Rule, Description: rr.Description, Verdict: string(rr.Verdict), Reason: rr.Reason, Total: len(rr.Evidence)}
		if pinned, ok := r.Cell.Expect.Rules[rr.Rule]; ok {
			rv.Note = "pinned " + string(pinned)
		} else if rr.Verdict == verdict.Fail && r.Cell.Expect.Verdict == verdict.Fail {
			rv.Note = "the expected regression"
		}
		for i, o := range rr.Evidence {
			if i == in.MaxEvidence {
				rv.More = len(rr.Evidence) - i
				break
			}
			rv.Evidence = append(rv.Evidence, in.Describe(o))
		}
		cv.Rules = append(cv.Rules, rv)
	}
	if in.Tables != nil {
		cv.Tables = in.Tables(r)
	}
	return cv
}

// defaultCellText names and classifies a cell when Input.Cell is nil.
func defaultCellText(r cellrun.Report) CellText {
	t := CellText{Title: fmt.Sprintf("%s → %s [%s]", r.Cell.From, r.Cell.To, orderText(r)), Explain: r.Mismatch}
	switch {
	case r.Error != "":
		t.Outcome, t.Mark, t.Text, t.Explain = "infrastructure-error", "⚠", "⚠ could not run", r.Error
	case r.Matched:
		t.Outcome, t.Mark, t.Text = "as-expected", "✓", "✓ as expected"
	default:
		t.Outcome, t.Mark, t.Text = "regression", "✗", "✗ regression"
	}
	return t
}
