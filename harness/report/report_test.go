package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// plantedToken stands for an agui-token that leaked into a log line.
const plantedToken = "0b8e2f5a-7c41-4e9d-a3b6-1f2e3d4c5b6a"

var t0 = time.Date(2026, 5, 11, 10, 0, 0, 0, time.UTC)

// Pods of the fixture's platform: a caller's pod is its own deployment's.
var callerPods = map[ledger.Caller]string{
	ledger.CallerBackend:  "ambient-code/backend-api-78b7f8dd76-rj4m5",
	ledger.CallerOperator: "ambient-code/agentic-operator-c49c4fd8b-fqlww",
}

func obs(sec int, sig ledger.Signal, caller ledger.Caller, method, path string, status int, session, detail string) ledger.Observation {
	return ledger.Observation{
		Time: t0.Add(time.Duration(sec) * time.Second), Recorded: t0.Add(time.Duration(sec+1) * time.Second),
		Phase: ledger.PhaseAfter, Signal: sig, Source: "runner-log:proj-a/" + session + "-runner",
		Caller: caller, CallerPod: callerPods[caller], Method: method, Path: path, Status: status,
		Namespace: "proj-a", Session: session, Role: ledger.RolePostUpgrade, Detail: detail,
	}
}

// judged is what the cell package makes of a ledger (cell.judge): the
// current rules of harness/verdict decide, nothing is written by hand.
func judged(c upgrade.Cell, raw []ledger.Observation, runErr error) cellrun.Report {
	res := cellrun.Report{Result: cell.Result{Cell: c, Working: c.Expect.Working.Or(verdict.DefaultWorkingLevel)}}
	res.Ledger = verdict.Annotate(raw, c.From)
	res.Rules = verdict.Evaluate(verdict.EvaluateInput{Observations: res.Ledger, Annotated: true, Working: res.Working})
	res.Verdict = verdict.Combine(res.Rules)
	res.Unauthorized = verdict.Count401s(res.Ledger)
	res.Matched, res.Mismatch = verdict.Match(res.Outcome(), c.Expect)
	if runErr != nil {
		res.Error, res.Verdict, res.Matched, res.Mismatch = runErr.Error(), verdict.Inconclusive, false, "could not run: "+runErr.Error()
	}
	if res.Matched {
		res.Mismatch = ""
	}
	return res
}

// realRun is the ledger, phases and rollouts of a real simulated run of
// v0.2.0 → v0.2.2 (htmlreport/testdata), judged again by the current rules.
func realRun() cellrun.Report {
	raw, err := os.ReadFile(filepath.Join("htmlreport", "testdata", "v0.2.0-v0.2.2.result.json"))
	if err != nil {
		panic(err)
	}
	var rec cellrun.Report
	if err := json.Unmarshal(raw, &rec); err != nil {
		panic(err)
	}
	c := upgrade.Cell{Catalog: "simulated", From: "v0.2.0", To: "v0.2.2", Order: mustOrder("all-at-once"),
		Expect: verdict.Expectation{Verdict: verdict.Fail, Why: "upstream #1425", Rules: map[string]verdict.Verdict{"restarted-session-runs": verdict.Fail}}}
	res := judged(c, rec.Ledger, nil)
	res.Started, res.Duration, res.UpgradeStarted, res.Phases, res.Rollouts = rec.Started, rec.Duration, rec.UpgradeStarted, rec.Phases, rec.Rollouts
	return res
}

// decidedPass is a cell every current rule passed (the ledger left out).
func decidedPass(c upgrade.Cell) cellrun.Report {
	res := cellrun.Report{Result: cell.Result{Cell: c, Verdict: verdict.Pass, Matched: true, Working: c.Expect.Working.Or(verdict.DefaultWorkingLevel)}}
	for _, name := range verdict.DefaultRules().Names() {
		rule, _ := verdict.DefaultRules().Rule(name)
		if rule.When != nil && !c.Rollback {
			continue
		}
		res.Rules = append(res.Rules, verdict.RuleResult{Rule: name, Description: rule.Description, Verdict: verdict.Pass, Informational: rule.Informational, Reason: "decided"})
	}
	return res
}

