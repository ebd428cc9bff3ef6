package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/probe"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

func sampleCompat() diagnose.Compat {
	c := diagnose.Compat{Catalog: "simulated", From: "v0.2.0", To: "v0.2.2", Duration: 5 * time.Minute}
	for _, op := range []string{"v0.2.0", "v0.2.2"} {
		comb := diagnose.Combination{Operator: op, Backend: "v0.2.2", Runner: "v0.2.2", Duration: 40 * time.Second}
		for _, f := range platform.CallFamilies {
			st := 200
			if op == "v0.2.2" && f.Caller == platform.Operator {
				st = 401
			}
			comb.Results = append(comb.Results, diagnose.NewFamilyResult(f, map[int]int{st: 1}))
		}
		c.Combinations = append(c.Combinations, comb)
	}
	c.Sentence = c.Culprits()
	return c
}

func TestWriteAllDiagnosisSections(t *testing.T) {
	dir := t.TempDir()
	results := fixtureResults()
	results[0].Diagnosis = &diagnose.Findings{Wire: &diagnose.WireStatus{Requests: 40}, Pairs: []diagnose.PairDiagnosis{
		{Caller: ledger.CallerBackend, Class: verdict.DiagHeaderNameMismatch, Basis: diagnose.BasisWire, Header: "X-Ambient-Token",
			Why:      "backend v0.2.2 → runner v0.2.2: 401 on POST / (×12); header name mismatch: the caller sends the token as X-Ambient-Token (sha256:0123abcd), the runner reads X-Ambient-Session-Token",
			Evidence: []string{"11:00:00.000 backend v0.2.2 → uh-cell/c-runner POST / → 401; headers: Content-Type, X-Ambient-Token; X-Ambient-Token: sha256:0123abcd"}},
		{Caller: ledger.CallerBackend, Class: verdict.DiagCallerSendsNoValidToken, Basis: diagnose.BasisProbe, WireNote: "the wire witness saw none of this pair's requests",
			Why: "backend v0.2.2 → runner v0.2.2: 401 on POST /workflow (×1); the runner accepts the Secret's agui-token (sha256:0123abcd); from the probe only: the wire witness saw none of this pair's requests"}}}
	score := diagnose.NewScore([]diagnose.ScoredCell{{Name: "v0.2.7-v0.2.7-fault-header-name", Fault: "header-name",
		Expect:  verdict.Expectation{Verdict: verdict.Fail, Diagnoses: []verdict.Diagnosis{{Caller: ledger.CallerBackend, Class: verdict.DiagCallerSendsNoValidToken}}},
		Outcome: verdict.Outcome{Verdict: verdict.Fail, Diagnoses: []verdict.Diagnosis{{Caller: ledger.CallerBackend, Class: verdict.DiagCallerSendsNoValidToken}}}}})
	if err := WriteAll(WriteInput{Dir: dir, Results: results, Getenv: func(string) string { return "" }, Compat: []diagnose.Compat{sampleCompat()}, Score: score}); err != nil {
		t.Fatal(err)
	}
	summary, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	for _, want := range []string{
		"**Diagnosis**\n\n- header name mismatch (`header-name-mismatch`): backend v0.2.2 → runner v0.2.2: 401 on POST / (×12); header name mismatch: the caller sends the token as X-Ambient-Token (sha256:0123abcd), the runner reads X-Ambient-Session-Token\n" +
			"  - wire: `11:00:00.000 backend v0.2.2 → uh-cell/c-runner POST / → 401; headers: Content-Type, X-Ambient-Token; X-Ambient-Token: sha256:0123abcd`\n" +
			"- caller sends no valid token (`caller-sends-no-valid-token`): backend v0.2.2 → runner v0.2.2: 401 on POST /workflow (×1); the runner accepts the Secret's agui-token (sha256:0123abcd); from the probe only: the wire witness saw none of this pair's requests\n",
		"## Seeded faults: 1/1 detected, 1/1 attributed, 1/1 diagnosed, 0/0 false alarms",
		"| header-name | v0.2.7-v0.2.7-fault-header-name | ✓ | ✓ | ✓ | backend caller-sends-no-valid-token |  |",
		"## Compatibility v0.2.0 → v0.2.2 (simulated)",
		"Runner v0.2.2 rejects operator v0.2.2 on POST /workflow and POST /repos/*; every other pair works.",
		"| operator v0.2.2 | POST /workflow | not run | **401** |",
	} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, summary)
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	if !strings.Contains(string(page), "<h3>Diagnosis</h3>") || !strings.Contains(string(page), "<td>header name mismatch (header-name-mismatch)</td><td>backend v0.2.2 → runner v0.2.2: 401 on POST / (×12)") ||
		!strings.Contains(string(page), "<td>11:00:00.000 backend v0.2.2 → uh-cell/c-runner POST / → 401; headers: Content-Type, X-Ambient-Token; X-Ambient-Token: sha256:0123abcd</td>") {
		t.Errorf("report.html lacks the diagnosis table with its wire evidence")
	}
	resJSON, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
	for _, want := range []string{`"class": "header-name-mismatch"`, `"basis": "wire"`, `"header": "X-Ambient-Token"`, `"evidence": [`, `"basis": "probe"`,
		`"wireNote": "the wire witness saw none of this pair's requests"`, `"wire": {`} {
		if !strings.Contains(string(resJSON), want) {
			t.Errorf("results.json lacks %s", want)
		}
	}
	var doc CompatDocument
	data, err := os.ReadFile(filepath.Join(dir, CompatFile))
	if err != nil || json.Unmarshal(data, &doc) != nil || doc.Schema != CompatSchema || len(doc.Sweeps) != 1 || len(doc.Sweeps[0].Table.Rows) != 2*11+2*3 {
		t.Fatalf("compat.json: %v %+v", err, doc.Schema)
	}
	var res ResultsDocument
	data, _ = os.ReadFile(filepath.Join(dir, ResultsFile))
	if err := json.Unmarshal(data, &res); err != nil || res.Score == nil || res.Score.Diagnosed != 1 || len(res.Compat) != 1 || res.Results[0].Diagnosis == nil {
		t.Fatalf("results.json: %v score %+v", err, res.Score)
	}
}

// A sweep of one combination and a probe of one runner pod say so in the singular.
func TestDiagnosisPlurals(t *testing.T) {
	c := sampleCompat()
	c.Combinations = c.Combinations[:1]
	if md := CompatMarkdown(c); !strings.Contains(md, "\n1 combination in 5m0s:") {
		t.Errorf("compat section:\n%s", md)
	}
	if md := CompatMarkdown(sampleCompat()); !strings.Contains(md, "\n2 combinations in 5m0s:") {
		t.Errorf("compat section:\n%s", md)
	}
	r := fixtureResults()[0]
	r.Diagnosis = &diagnose.Findings{Pairs: []diagnose.PairDiagnosis{{Caller: ledger.CallerBackend, Class: verdict.DiagCallerSendsNoValidToken, Why: "x"}},
		Runners: make([]diagnose.RunnerProbe, 1), Probe: &probe.PodRun{Pod: "uh-probe", ServiceAccount: "default", Took: time.Second}}
	var b strings.Builder
	writeDiagnosis(&b, r)
	if !strings.Contains(b.String(), "Probed 1 runner pod from pod uh-probe") {
		t.Errorf("diagnosis:\n%s", b.String())
	}
}
