package report

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// written is what WriteAll put into a fresh artifacts directory.
type written struct {
	dir                           string
	summary, junit, results, html string
}

func writeAll(t *testing.T, in WriteInput) written {
	t.Helper()
	in.Dir = t.TempDir()
	if in.Getenv == nil {
		in.Getenv = func(string) string { return "" }
	}
	if err := WriteAll(in); err != nil {
		t.Fatal(err)
	}
	w := written{dir: in.Dir}
	for name, dst := range map[string]*string{SummaryFile: &w.summary, JUnitFile: &w.junit, ResultsFile: &w.results, HTMLFile: &w.html} {
		data, err := os.ReadFile(filepath.Join(in.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		*dst = string(data)
	}
	return w
}

// exit is how a command that maps kinds as harness/cmd/exitcode does ends with code.
func exit(code int) *Exit {
	kinds := map[int]fault.Kind{0: fault.KindNone, 1: fault.KindRegression, 2: fault.KindBadInput, 3: fault.KindInfrastructure, 130: fault.KindInterrupted, 143: fault.KindInterrupted}
	return &Exit{Kind: kinds[code], Code: &code}
}

// The first line of summary.md, report.html's title and heading, and
// results.json's summary say the overall result and the exit code the
// caller decided.
func TestHeadlineSaysTheResultAndExitCode(t *testing.T) {
	all := fixtureResults()
	passing := []cellrun.Report{all[0], all[1], all[4], all[0]}
	for _, tc := range []struct {
		name     string
		results  []cellrun.Report
		exit     int
		headline string
	}{
		{"regression and infrastructure", all, exitcode.Regression, "FAIL — 1 regression, 1 infrastructure error, 3 of 5 cells as expected; exit 1"},
		{"every cell as expected", passing, exitcode.OK, "PASS — 4 cells as expected; exit 0"},
		{"a cluster that could not be made", all[3:4], exitcode.Infrastructure, "ERROR — 1 infrastructure error, 0 of 1 cell as expected; exit 3"},
		{"no cell ran", nil, exitcode.Infrastructure, "ERROR — no cell ran; exit 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := writeAll(t, WriteInput{Results: tc.results, Exit: exit(tc.exit)})
			if first, _, _ := strings.Cut(w.summary, "\n"); first != "## "+tc.headline {
				t.Errorf("summary.md starts %q, want %q", first, "## "+tc.headline)
			}
			if !strings.Contains(w.html, "<title>"+tc.headline+"</title>") || !strings.Contains(w.html, "<h1>"+tc.headline+"</h1>") {
				t.Errorf("report.html title/h1 do not say %q", tc.headline)
			}
			var doc struct {
				Summary RunSummary `json:"summary"`
			}
			if err := json.Unmarshal([]byte(w.results), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Summary.Headline != tc.headline || doc.Summary.ExitCode == nil || *doc.Summary.ExitCode != tc.exit || doc.Summary.Cells != len(tc.results) {
				t.Errorf("results.json summary = %+v, want headline %q exit %d", doc.Summary, tc.headline, tc.exit)
			}
		})
	}
	// Without a code from the caller the result still comes first; no code is made up.
	if got := Summarize(all, nil).Headline; got != "FAIL — 1 regression, 1 infrastructure error, 3 of 5 cells as expected" {
		t.Errorf("headline without an exit code = %q", got)
	}
}

func TestCountOutcomes(t *testing.T) {
	results := fixtureResults()
	stopped := cellrun.Report{Result: cell.NotStarted(upgrade.Cell{Catalog: "simulated", From: "v0.2.5", To: "v0.2.7"}, errors.New("interrupted by SIGINT during cluster uh-matrix"), "SIGINT during cluster uh-matrix")}
	got := CountOutcomes(append(results, stopped))
	want := Counts{Cells: 6, AsExpected: 3, Regressions: 1, Infrastructure: 1, Interrupted: 1}
	if got != want {
		t.Errorf("CountOutcomes = %+v, want %+v", got, want)
	}
	if s := Summarize(append(results, stopped), exit(exitcode.Interrupted)); s.Result != "INTERRUPTED" ||
		s.Headline != "INTERRUPTED — 1 regression, 1 infrastructure error, 1 interrupted cell, 3 of 6 cells as expected; exit 130" {
		t.Errorf("Summarize = %+v", s)
	}
}

// One cell, one regression: singular everywhere ("1 cells" was written before).
func TestPluralsAreRight(t *testing.T) {
	w := writeAll(t, WriteInput{Results: fixtureResults()[2:3], Exit: exit(exitcode.Regression)})
	for name, text := range map[string]string{SummaryFile: w.summary, HTMLFile: w.html, ResultsFile: w.results} {
		if bad := regexp.MustCompile(`\b1 (cells|regressions|infrastructure errors|entries)\b`).FindString(text); bad != "" {
			t.Errorf("%s says %q", name, bad)
		}
	}
	if !strings.HasPrefix(w.summary, "## FAIL — 1 regression, 0 of 1 cell as expected; exit 1\n") || !strings.Contains(w.summary, "Upgrade matrix of 1 cell.") {
		t.Errorf("summary.md:\n%.300s", w.summary)
	}
	if got := plural(2, "cell", "cells") + ", " + plural(0, "cell", "cells"); got != "2 cells, 0 cells" {
		t.Errorf("plural = %q", got)
	}
}

// A cell whose kind cluster could not be created is not a verdict: every
// report says infrastructure error, the step that failed and what to try.
func TestInfrastructureErrorIsItsOwnOutcome(t *testing.T) {
	w := writeAll(t, WriteInput{Results: fixtureResults(), Exit: exit(exitcode.Regression)})
	const title = "v0.2.1 → v0.2.3 [all-at-once]"
	if !strings.Contains(w.summary, "| "+title+" (simulated) | pass | none (did not run to the end) | ⚠ infrastructure error: cluster uh-matrix | none | 12s |") {
		t.Errorf("summary.md row of the cell that could not run:\n%s", w.summary)
	}
	if !strings.Contains(w.summary, "### ⚠ "+title+" (simulated)\n\n**Infrastructure error** in step `cluster uh-matrix`: kind create cluster uh-matrix") ||
		!strings.Contains(w.summary, "**Try:** check `docker info`") {
		t.Errorf("summary.md details of the cell that could not run:\n%s", w.summary)
	}
	if strings.Contains(w.summary, "inconclusive | ✗") {
		t.Errorf("summary.md still shows a cell that could not run as a verdict")
	}

	var doc struct {
		Results []ResultEntry `json:"results"`
	}
	if err := json.Unmarshal([]byte(w.results), &doc); err != nil {
		t.Fatal(err)
	}
	e := doc.Results[3]
	if e.Outcome != OutcomeInfrastructure || e.Infrastructure == nil || e.Infrastructure.Step != "cluster uh-matrix" ||
		!strings.Contains(e.Infrastructure.Try, "docker info") || !strings.Contains(e.Infrastructure.Error, "kind create cluster") {
		t.Errorf("results.json entry = outcome %s infrastructure %+v", e.Outcome, e.Infrastructure)
	}
	if doc.Results[2].Outcome != OutcomeRegression || doc.Results[2].Infrastructure != nil || doc.Results[0].Outcome != OutcomeAsExpected {
		t.Errorf("results.json outcomes: %s %s", doc.Results[2].Outcome, doc.Results[0].Outcome)
	}

	var suites junitTestsuites
	if err := xml.Unmarshal([]byte(w.junit), &suites); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tc := range suites.Suites[0].Cases {
		if tc.Name == "upgrade v0.2.1 -> v0.2.3 [all-at-once]" {
			found = true
			if tc.Error == nil || tc.Error.Type != "infrastructure" || !strings.Contains(tc.Error.Body, "step: cluster uh-matrix\n") || !strings.Contains(tc.Error.Body, "try: check `docker info`") {
				t.Errorf("JUnit case of the cell that could not run: %+v", tc.Error)
			}
		}
	}
	if !found {
		t.Errorf("no JUnit case for the cell that could not run")
	}

	section := htmlSection(t, w.html, "v0.2.1-v0.2.3")
	if !strings.Contains(section, `data-outcome="infrastructure-error"`) || !strings.Contains(section, "no verdict") ||
		!strings.Contains(section, "step cluster uh-matrix failed") || !strings.Contains(section, "<b>Try:</b> check `docker info`") || strings.Contains(section, "verdict-inconclusive") {
		t.Errorf("report.html section of the cell that could not run:\n%s", section)
	}
}

// The step comes from the cell's failed phase; a cell without one is named
// from its error, and the advice follows the step.
func TestInfraFailureStepAndAdvice(t *testing.T) {
	c := upgrade.Cell{From: "v0.2.0", To: "v0.2.2"}
	deployErr := "deployment backend-api did not become ready in 3m0s: ImagePullBackOff"
	deployed := cellrun.Report{Result: cell.Result{Cell: c, Error: deployErr, Phases: []progress.Phase{
		{Step: cell.StepReset, Name: "reset cluster", Took: time.Second},
		{Step: cell.StepDeploy, Name: "deploy v0.2.0", Error: deployErr},
	}}}
	if f := InfraFailureOf(deployed); f == nil || f.Step != "deploy v0.2.0" || !strings.Contains(f.Try, "events.yaml") {
		t.Errorf("deploy failure = %+v", f)
	}
	engine := cellrun.Report{Result: cell.Result{Cell: c, Error: "the container engine (docker at unix:///var/run/docker.sock) stopped answering at 2026-05-11T10:00:00Z: EOF during upgrade"}}
	if f := InfraFailureOf(engine); f == nil || f.Step != "the container engine" || !strings.Contains(f.Try, "docker info") {
		t.Errorf("engine failure = %+v", f)
	}
	if f := InfraFailureOf(cellrun.Report{Result: cell.Result{Cell: c, Error: "render manifests: boom"}}); f == nil || f.Step != "before the cell's first phase" || !strings.Contains(f.Try, "repro line") {
		t.Errorf("unnamed failure = %+v", f)
	}
	if f := InfraFailureOf(fixtureResults()[2]); f != nil {
		t.Errorf("a regression is no infrastructure failure: %+v", f)
	}
}

// An inconclusive rule is a JUnit <failure> by default (dashboards hide
// <skipped>); JUnitInconclusive "skipped" keeps the old behaviour; a bad value
// is refused before anything is written.
func TestJUnitInconclusiveIsAFailureByDefault(t *testing.T) {
	const name = "upgrade v0.2.0 -> v0.2.2 [all-at-once] / no-coverage-gaps"
	caseOf := func(mode JUnitInconclusive) junitTestcase {
		t.Helper()
		data, err := RenderJUnit(fixtureResults(), mode)
		if err != nil {
			t.Fatal(err)
		}
		var doc junitTestsuites
		if err := xml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		for _, tc := range doc.Suites[0].Cases {
			if tc.Name == name {
				return tc
			}
		}
		t.Fatalf("no case %s", name)
		return junitTestcase{}
	}
	for _, mode := range []JUnitInconclusive{"", JUnitInconclusiveFailure} {
		if tc := caseOf(mode); tc.Failure == nil || tc.Failure.Type != "inconclusive" || tc.Skipped != nil || !strings.HasPrefix(tc.Failure.Message, "inconclusive: ") {
			t.Errorf("mode %q: inconclusive rule written as failure=%+v skipped=%+v, want a failure of type inconclusive", mode, tc.Failure, tc.Skipped)
		}
	}
	if tc := caseOf(JUnitInconclusiveSkipped); tc.Skipped == nil || tc.Failure != nil {
		t.Errorf("mode skipped: failure=%+v skipped=%+v", tc.Failure, tc.Skipped)
	}

	dir := filepath.Join(t.TempDir(), "artifacts")
	err := WriteAll(WriteInput{Dir: dir, Results: fixtureResults(), JUnitInconclusive: "sometimes", Getenv: func(string) string { return "" }})
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("bad JUnitInconclusive: exit %d, want %d (%v)", exitcode.Of(err), exitcode.BadInput, err)
	}
	for _, word := range []string{"-junit-inconclusive", `"sometimes"`, "failure", "skipped"} {
		if !strings.Contains(err.Error(), word) {
			t.Errorf("error %q does not name %s", err, word)
		}
	}
	if _, statErr := os.Stat(dir); !os.IsNotExist(statErr) {
		t.Errorf("bad input wrote %s before refusing: %v", dir, statErr)
	}
	if v, err := ParseJUnitInconclusive("skipped"); err != nil || v != JUnitInconclusiveSkipped {
		t.Errorf("ParseJUnitInconclusive(skipped) = %q %v", v, err)
	}
}

// Rollback cells are told apart in every report title (issue 25 item 5).
func TestRollbackCellTitledEverywhere(t *testing.T) {
	rb := fixtureResults()[4]
	// A regression, so it gets details, a bundle and its own page.
	rb.Verdict, rb.Matched, rb.Mismatch = verdict.Fail, false, "verdict fail, expected pass"
	rb.Rules[0].Verdict = verdict.Fail
	rb.BundleDir = BundleDir(rb.Cell)
	const title = "v0.2.2 → v0.2.3 → v0.2.2 (rollback) [all-at-once]"
	if Title(rb.Cell) != title {
		t.Fatalf("Title = %q, want %q", Title(rb.Cell), title)
	}
	plain := fixtureResults()[4]
	plain.Cell.Rollback = false
	w := writeAll(t, WriteInput{Results: []cellrun.Report{plain, rb}, Exit: exit(exitcode.Regression)})
	if !strings.Contains(w.summary, "| "+title+" (simulated) |") || !strings.Contains(w.summary, "### ✗ "+title+" (simulated)") {
		t.Errorf("summary.md does not title the rollback cell %q:\n%s", title, w.summary)
	}
	if !strings.Contains(w.summary, "| v0.2.2 → v0.2.3 [all-at-once] (simulated) |") {
		t.Errorf("summary.md lost the plain cell's title")
	}
	if !strings.Contains(w.junit, `name="upgrade v0.2.2 -&gt; v0.2.3 -&gt; v0.2.2 (rollback) [all-at-once]"`) {
		t.Errorf("junit.xml does not name the rollback cell")
	}
	if !strings.Contains(w.results, `"title": "`+title+`"`) || !strings.Contains(w.results, `"title": "v0.2.2 → v0.2.3 [all-at-once]"`) {
		t.Errorf("results.json titles missing")
	}
	if section := htmlSection(t, w.html, "v0.2.2-v0.2.3-v0.2.2"); !strings.Contains(section, title) {
		t.Errorf("report.html section does not title the rollback cell:\n%.400s", section)
	}
	page, err := os.ReadFile(filepath.Join(w.dir, rb.BundleDir, HTMLFile))
	if err != nil || !strings.Contains(string(page), "<h1>"+title+" (simulated): ✗ regression</h1>") {
		t.Errorf("the bundle's report.html does not title the rollback cell: %v\n%.800s", err, page)
	}
}

// The gate's page states a cell's expectation once: the sentence under the
// heading says what was expected and what came, then only why it differs.
func TestHTMLSaysTheExpectationOnce(t *testing.T) {
	const why = "candidate pr-1 (the newest release v0.2.7 with its images and manifests replaced): an upgrade to it is expected not to break"
	r := fixtureResults()[2]
	r.Cell.From, r.Cell.To, r.Cell.Expect.Why = "v0.2.0", "pr-1", why
	page, err := RenderHTML([]cellrun.Report{r}, 0, exit(exitcode.Regression))
	if err != nil {
		t.Fatal(err)
	}
	explain := regexp.MustCompile(`<p class="explain">.*</p>`).FindString(string(page))
	if n := strings.Count(explain, "an upgrade to it is expected not to break"); n != 1 {
		t.Errorf("the expectation appears %d times in the cell's sentence:\n%s", n, explain)
	}
	if strings.Count(explain, "pass") != 1 || !strings.Contains(explain, "failing rules: no-runner-401") {
		t.Errorf("the sentence must say expected pass once and why it differs:\n%s", explain)
	}
	// A cell whose verdict matched but whose 401 attributions did not: the
	// matcher's text carries the why as well; it is said once all the same.
	r = fixtureResults()[2]
	r.Cell.Expect = verdict.Expectation{Verdict: verdict.Fail, Why: why, Unauthorized: []verdict.Attribution{{Caller: ledger.CallerBackend, Family: "/"}}}
	r.Matched, r.Mismatch = verdict.Match(r.Outcome(), r.Cell.Expect)
	if r.Matched {
		t.Fatal("fixture must not match")
	}
	md := string(RenderMarkdown([]cellrun.Report{r}, 0, nil))
	page, err = RenderHTML([]cellrun.Report{r}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	explain = regexp.MustCompile(`<p class="explain">.*</p>`).FindString(string(page))
	regression := regexp.MustCompile(`\*\*Regression:\*\* .*`).FindString(md)
	for name, s := range map[string]string{"report.html": explain, "summary.md": regression} {
		// summary.md's table row carries the expectation; its sentence need not.
		if n := strings.Count(s, "an upgrade to it is expected not to break"); n > 1 || name == "report.html" && n != 1 || !strings.Contains(s, "expected runner 401s for backend /, saw none") {
			t.Errorf("%s: expectation said %d times or the difference missing:\n%s", name, n, s)
		}
	}
}

// The fixtures behind the goldens use the rules harness/verdict has now and
// ledger lines a real platform writes (a caller's pod is its own deployment's);
// the goldens carry no rule name that no longer exists.
func TestFixturesAndGoldensAreRealistic(t *testing.T) {
	known := map[string]bool{}
	for _, n := range verdict.DefaultRules().Names() {
		known[n] = true
	}
	deployment := map[ledger.Caller]string{ledger.CallerBackend: "backend-api", ledger.CallerOperator: "agentic-operator"}
	for _, r := range fixtureResults() {
		for _, rr := range r.Rules {
			if !known[rr.Rule] {
				t.Errorf("cell %s: rule %q is not a rule of harness/verdict", r.Cell.Name(), rr.Rule)
			}
		}
		for n := range r.Cell.Expect.Rules {
			if !known[n] {
				t.Errorf("cell %s pins rule %q, not a rule of harness/verdict", r.Cell.Name(), n)
			}
		}
		for _, o := range r.Ledger {
			if o.CallerPod == "" {
				continue
			}
			if want, ok := deployment[o.Caller]; ok && !strings.HasPrefix(o.CallerPod, "ambient-code/"+want+"-") {
				t.Errorf("cell %s: a %s call from pod %s: %s", r.Cell.Name(), o.Caller, o.CallerPod, FormatObservation(o))
			}
		}
	}
	names := regexp.MustCompile("(?:- `|/ )([a-z0-9]+(?:-[a-z0-9]+)+)(?:` —|\")")
	for _, golden := range []string{"summary.md.golden", "junit.xml.golden"} {
		data, err := os.ReadFile(filepath.Join("testdata", golden))
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, m := range names.FindAllStringSubmatch(string(data), -1) {
			seen++
			if !known[m[1]] {
				t.Errorf("%s names rule %q, not a rule of harness/verdict", golden, m[1])
			}
		}
		if seen == 0 {
			t.Errorf("%s: no rule name found; the check would pass on anything", golden)
		}
	}
}

// htmlSection is the <section> of one cell in report.html.
func htmlSection(t *testing.T, page, name string) string {
	t.Helper()
	start := strings.Index(page, `<section class="cell" id="cell-`+name+`"`)
	if start < 0 {
		t.Fatalf("report.html has no section for %s", name)
	}
	end := strings.Index(page[start:], "</section>")
	return page[start : start+end]
}