// fixtureResults is a fixed run: the expected regression (a real run's
// ledger), a clean pass with an override, an unexpected failure (with a
// leaked token and many entries), a cell whose kind cluster could not be
// created, and a rollback cell.
func fixtureResults() []cellrun.Report {
	regression := realRun()
	regression.NodeImage = "upgrade-harness/node:v1.33.13-abc123"
	regression.Repro = ReproCommand(regression.Cell, ReproOptions{NodeImage: "upgrade-harness/node:v1.33.13-abc123"})
	regression.BundleDir = BundleDir(regression.Cell)
	regression.KeptCluster = "kind-uh-matrix"

	clean := decidedPass(upgrade.Cell{Catalog: "simulated", From: "v0.2.0", To: "v0.2.7", Order: mustOrder("operator-first"), Overrides: platform.Images{Backend: "quay.io/x/y:pr-1"},
		Expect: verdict.Expectation{Verdict: verdict.Pass, Why: "fixed by #1556"}})
	clean.Started, clean.Duration = t0.Add(10*time.Minute), 198*time.Second

	var many []ledger.Observation
	for i := 0; i < 14; i++ {
		many = append(many, obs(100+5*i, ledger.SignalRunner401, ledger.CallerOperator, "POST", "/workflow", 401, "sess-c", `INFO:     10.244.0.9:5000 - "POST /workflow HTTP/1.1" 401 Unauthorized`))
	}
	many[0].Detail = "request carried X-Ambient-Session-Token: " + plantedToken + " <script>"
	unexpected := judged(upgrade.Cell{Catalog: "simulated", From: "v0.2.3", To: "v0.2.6", Order: mustOrder("all-at-once"), Expect: verdict.Expectation{Verdict: verdict.Pass}}, many, nil)
	unexpected.Rules[0].Reason += " | token " + plantedToken
	unexpected.Started, unexpected.Duration = t0.Add(20*time.Minute), 301*time.Second
	unexpected.Repro = "make repro FROM=v0.2.3 TO=v0.2.6 ORDER=all-at-once CATALOG=simulated"
	unexpected.BundleDir = "cells/v0.2.3-v0.2.6"

	kindErr := errors.New("kind create cluster uh-matrix (image upgrade-harness/node:v1.33.13-abc123): exit status 1")
	infra := cellrun.Report{Result: cell.NotStarted(upgrade.Cell{Catalog: "simulated", From: "v0.2.1", To: "v0.2.3", Order: mustOrder("all-at-once"), Expect: verdict.Expectation{Verdict: verdict.Pass}}, kindErr, "")}
	infra.Phases = []progress.Phase{{Step: "cluster uh-matrix", Name: "cluster uh-matrix", Started: t0.Add(30 * time.Minute), Took: 12 * time.Second, Error: kindErr.Error()}}
	infra.Started, infra.Duration = t0.Add(30*time.Minute), 12*time.Second
	infra.Repro = "make repro FROM=v0.2.1 TO=v0.2.3 ORDER=all-at-once CATALOG=simulated"

	rollback := decidedPass(upgrade.Cell{Catalog: "simulated", From: "v0.2.2", To: "v0.2.3", Order: mustOrder("all-at-once"), Rollback: true,
		Expect: verdict.Expectation{Verdict: verdict.Pass, Why: "a rollback to v0.2.2 keeps sessions working"}})
	rollback.Started, rollback.Duration = t0.Add(40*time.Minute), 171*time.Second
	return []cellrun.Report{regression, clean, unexpected, infra, rollback}
}

func mustOrder(s string) upgrade.Order {
	o, err := upgrade.ParseOrder(s)
	if err != nil {
		panic(err)
	}
	return o
}

func newTestRedactor() *secrets.Redactor {
	r := secrets.NewRedactor()
	r.Add("agui-token", plantedToken)
	return r
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run go test ./harness/report -update to create it): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden; rerun with -update if the change is intended\n--- got ---\n%s", name, got)
	}
}

func TestGoldenJUnit(t *testing.T) {
	got, err := RenderJUnit(RedactResults(fixtureResults(), newTestRedactor()), "")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "junit.xml.golden", got)
}

