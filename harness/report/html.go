package report

import (
	"path/filepath"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/report/htmlreport"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// RenderHTML renders results (already redacted) as report.html, headed by
// the run's overall result (exit as in WriteInput.Exit).
func RenderHTML(results []cellrun.Report, maxEvidence int, exit *Exit) ([]byte, error) {
	return renderHTML(results, maxEvidence, Summarize(results, exit).Headline)
}

func renderHTML(results []cellrun.Report, maxEvidence int, headline string) ([]byte, error) {
	return htmlreport.Render(htmlreport.Input{Results: results, Describe: FormatObservation, Headline: headline,
		Cell: cellText, Tables: diagnosisTable, MaxEvidence: maxEvidence})
}

// cellText is how report.html names and classifies a cell: as summary.md does.
func cellText(r cellrun.Report) htmlreport.CellText {
	t := htmlreport.CellText{Title: Title(r.Cell), Outcome: string(OutcomeOf(r)), Mark: outcomeMark(r), Text: outcomeText(r), Explain: mismatchReason(r)}
	if f := InfraFailureOf(r); f != nil {
		t.Text, t.Explain, t.Step, t.Try = "⚠ infrastructure error", "step "+f.Step+" failed: "+f.Error, f.Step, f.Try
	}
	return t
}

// diagnosisTable is a cell's diagnosis as report.html shows it: one row per
// broken pair and per restart break, as in summary.md.
func diagnosisTable(r cellrun.Report) []htmlreport.Table {
	d := r.Diagnosis
	if d == nil || len(d.Pairs)+len(d.RestartBreaks) == 0 && d.ProbeError == "" {
		return nil
	}
	t := htmlreport.Table{Title: "Diagnosis", Header: []string{"Class", "Why", "Wire evidence"}}
	for _, p := range d.Pairs {
		t.Rows = append(t.Rows, []string{p.Class.Phrase() + " (" + string(p.Class) + ")", p.Why, strings.Join(p.Evidence, "\n")})
	}
	for _, b := range d.RestartBreaks {
		t.Rows = append(t.Rows, []string{b.Class.Phrase() + " (" + string(b.Class) + ")", b.Why, ""})
	}
	if d.ProbeError != "" {
		t.Rows = append(t.Rows, []string{"probe error", d.ProbeError, ""})
	}
	if d.Wire != nil && d.Wire.Gap != "" {
		t.Rows = append(t.Rows, []string{"wire witness did not run", d.Wire.Gap + " (diagnosis from the probe only)", ""})
	}
	return []htmlreport.Table{t}
}

// templateEscaper spells a value the way html/template writes it into text
// and quoted attributes.
var templateEscaper = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;")

// redactHTML is the last pass over a rendered page: known secret values, raw
// and as html/template escapes them (e.g. "+" as "&#43;"), a spelling the
// artifacts scan, which looks for raw and base64 forms, would not recognise.
func redactHTML(page []byte, r *secrets.Redactor) []byte {
	out := r.RedactKnown(string(page))
	for _, v := range r.Values() {
		if form := templateEscaper.Replace(v); form != v && strings.Contains(out, form) {
			out = strings.ReplaceAll(out, form, templateEscaper.Replace(secrets.Marker("secret", v)))
		}
	}
	return []byte(out)
}

// writeHTML writes report.html into dir and one per cell into its bundle.
func writeHTML(dir string, results []cellrun.Report, r *secrets.Redactor, maxEvidence int, exit *Exit) error {
	page, err := RenderHTML(results, maxEvidence, exit)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, HTMLFile), redactHTML(page, r)); err != nil {
		return err
	}
	for _, res := range results {
		if res.BundleDir == "" {
			continue
		}
		// A bundle's page holds its cell alone: its headline is the cell's
		// title and outcome, not the run's.
		page, err := renderHTML([]cellrun.Report{res}, maxEvidence, cellLabel(res.Cell)+": "+outcomeText(res))
		if err != nil {
			return err
		}
		if err := WriteFileAtomic(filepath.Join(dir, filepath.FromSlash(res.BundleDir), HTMLFile), redactHTML(page, r)); err != nil {
			return err
		}
	}
	return nil
}
