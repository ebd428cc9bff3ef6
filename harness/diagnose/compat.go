package diagnose

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Outcome is what a runner answered one call family of a combination.
type Outcome string

const (
	OutcomeOK           Outcome = "ok"  // every answer 2xx/3xx
	Outcome401          Outcome = "401" // at least one 401
	OutcomeOther        Outcome = "other"
	OutcomeNotExercised Outcome = "not-exercised" // no call of the family reached the runner
)

// Compat is a compatibility sweep: every combination of operator, backend and
// runner versions from {From, To}, each installed fresh, with every call
// family driven and its answers at the runner recorded. compat.json holds it;
// reports render Table and Sentence.
type Compat struct {
	Catalog      string        `json:"catalog"`
	From         string        `json:"from"`
	To           string        `json:"to"`
	Combinations []Combination `json:"combinations"`
	Started      time.Time     `json:"started"`
	Duration     time.Duration `json:"duration"`
	// Sentence names the culprit pairs (see Culprits); set by the sweep.
	Sentence string `json:"sentence"`
}

// Combination is one install: which version each component ran.
type Combination struct {
	Operator string          `json:"operator"`
	Backend  string          `json:"backend"`
	Runner   string          `json:"runner"`
	Images   platform.Images `json:"images"`
	Results  []FamilyResult  `json:"results"`
	Duration time.Duration   `json:"duration"`
	// Error says why the combination could not be run (its families are then not exercised).
	Error string `json:"error,omitempty"`
	// Attempts is how many fresh installs it took; Retried says what the
	// earlier ones missed.
	Attempts int      `json:"attempts,omitempty"`
	Retried  []string `json:"retried,omitempty"`
	// Phases times the last attempt: reset, install, project, session, traffic.
	Phases map[string]time.Duration `json:"phases,omitempty"`
}

// Version is the version component c ran in the combination.
func (c Combination) Version(comp platform.Component) string {
	switch comp {
	case platform.Operator:
		return c.Operator
	case platform.Backend:
		return c.Backend
	case platform.Runner, platform.StateSync:
		return c.Runner
	}
	return ""
}

// Name is "operator v0.2.0, backend v0.2.2, runner v0.2.2".
func (c Combination) Name() string {
	return fmt.Sprintf("operator %s, backend %s, runner %s", c.Operator, c.Backend, c.Runner)
}

// FamilyResult is what the runner answered one call family.
type FamilyResult struct {
	Caller platform.Component `json:"caller"`
	Method string             `json:"method"`
	Path   string             `json:"path"`
	// Statuses counts the runner's answers by HTTP status.
	Statuses map[int]int `json:"statuses,omitempty"`
	Outcome  Outcome     `json:"outcome"`
	// Class is why the family got 401, from the wire and the token Secrets
	// (ClassifyFamilies; a sweep runs no probe), Why its sentence; Class
	// is empty and Why says so when the wire did not tell.
	Class    verdict.DiagnosisClass `json:"class,omitempty"`
	Why      string                 `json:"why,omitempty"`
	Evidence []string               `json:"evidence,omitempty"`
}

// Family is the call family of the result.
func (r FamilyResult) Family() platform.CallFamily {
	return platform.CallFamily{Caller: r.Caller, Method: r.Method, Path: r.Path}
}

// NewFamilyResult decides the outcome of statuses.
func NewFamilyResult(f platform.CallFamily, statuses map[int]int) FamilyResult {
	r := FamilyResult{Caller: f.Caller, Method: f.Method, Path: f.Path, Statuses: statuses, Outcome: OutcomeNotExercised}
	if len(statuses) == 0 {
		return r
	}
	r.Outcome = OutcomeOK
	for st := range statuses {
		switch {
		case st == 401:
			r.Outcome = Outcome401
			return r
		case st >= 400 || st < 200:
			r.Outcome = OutcomeOther
		}
	}
	return r
}

// Label is the result as a table shows it: ok, 401, the other statuses
// ("404"), or "not exercised".
func (r FamilyResult) Label() string {
	switch r.Outcome {
	case OutcomeOther:
		var sts []string
		for st := range r.Statuses {
			if st >= 400 || st < 200 {
				sts = append(sts, strconv.Itoa(st))
			}
		}
		sort.Strings(sts)
		return strings.Join(sts, "/")
	case OutcomeNotExercised:
		return "not exercised"
	}
	return string(r.Outcome)
}

// other is the component whose version varies within a table cell: the
// operator for backend rows (it writes the runner's AGUI_TOKEN), the backend
// for operator rows.
func other(caller platform.Component) platform.Component {
	if caller == platform.Operator {
		return platform.Backend
	}
	return platform.Operator
}

// Table is the sweep as rows caller@version × family and columns runner version.
type Table struct {
	Columns []string   `json:"columns"` // runner versions
	Rows    []TableRow `json:"rows"`
}

// TableRow is one caller@version and family.
type TableRow struct {
	Caller        platform.Component `json:"caller"`
	CallerVersion string             `json:"callerVersion"`
	Method        string             `json:"method"`
	Path          string             `json:"path"`
	Cells         []TableCell        `json:"cells"`
}