func TestGoldenMarkdown(t *testing.T) {
	// What the matrix decides for this run (a regression wins) and the code the command maps it to.
	checkGolden(t, "summary.md.golden", RenderMarkdown(RedactResults(fixtureResults(), newTestRedactor()), 0, exit(exitcode.Regression)))
}

// Parsed JUnit checks, independent of the golden file's formatting.
func TestJUnitStructure(t *testing.T) {
	data, err := RenderJUnit(fixtureResults(), "")
	if err != nil {
		t.Fatal(err)
	}
	var doc junitTestsuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("junit.xml is not valid XML: %v", err)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("want one testsuite per run, got %d", len(doc.Suites))
	}
	s := doc.Suites[0]
	// 5 cells + 7 rules each, 9 in the rollback cell.
	if s.Tests != 42 || len(s.Cases) != 42 {
		t.Fatalf("tests = %d (cases %d), want 42", s.Tests, len(s.Cases))
	}
	byName := map[string]junitTestcase{}
	for _, c := range s.Cases {
		byName[c.Name] = c
	}
	const reg, unexp, infra = "upgrade v0.2.0 -> v0.2.2 [all-at-once]", "upgrade v0.2.3 -> v0.2.6 [all-at-once]", "upgrade v0.2.1 -> v0.2.3 [all-at-once]"
	cases := []struct {
		name                 string
		failure, error, skip bool
		messageContains      string
	}{
		{name: reg},
		{name: reg + " / no-runner-401"},          // expected regression: not a failure
		{name: reg + " / restarted-session-runs"}, // pinned fail, got fail
		{name: reg + " / from-release-clean"},     // informational: decides nothing
		{name: reg + " / no-coverage-gaps", failure: true, messageContains: "inconclusive: a watcher could not cover"},
		{name: unexp, failure: true, messageContains: "expected pass, got fail; failing rules: no-runner-401"},
		{name: unexp + " / no-runner-401", failure: true, messageContains: "a runner 401 caused by the upgrade"},
		{name: infra, error: true, messageContains: "infrastructure error in step cluster uh-matrix: kind create cluster"},
		{name: infra + " / no-runner-401", skip: true, messageContains: "the cell could not run"},
		{name: "upgrade v0.2.0 -> v0.2.7 [operator-first] / no-runner-401"},
		{name: "upgrade v0.2.2 -> v0.2.3 -> v0.2.2 (rollback) [all-at-once] / no-runner-401-after-rollback"},
	}
	for _, want := range cases {
		c, ok := byName[want.name]
		if !ok {
			t.Errorf("missing test case %q", want.name)
			continue
		}
		if (c.Failure != nil) != want.failure || (c.Error != nil) != want.error || (c.Skipped != nil) != want.skip {
			t.Errorf("%s: failure=%v error=%v skipped=%v, want %v %v %v", want.name, c.Failure != nil, c.Error != nil, c.Skipped != nil, want.failure, want.error, want.skip)
		}
		msg := ""
		switch {
		case c.Failure != nil:
			msg = c.Failure.Message
		case c.Error != nil:
			msg = c.Error.Message
		case c.Skipped != nil:
			msg = c.Skipped.Message
		}
		if !strings.Contains(msg, want.messageContains) {
			t.Errorf("%s: message %q does not contain %q", want.name, msg, want.messageContains)
		}
	}
	props := map[string]string{}
	for _, p := range byName[reg].Properties.Property {
		props[p.Name] = p.Value
	}
	for k, v := range map[string]string{
		"from": "v0.2.0", "to": "v0.2.2", "order": "all-at-once", "catalog": "simulated",
		"node image": "upgrade-harness/node:v1.33.13-abc123", "expected verdict": "fail",
		"repro command": "make repro FROM=v0.2.0 TO=v0.2.2 ORDER=all-at-once CATALOG=simulated NODE_IMAGE=upgrade-harness/node:v1.33.13-abc123",
	} {
		if props[k] != v {
			t.Errorf("property %q = %q, want %q", k, props[k], v)
		}
	}
	if c := byName[reg]; c.Classname != "upgrade-harness.simulated" {
		t.Errorf("classname=%s, want upgrade-harness.simulated", c.Classname)
	}
	body := byName[unexp+" / no-runner-401"].Failure.Body
	if n := strings.Count(body, "runner-401 caller=operator"); n != 14 {
		t.Errorf("rule failure body has %d evidence lines, want all 14:\n%s", n, body)
	}
	// Failures: the unexpected cell and 2 of its rules failing, 4 inconclusive
	// rules; errors: the cell that could not run; skipped: its 7 rules.
	if s.Failures != 7 || s.Errors != 1 || s.Skipped != 7 {
		t.Errorf("failures=%d errors=%d skipped=%d, want 7 1 7", s.Failures, s.Errors, s.Skipped)
	}
}

