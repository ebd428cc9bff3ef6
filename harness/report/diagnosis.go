package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
)

// CompatSchema versions compat.json.
const CompatSchema = "upgrade-harness.compat/v1"

// CompatDocument is the shape of compat.json: the sweeps with their tables
// (rows caller@version × family, columns runner version) ready to render.
type CompatDocument struct {
	Schema string        `json:"schema"`
	Sweeps []CompatSweep `json:"sweeps"`
}

// CompatSweep is one sweep and its table.
type CompatSweep struct {
	diagnose.Compat
	Table diagnose.Table `json:"table"`
}

// MarshalCompat renders compat.json.
func MarshalCompat(sweeps []diagnose.Compat) ([]byte, error) {
	doc := CompatDocument{Schema: CompatSchema}
	for _, c := range sweeps {
		doc.Sweeps = append(doc.Sweeps, CompatSweep{Compat: c, Table: c.Table()})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render %s: %w", CompatFile, err)
	}
	return b.Bytes(), nil
}

// RenderDiagnosisMarkdown renders the seeded-fault score and the compat
// sections of summary.md ("" when there are neither).
func RenderDiagnosisMarkdown(score *diagnose.Score, sweeps []diagnose.Compat) []byte {
	var b strings.Builder
	if score != nil {
		writeScore(&b, score)
	}
	for _, c := range sweeps {
		b.WriteString(CompatMarkdown(c))
	}
	return []byte(b.String())
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func writeScore(b *strings.Builder, s *diagnose.Score) {
	fmt.Fprintf(b, "\n## Seeded faults: %s\n\n", mdText(s.Summary()))
	b.WriteString("| Fault | Cell | Detected | Attributed | Diagnosed | Diagnosis | Missed |\n|---|---|---|---|---|---|---|\n")
	for _, f := range s.Faults {
		var ds []string
		for _, d := range f.Diagnoses {
			ds = append(ds, d.String())
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", mdCell(f.Fault), mdCell(f.Cell), mark(f.Detected), mark(f.Attributed), mark(f.Diagnosed),
			mdCell(strings.Join(ds, "; ")), mdCell(f.Why))
	}
	if len(s.Controls) > 0 {
		b.WriteString("\n| Control | False alarm | Why |\n|---|---|---|\n")
		for _, c := range s.Controls {
			alarm := "no"
			if c.FalseAlarm {
				alarm = "**yes**"
			}
			if !c.Ran {
				alarm = "could not run"
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", mdCell(c.Cell), alarm, mdCell(c.Why))
		}
	}
}

// CompatMarkdown renders one sweep: the culprit sentence, the table and how long it took.
func CompatMarkdown(c diagnose.Compat) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Compatibility %s → %s (%s)\n\n", c.From, c.To, c.Catalog)
	fmt.Fprintf(&b, "%s.\n\n", mdText(upperFirst(c.Sentence)))
	t := c.Table()
	b.WriteString("| Caller | Family |")
	for _, col := range t.Columns {
		b.WriteString(" " + mdCell(col) + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(t.Columns)) + "\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s %s | %s %s |", r.Caller, r.CallerVersion, r.Method, mdCell(r.Path))
		for _, cell := range r.Cells {
			text := mdCell(cell.Text())
			if cell.Worst() == diagnose.Outcome401 {
				text = "**" + text + "**"
			}
			b.WriteString(" " + text + " |")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n%s in %s:", plural(len(c.Combinations), "combination", "combinations"), formatDuration(c.Duration))
	for _, comb := range c.Combinations {
		fmt.Fprintf(&b, " %s (%s", comb.Name(), formatDuration(comb.Duration))
		if comb.Attempts > 1 {
			fmt.Fprintf(&b, ", %d fresh installs: %s", comb.Attempts, mdText(strings.Join(comb.Retried, "; ")))
		}
		b.WriteString(")")
		if comb.Error != "" {
			fmt.Fprintf(&b, " could not run: %s", mdText(comb.Error))
		}
		b.WriteString(";")
	}
	b.WriteString("\n")
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// writeDiagnosis is a failed cell's diagnosis in its summary section.
func writeDiagnosis(b *strings.Builder, r cellrun.Report) {
	d := r.Diagnosis
	if d == nil {
		return
	}
	sentences := d.Sentences()
	if len(sentences) == 0 && d.ProbeError == "" {
		return
	}
	b.WriteString("**Diagnosis**\n\n")
	for _, p := range d.Pairs {
		fmt.Fprintf(b, "- %s (`%s`): %s\n", p.Class.Phrase(), p.Class, mdText(p.Why))
		for _, e := range p.Evidence {
			fmt.Fprintf(b, "  - wire: `%s`\n", mdCode(e))
		}
	}
	for _, br := range d.RestartBreaks {
		fmt.Fprintf(b, "- %s: %s\n", br.Class.Phrase(), mdText(br.Why))
	}
	if len(d.Pairs)+len(d.RestartBreaks) == 0 && d.Note != "" {
		fmt.Fprintf(b, "- %s\n", mdText(d.Note))
	}
	if d.ProbeError != "" {
		fmt.Fprintf(b, "- probe error: %s\n", mdText(d.ProbeError))
	}
	if d.Wire != nil && d.Wire.Gap != "" {
		fmt.Fprintf(b, "- wire witness did not run (diagnosis from the probe only): %s\n", mdText(d.Wire.Gap))
	}
	if d.Probe != nil {
		fmt.Fprintf(b, "\nProbed %s from pod %s (service account %s) in %s.\n", plural(len(d.Runners), "runner pod", "runner pods"), mdCode(d.Probe.Pod), mdCode(d.Probe.ServiceAccount), formatDuration(d.Probe.Took))
	}
	b.WriteString("\n")
}