// TableCell is the outcome at one runner version: one part per version of
// the other component when they differ, else one part.
type TableCell struct {
	Parts []CellPart `json:"parts"`
}

// CellPart is the outcome with the other component at With ("" when it did not matter).
type CellPart struct {
	With    string  `json:"with,omitempty"` // e.g. "operator v0.2.2"
	Outcome Outcome `json:"outcome"`
	Label   string  `json:"label"`
	// Class is the 401's diagnosis class when the wire told it.
	Class verdict.DiagnosisClass `json:"class,omitempty"`
}

// text is the part's label with its class: "401 (no-header)".
func (p CellPart) text() string {
	if p.Class == "" {
		return p.Label
	}
	return p.Label + " (" + string(p.Class) + ")"
}

// Text renders the cell: "401" or "401 with operator v0.2.2, ok with operator v0.2.0".
func (c TableCell) Text() string {
	var parts []string
	for _, p := range c.Parts {
		if p.With == "" {
			parts = append(parts, p.text())
		} else {
			parts = append(parts, p.text()+" with "+p.With)
		}
	}
	return strings.Join(parts, ", ")
}

// Worst is the worst outcome of the cell (401, then other, then not exercised, then ok).
func (c TableCell) Worst() Outcome {
	rank := map[Outcome]int{Outcome401: 0, OutcomeOther: 1, OutcomeNotExercised: 2, OutcomeOK: 3}
	w := OutcomeOK
	for _, p := range c.Parts {
		if rank[p.Outcome] < rank[w] {
			w = p.Outcome
		}
	}
	return w
}

// versions are From then To (once when equal).
func (c Compat) versions() []string {
	if c.From == c.To {
		return []string{c.From}
	}
	return []string{c.From, c.To}
}

// Table builds the table from the combinations.
func (c Compat) Table() Table {
	t := Table{}
	for _, v := range c.versions() {
		t.Columns = append(t.Columns, "runner "+v)
	}
	for _, caller := range []platform.Component{platform.Backend, platform.Operator} {
		for _, cv := range c.versions() {
			for _, fam := range platform.CallFamilies {
				if fam.Caller != caller {
					continue
				}
				row := TableRow{Caller: caller, CallerVersion: cv, Method: fam.Method, Path: fam.Path}
				for _, rv := range c.versions() {
					row.Cells = append(row.Cells, c.cell(fam, cv, rv))
				}
				t.Rows = append(t.Rows, row)
			}
		}
	}
	return t
}

func (c Compat) cell(fam platform.CallFamily, callerVersion, runnerVersion string) TableCell {
	var parts []CellPart
	for _, ov := range c.versions() {
		for _, comb := range c.Combinations {
			if comb.Version(fam.Caller) != callerVersion || comb.Runner != runnerVersion || comb.Version(other(fam.Caller)) != ov {
				continue
			}
			r := comb.result(fam)
			parts = append(parts, CellPart{With: string(other(fam.Caller)) + " " + ov, Outcome: r.Outcome, Label: r.Label(), Class: r.Class})
		}
	}
	if len(parts) == 0 {
		// No combination of the sweep ran these versions (a partial sweep).
		return TableCell{Parts: []CellPart{{Outcome: OutcomeNotExercised, Label: "not run"}}}
	}
	same := true
	for _, p := range parts {
		same = same && p.Label == parts[0].Label && p.Class == parts[0].Class
	}
	if same {
		parts = []CellPart{{Outcome: parts[0].Outcome, Label: parts[0].Label, Class: parts[0].Class}}
	}
	return TableCell{Parts: parts}
}

func (c Combination) result(fam platform.CallFamily) FamilyResult {
	for _, r := range c.Results {
		if r.Family() == fam {
			return r
		}
	}
	return NewFamilyResult(fam, nil)
}

// Culprits is the sweep in one plain sentence: which runner version (and,
// when it matters, which operator started it) rejects which caller@version on
// which families, what else answered an error, and that every other pair
// works. E.g. "runner v0.2.2 started by operator v0.2.2 rejects backend v0.2.0
// on every call family, backend v0.2.2 on POST /, GET /events, … and operator
// v0.2.2 on POST /workflow and POST /repos/*; every other pair works".
func (c Compat) Culprits() string {
	var clauses []string
	for _, outcome := range []Outcome{Outcome401, OutcomeOther, OutcomeNotExercised} {
		clauses = append(clauses, c.clauses(outcome)...)
	}
	for _, comb := range c.Combinations {
		if comb.Error != "" {
			clauses = append(clauses, fmt.Sprintf("%s could not run: %s", comb.Name(), comb.Error))
		}
	}
	if len(clauses) == 0 {
		return "every pair works"
	}
	return strings.Join(clauses, "; ") + "; every other pair works"
}