func TestJUnitSurvivesControlCharactersAndCDATAEnd(t *testing.T) {
	results := fixtureResults()[2:3]
	results[0].Rules[0].Evidence[1].Detail = "\x1b[31mred\x1b[0m ]]> tail"
	data, err := RenderJUnit(results, "")
	if err != nil {
		t.Fatal(err)
	}
	var doc junitTestsuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("invalid XML with control characters: %v", err)
	}
	if body := doc.Suites[0].Cases[1].Failure.Body; !strings.Contains(body, "]]> tail") {
		t.Errorf("CDATA end marker lost: %q", body)
	}
}

func TestPinnedRuleMismatchFailsCell(t *testing.T) {
	r := fixtureResults()[0]
	i := ruleIndex(t, r, "restarted-session-runs")
	r.Rules[i].Verdict = verdict.Pass // the restart unexpectedly worked
	r.Matched = false
	if msg := cellMismatch(r); !strings.Contains(msg, "pinned rules differ: restarted-session-runs: expected fail (pinned), got pass") {
		t.Fatalf("cellMismatch = %q", msg)
	}
	if status, _ := ruleOutcome(r, r.Rules[i]); status != ruleFailed {
		t.Fatalf("pinned mismatch must fail its test case")
	}
}

func ruleIndex(t *testing.T, r cellrun.Report, name string) int {
	t.Helper()
	for i, rr := range r.Rules {
		if rr.Rule == name {
			return i
		}
	}
	t.Fatalf("cell %s has no rule %s", r.Cell.Name(), name)
	return -1
}

func TestExpectedFailButPassed(t *testing.T) {
	r := fixtureResults()[0]
	r.Verdict, r.Matched = verdict.Pass, false
	r.Rules = []verdict.RuleResult{{Rule: "no-runner-401", Verdict: verdict.Pass}}
	if msg := cellMismatch(r); !strings.Contains(msg, "the expected regression was not reproduced") {
		t.Fatalf("cellMismatch = %q", msg)
	}
}

func TestMarkdownEvidenceCap(t *testing.T) {
	md := string(RenderMarkdown(fixtureResults(), 3, nil))
	if !strings.Contains(md, "… and 11 more") {
		t.Fatalf("evidence not capped at 3 of 14:\n%s", md)
	}
	if !strings.Contains(md, "| v0.2.3 → v0.2.6 [all-at-once] (simulated) | pass | fail | ✗ regression | operator /workflow ×14 | 5m1s |") {
		t.Fatalf("matrix row missing or wrong:\n%s", md)
	}
	results := fixtureResults()
	results[2].Unauthorized = append(results[2].Unauthorized, verdict.Count401{Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Class: ledger.ClassFromRelease, CallerRelease: "v0.2.3", RunnerRelease: "v0.2.3", Count: 2})
	md = string(RenderMarkdown(results, 3, nil))
	if !strings.Contains(md, "operator /workflow ×16 (2 from-release)") || !strings.Contains(md, "**Already broken before the upgrade** (v0.2.3's own 401s, 2 in all") ||
		!strings.Contains(md, "- operator@v0.2.3 → runner@v0.2.3 POST /workflow 401 ×2") {
		t.Fatalf("from-release 401s missing or wrong:\n%s", md)
	}
}

