package report

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Repeat is what the runs of one cell showed when the matrix ran it several
// times (matrix -repeat N): the verdicts seen, how many runs matched, and
// whether the verdicts differ (a flaky cell).
type Repeat struct {
	Cell string `json:"cell"`
	Runs int    `json:"runs"`
	// Verdicts counts each verdict seen.
	Verdicts map[verdict.Verdict]int `json:"verdicts"`
	Matched  int                     `json:"matched"`
	Flaky    bool                    `json:"flaky"`
}

// Seen renders the verdicts as "fail 3/3" or "pass 2/3, fail 1/3".
func (r Repeat) Seen() string {
	var parts []string
	for _, v := range []verdict.Verdict{verdict.Pass, verdict.Fail, verdict.Inconclusive} {
		if n := r.Verdicts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d/%d", v, n, r.Runs))
		}
	}
	return strings.Join(parts, ", ")
}

// Repeats groups results by cell, in the order cells first ran; only cells that
// ran more than once are listed.
func Repeats(results []cellrun.Report) []Repeat {
	byName := map[string]*Repeat{}
	var order []string
	for _, r := range results {
		name := r.Cell.Name()
		rep, ok := byName[name]
		if !ok {
			rep = &Repeat{Cell: name, Verdicts: map[verdict.Verdict]int{}}
			byName[name] = rep
			order = append(order, name)
		}
		rep.Runs++
		rep.Verdicts[r.Verdict]++
		if r.Matched && r.Error == "" {
			rep.Matched++
		}
	}
	var out []Repeat
	for _, name := range order {
		rep := byName[name]
		if rep.Runs < 2 {
			continue
		}
		rep.Flaky = len(rep.Verdicts) > 1
		out = append(out, *rep)
	}
	return out
}

// Flaky names the cells whose repeated runs gave different verdicts.
func Flaky(results []cellrun.Report) []string {
	var out []string
	for _, r := range Repeats(results) {
		if r.Flaky {
			out = append(out, r.Cell)
		}
	}
	return out
}

func writeRepeats(b *strings.Builder, reps []Repeat) {
	if len(reps) == 0 {
		return
	}
	b.WriteString("\n### Repeated cells\n\n| Cell | Runs | Verdicts seen | Matched | Flaky |\n|---|---|---|---|---|\n")
	for _, r := range reps {
		flaky := "no"
		if r.Flaky {
			flaky = "**yes**"
		}
		fmt.Fprintf(b, "| %s | %d | %s | %d/%d | %s |\n", mdCell(r.Cell), r.Runs, r.Seen(), r.Matched, r.Runs, flaky)
	}
	b.WriteString("\n")
}