// clauses renders every observation of one outcome, grouped by runner
// version and the operators under which it happens.
func (c Compat) clauses(want Outcome) []string {
	// (runner, caller, callerVersion, family, label) -> operators it happens with.
	type obsKey struct {
		runner, caller, callerVersion, path, label string
	}
	withOps := map[obsKey][]string{}
	var keys []obsKey
	for _, comb := range c.Combinations {
		if comb.Error != "" {
			continue
		}
		for _, fam := range platform.CallFamilies {
			r := comb.result(fam)
			if r.Outcome != want {
				continue
			}
			k := obsKey{comb.Runner, string(r.Caller), comb.Version(r.Caller), r.Path, r.Label()}
			if _, ok := withOps[k]; !ok {
				keys = append(keys, k)
			}
			if !contains(withOps[k], comb.Operator) {
				withOps[k] = append(withOps[k], comb.Operator)
			}
		}
	}
	// Group by (runner, operator context, label): caller@version -> families.
	type groupKey struct{ runner, ops, label string }
	type who struct{ caller, version string }
	groups := map[groupKey]map[who][]string{}
	var gorder []groupKey
	// The operator that started the runner matters to the backend's calls. An
	// operator calls runners it started itself: it joins the backend's clause
	// for its own version when there is one, else it needs no qualifier.
	sort.SliceStable(keys, func(i, j int) bool {
		return keys[i].caller != string(platform.Operator) && keys[j].caller == string(platform.Operator)
	})
	for _, k := range keys {
		ops := withOps[k]
		sort.Strings(ops)
		ctx := strings.Join(ops, ",")
		if len(ops) == len(c.versions()) {
			ctx = ""
		}
		if k.caller == string(platform.Operator) {
			if _, ok := groups[groupKey{k.runner, k.callerVersion, k.label}]; ok {
				ctx = k.callerVersion
			} else {
				ctx = ""
			}
		}
		g := groupKey{k.runner, ctx, k.label}
		if groups[g] == nil {
			groups[g] = map[who][]string{}
			gorder = append(gorder, g)
		}
		w := who{k.caller, k.callerVersion}
		groups[g][w] = append(groups[g][w], k.path)
	}
	rank := func(v string) int {
		for i, x := range c.versions() {
			if x == v {
				return i
			}
		}
		return len(c.versions())
	}
	sort.SliceStable(gorder, func(i, j int) bool {
		a, b := gorder[i], gorder[j]
		if a.runner != b.runner {
			return rank(a.runner) < rank(b.runner)
		}
		if a.ops != b.ops {
			return a.ops < b.ops
		}
		return a.label < b.label
	})
	var out []string
	for _, g := range gorder {
		subject := "runner " + g.runner
		if g.ops != "" {
			subject += " started by operator " + strings.ReplaceAll(g.ops, ",", " or ")
		}
		// Merge caller versions with the same families: "backend v0.2.0 and v0.2.2 on …".
		type famKey struct{ caller, families string }
		merged := map[famKey][]string{}
		var forder []famKey
		whos := make([]who, 0, len(groups[g]))
		for w := range groups[g] {
			whos = append(whos, w)
		}
		sort.Slice(whos, func(i, j int) bool {
			if whos[i].caller != whos[j].caller {
				return whos[i].caller < whos[j].caller
			}
			return rank(whos[i].version) < rank(whos[j].version)
		})
		for _, w := range whos {
			fams := groups[g][w]
			sortFamilies(ledger.Caller(w.caller), fams)
			text := FamiliesText(platform.Component(w.caller), fams)
			if n := familyCount(platform.Component(w.caller)); want == Outcome401 && n > 3 && len(fams) == n {
				text = "every call family"
			}
			fk := famKey{w.caller, text}
			if _, ok := merged[fk]; !ok {
				forder = append(forder, fk)
			}
			merged[fk] = append(merged[fk], w.version)
		}
		var objs []string
		for _, fk := range forder {
			objs = append(objs, fmt.Sprintf("%s %s on %s", fk.caller, joinAnd(merged[fk]), fk.families))
		}
		switch want {
		case Outcome401:
			out = append(out, subject+" rejects "+joinObjects(objs))
		case OutcomeOther:
			out = append(out, subject+" answers "+g.label+" to "+joinObjects(objs))
		case OutcomeNotExercised:
			out = append(out, "not exercised against "+subject+": "+joinObjects(objs))
		}
	}
	return out
}

func familyCount(caller platform.Component) int {
	n := 0
	for _, f := range platform.CallFamilies {
		if f.Caller == caller {
			n++
		}
	}
	return n
}

// joinObjects joins clauses that may contain "and" themselves: "a and b",
// "a, and b" when a has its own "and", "a, b, and c".
func joinObjects(objs []string) string {
	switch {
	case len(objs) == 0:
		return ""
	case len(objs) == 1:
		return objs[0]
	case len(objs) == 2 && !strings.Contains(objs[0], " and "):
		return objs[0] + " and " + objs[1]
	}
	return strings.Join(objs[:len(objs)-1], ", ") + ", and " + objs[len(objs)-1]
}