func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	stepSummary := filepath.Join(t.TempDir(), "step-summary.md")
	if err := os.WriteFile(stepSummary, []byte("previous step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ARTIFACTS": dir, "GITHUB_STEP_SUMMARY": stepSummary}
	in := WriteInput{Results: fixtureResults(), Getenv: func(k string) string { return env[k] }, Redactor: newTestRedactor()}
	if err := WriteAll(in); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{JUnitFile, SummaryFile, ResultsFile, HTMLFile, "cells/v0.2.0-v0.2.2/" + HTMLFile, "cells/v0.2.3-v0.2.6/" + HTMLFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not written into $ARTIFACTS: %v", name, err)
		}
	}
	if page, _ := os.ReadFile(filepath.Join(dir, "cells/v0.2.3-v0.2.6", HTMLFile)); strings.Count(string(page), `<section class="cell"`) != 1 {
		t.Errorf("a bundle's report.html must hold its cell alone")
	}
	step, _ := os.ReadFile(stepSummary)
	if !strings.HasPrefix(string(step), "previous step\n## FAIL — 1 regression, 1 infrastructure error, 3 of 5 cells as expected\n") {
		t.Errorf("summary not appended to $GITHUB_STEP_SUMMARY:\n%.200s", step)
	}

	raw, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
	var doc ResultsDocument
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if doc.Schema != ResultsSchema || len(doc.Results) != 5 || len(doc.Results[2].Ledger) != 14 {
		t.Fatalf("results.json lost data: schema=%s results=%d", doc.Schema, len(doc.Results))
	}
	if doc.Results[3].Ledger == nil || !strings.Contains(string(raw), `"ledger": []`) {
		t.Errorf("an empty ledger must be [] not null")
	}
	if want := fixtureResults()[0]; doc.Results[0].Duration != want.Duration || want.Duration == 0 || !doc.Results[0].UpgradeStarted.Equal(want.UpgradeStarted) || want.UpgradeStarted.IsZero() {
		t.Errorf("results.json does not round-trip durations and times")
	}

	// The planted token (in a ledger detail, an evidence entry and a rule
	// reason) is nowhere in the artifacts, and the scan really can see it.
	findings, err := secrets.ScanDir(dir, []string{plantedToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 0 {
		t.Fatalf("token leaked into artifacts: %v", findings)
	}
	if f, _ := secrets.ScanDir(filepath.Dir(stepSummary), []string{plantedToken}); len(f) != 0 {
		t.Fatalf("token leaked into step summary: %v", f)
	}
	if !strings.Contains(string(raw), "<redacted:agui-token "+secrets.Fingerprint(plantedToken)+">") {
		t.Errorf("results.json lacks the readable redaction marker")
	}
	if err := WriteAll(WriteInput{Dir: t.TempDir(), Results: fixtureResults(), Getenv: func(string) string { return "" }}); err != nil {
		t.Fatal(err)
	}
}

func TestWriteAllWithoutRedactorStillHidesHeaderTokens(t *testing.T) {
	dir := t.TempDir()
	if err := WriteAll(WriteInput{Dir: dir, Results: fixtureResults(), Getenv: func(string) string { return "" }}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{JUnitFile, SummaryFile, ResultsFile} {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		if strings.Contains(string(data), "X-Ambient-Session-Token: "+plantedToken) {
			t.Errorf("%s: header value not redacted by pattern", name)
		}
	}
	// The rule reason holds the token bare and unnamed: without a Redactor
	// nothing can recognise it, and the scan must say so (positive control).
	findings, err := secrets.ScanDir(dir, []string{plantedToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) == 0 {
		t.Fatal("ScanDir found nothing although a bare token was written")
	}
}

func TestArtifactsDir(t *testing.T) {
	if got := ArtifactsDir(func(string) string { return "" }); got != "_artifacts" {
		t.Errorf("default = %q", got)
	}
	if got := ArtifactsDir(func(k string) string { return map[string]string{"ARTIFACTS": "/a"}[k] }); got != "/a" {
		t.Errorf("$ARTIFACTS ignored: %q", got)
	}
	if got := BundleDir(upgrade.Cell{From: "v0.2.0", To: "v0.2.2", Order: mustOrder("operator,runner")}); got != "cells/v0.2.0-v0.2.2-operator-runner" {
		t.Errorf("BundleDir = %q", got)
	}
}

func TestRepeatsFlagFlakyCells(t *testing.T) {
	base := fixtureResults()
	steady, flaky := base[0], base[2]
	var runs []cellrun.Report
	for i, v := range []verdict.Verdict{verdict.Fail, verdict.Fail, verdict.Fail} {
		r := steady
		r.Run, r.Verdict = i+1, v
		runs = append(runs, r)
	}
	for i, v := range []verdict.Verdict{verdict.Fail, verdict.Pass} {
		r := flaky
		r.Run, r.Verdict, r.Matched = i+1, v, v == verdict.Pass
		runs = append(runs, r)
	}
	runs = append(runs, base[1]) // a cell run once is no repeat
	reps := Repeats(runs)
	if len(reps) != 2 {
		t.Fatalf("Repeats = %+v, want the two repeated cells", reps)
	}
	if reps[0].Flaky || reps[0].Seen() != "fail 3/3" || reps[0].Matched != 3 {
		t.Errorf("steady cell = %+v (%s)", reps[0], reps[0].Seen())
	}
	if !reps[1].Flaky || reps[1].Seen() != "pass 1/2, fail 1/2" || reps[1].Matched != 1 {
		t.Errorf("flaky cell = %+v (%s)", reps[1], reps[1].Seen())
	}
	if got := Flaky(runs); len(got) != 1 || got[0] != "v0.2.3-v0.2.6" {
		t.Errorf("Flaky = %v", got)
	}
	md := string(RenderMarkdown(runs, 3, nil))
	if !strings.Contains(md, "| v0.2.3-v0.2.6 | 2 | pass 1/2, fail 1/2 | 1/2 | **yes** |") {
		t.Errorf("summary has no repeat row for the flaky cell:\n%s", md)
	}
	junit, err := RenderJUnit(runs, "")
	if err != nil || !strings.Contains(string(junit), "upgrade v0.2.0 -&gt; v0.2.2 [all-at-once] (run 3)") {
		t.Errorf("JUnit must name each run: %v\n%.600s", err, junit)
	}
	if BundleDir(steady.Cell, 2) != "cells/v0.2.0-v0.2.2/run-2" || BundleDir(steady.Cell, 1) != "cells/v0.2.0-v0.2.2" {
		t.Errorf("run bundle dirs: %s %s", BundleDir(steady.Cell, 2), BundleDir(steady.Cell, 1))
	}
}

// html/template writes "+", "&", "<" and quotes as entities, a spelling the
// artifacts scan does not look for: report.html must not hold a known value in
// it either, even from a field the result redaction keeps (an override image).
func TestHTMLHidesEscapedSecretSpellings(t *testing.T) {
	const value = "s3cr+t&value<with>'quotes'"
	red := newTestRedactor()
	red.Add("override-token", value)
	results := fixtureResults()
	results[1].Cell.Overrides.Backend = "quay.io/x/y:" + value
	results[1].Rollouts = []cell.Rollout{{Step: 1, Component: "backend", Deployment: "backend-api", FromImage: "a", ToImage: value, Started: t0, Done: t0.Add(time.Second)}}
	results[1].Ledger = []ledger.Observation{obs(61, ledger.SignalRunner401, ledger.CallerBackend, "POST", "/", 401, "sess-z", "x")}
	dir := t.TempDir()
	if err := WriteAll(WriteInput{Dir: dir, Results: results, Getenv: func(string) string { return "" }, Redactor: red}); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if escaped := templateEscaper.Replace(value); strings.Contains(string(page), escaped) || strings.Contains(string(page), value) {
		t.Errorf("report.html holds the secret value (raw or as %q)", escaped)
	}
	if !strings.Contains(string(page), "&lt;redacted:secret "+secrets.Fingerprint(value)+"&gt;") {
		t.Errorf("report.html lacks the redaction marker in place of the escaped value")
	}
	if f, err := secrets.ScanDir(dir, []string{value, plantedToken}); err != nil || len(f) != 0 {
		t.Errorf("scan: %v %v", f, err)
	}
}

// TestInterruptedCellIsReportedSo: a cell a signal stopped is an error of
// type "interrupted" in JUnit, says so in summary.md and results.json, and is
// inconclusive and unmatched however the cell was expected to end.
func TestInterruptedCellIsReportedSo(t *testing.T) {
	c := upgrade.Cell{Catalog: "simulated", From: "v0.2.0", To: "v0.2.1", Order: mustOrder("all-at-once"), Expect: verdict.Expectation{Verdict: verdict.Inconclusive}}
	res := cell.NotStarted(c, errors.New("interrupted by SIGTERM during cluster uh-x"), "SIGTERM during cluster uh-x")
	if res.Verdict != verdict.Inconclusive || res.Matched {
		t.Fatalf("verdict %s matched %v, want inconclusive and unmatched", res.Verdict, res.Matched)
	}
	dir := t.TempDir()
	if err := WriteAll(WriteInput{Dir: dir, Results: []cellrun.Report{{Result: res}}, Getenv: func(string) string { return "" }}); err != nil {
		t.Fatal(err)
	}
	var suites junitTestsuites
	raw, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(raw, &suites); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range suites.Suites {
		for _, tc := range s.Cases {
			if tc.Error != nil && tc.Error.Type == "interrupted" && strings.Contains(tc.Error.Message, "SIGTERM during cluster uh-x") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("junit.xml has no error of type interrupted naming the signal:\n%s", raw)
	}
	var doc ResultsDocument
	raw, _ = os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 1 || doc.Results[0].Interrupted != "SIGTERM during cluster uh-x" || doc.Results[0].Verdict != verdict.Inconclusive {
		t.Errorf("results.json: %s", raw)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	if !strings.Contains(string(md), "interrupted") {
		t.Errorf("summary.md does not say interrupted:\n%s", md)
	}
}

// A passed cell with the from release's own 401s gets details too; they must
// not say it failed.
func TestMarkdownDetailsOfAPassedCellSayPassed(t *testing.T) {
	var passed cellrun.Report
	for _, r := range fixtureResults() {
		if r.Verdict == verdict.Fail && r.Matched {
			passed = r
			break
		}
	}
	passed.Verdict, passed.Cell.Expect.Verdict, passed.Cell.Expect.Why = verdict.Pass, verdict.Pass, "fixed in v0.2.7"
	md := string(RenderMarkdown([]cellrun.Report{passed}, 3, nil))
	if !strings.Contains(md, "Passed as expected (fixed in v0.2.7).") || strings.Contains(md, "Failed as expected") {
		t.Fatalf("details of a passed cell:\n%s", md)
	}
}

// The restart's stop time is shown where the cell's time is: in the matrix
// table's Duration column, in the cell's details, and in results.json.
func TestReportsShowTheRestartsRunnerStop(t *testing.T) {
	r := fixtureResults()[0]
	r.RestartStop = &session.RunnerStop{Pod: "uh-cell/s-a-runner", Measured: true, Took: 60400 * time.Millisecond,
		GracePeriod: 60 * time.Second, HitGracePeriod: true, Reason: "runner took 60 s to stop: grace period"}
	md := string(RenderMarkdown([]cellrun.Report{r}, 3, nil))
	for _, want := range []string{"(restart: runner took 60 s to stop: grace period) |", "**Restart:** runner took 60 s to stop: grace period."} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	if err := WriteAll(WriteInput{Dir: dir, Results: []cellrun.Report{r}, Getenv: func(string) string { return "" }}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
	var doc ResultsDocument
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Results[0].RestartStop; got == nil || *got != *r.RestartStop {
		t.Errorf("results.json restart stop %+v, want %+v", got, r.RestartStop)
	}
	r.RestartStop = nil
	if md := string(RenderMarkdown([]cellrun.Report{r}, 3, nil)); strings.Contains(md, "restart:") || strings.Contains(md, "**Restart:**") {
		t.Errorf("a cell without a restart shows one:\n%s", md)
	}
}
