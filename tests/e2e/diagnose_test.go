package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// contractOutcome is what docs/platform.md §3.5 item 8 says a new session's runner
// answers family f when operator, backend and runner run op, be and ru of
// {v0.2.0, v0.2.2}: a v0.2.2 runner checks the token only when a v0.2.2
// operator wrote AGUI_TOKEN; then only the v0.2.2 backend's handler family
// sends it (never its websocket family, never an operator before v0.2.7);
// otherwise GET /events is gone from the v0.2.2 runner (404).
func contractOutcome(op, be, ru string, f platform.CallFamily) diagnose.Outcome {
	const b = "v0.2.2"
	websocket := map[string]bool{"/": true, "/events": true, "/interrupt": true, "/capabilities": true, "/feedback": true, "/mcp/status": true}
	sends := f.Caller == platform.Backend && be == b && !websocket[f.Path]
	switch {
	case ru == b && op == b && !sends:
		return diagnose.Outcome401
	case ru == b && f == platform.BackendEvents:
		return diagnose.OutcomeOther
	}
	return diagnose.OutcomeOK
}

// TestDiagnose: two seeded faults, one per diagnosis class of a caller, are
// detected, attributed and diagnosed by the runner probe on a shared
// cluster, and the score says so: the operator writes AGUI_TOKEN under the
// wrong Secret key (runner rejects the Secret's token, both callers), and
// the backend's websocket family sends no header (no-header, from the wire
// witness's requests). The probe on a real regression is assessed on the v0.2.0→v0.2.2
// cell of TestUpgradeMatrix; `make e2e CATALOG=faults` runs all eight.
func TestDiagnose(t *testing.T) {
	testDiagnose(t, faultOperatorKey, faultWebsocketNoHeader)
}

const (
	faultOperatorKey       = "v0.2.7-v0.2.7-fault-operator-key"
	faultWebsocketNoHeader = "v0.2.7-v0.2.7-fault-websocket-no-header"
)

func testDiagnose(t *testing.T, cells ...string) {
	l := onLane(laneDiagnosis)
	n := len(cells)
	f := features.New("seeded faults: detected, attributed and diagnosed").
		WithLabel("area", "diagnose").
		Assess(fmt.Sprintf("%d seeded faults are detected, attributed and diagnosed", n), func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			artifacts := t.TempDir()
			start := time.Now()
			out, err := matrix.Run(ctx, matrix.Input{Catalog: "faults", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"),
				CellNames: cells, Target: l.target(ctx, t), Artifacts: artifacts, Log: os.Stderr})
			if err != nil {
				t.Logf("matrix: %v", err)
			}
			t.Logf("%d fault cells took %s", n, time.Since(start).Round(time.Second))
			g.Expect(out.Results).To(HaveLen(n))
			for _, r := range out.Results {
				probe := "not diagnosed"
				if d := r.Diagnosis; d != nil {
					probe = "diagnosis " + d.Took.Round(100*time.Millisecond).String()
					if d.Probe != nil {
						probe += ", probe pod " + d.Probe.Took.Round(100*time.Millisecond).String()
					}
				}
				t.Logf("%s: verdict %s in %s (%s), 401s %s, diagnosis %v", r.Cell.Name(), r.Verdict, r.Duration.Round(time.Second), probe, report.Format401s(r.Unauthorized), r.Diagnosis.Sentences())
				g.Expect(r.Matched).To(BeTrue(), "%s: %s", r.Cell.Name(), r.Mismatch)
			}
			g.Expect(out.Score).NotTo(BeNil())
			t.Logf("score: %s", out.Score.Summary())
			score := fmt.Sprintf("%d/%d detected, %d/%d attributed, %d/%d diagnosed", n, n, n, n, n, n)
			g.Expect(out.Score.Summary()).To(Equal(score + ", 0/0 false alarms"))
			key := resultOf(t, out, faultOperatorKey)
			g.Expect(key.Diagnosis.Diagnoses()).To(ContainElements(
				verdict.Diagnosis{Caller: ledger.CallerBackend, Class: verdict.DiagRunnerRejectsSecretToken},
				verdict.Diagnosis{Caller: ledger.CallerOperator, Class: verdict.DiagRunnerRejectsSecretToken}))
			// Probe only: "its AGUI_TOKEN comes from Secret … key k8s-token"; wire: "it holds Secret … key k8s-token".
			g.Expect(strings.Join(key.Diagnosis.Sentences(), "\n")).To(MatchRegexp("Secret ambient-runner-token-\\S+ key k8s-token"))
			summary, err := os.ReadFile(filepath.Join(artifacts, report.SummaryFile))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(summary)).To(ContainSubstring("## Seeded faults: " + score))
			if slices.Contains(cells, faultWebsocketNoHeader) {
				// The exact class needs the wire witness (the probe alone says caller-sends-no-valid-token, which does not score).
				g.Expect(string(summary)).To(ContainSubstring("- no header (`no-header`): backend v0.2.7-fault-websocket-no-header → runner"))
			}
			return ctx
		}).Feature()
	l.Test(t, f)
}

// TestDiagnoseSweep: the compatibility sweep of v0.2.0 → v0.2.2 on the
// shared cluster reproduces the contract's mixed-version table and names the
// culprit pairs (eight fresh installs, about 4.5 minutes). It covers every
// operator/backend/runner mix of the two releases, so the mixed-version cell
// v0.2.0→v0.2.2 operator,runner runs in the nightly instead.
func TestDiagnoseSweep(t *testing.T) {
	l := onLane(laneAfterOwn)
	f := features.New("compatibility sweep: which component pair breaks, and why").
		WithLabel("area", "diagnose").
		Assess("the v0.2.0 → v0.2.2 sweep reproduces docs/platform.md §3.5 item 8 and names the culprits", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			artifacts := t.TempDir()
			start := time.Now()
			out, err := matrix.Sweep(ctx, matrix.Input{Catalog: "simulated", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"),
				Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"v0.2.2"}}, Target: l.target(ctx, t), Artifacts: artifacts, Log: os.Stderr})
			t.Logf("sweep took %s:\n%s\n%s", time.Since(start).Round(time.Second), report.CompatMarkdown(out.Compat), out.Compat.Sentence)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out.Compat.Combinations).To(HaveLen(8))
			for _, comb := range out.Compat.Combinations {
				g.Expect(comb.Error).To(BeEmpty(), comb.Name())
				for _, r := range comb.Results {
					want := contractOutcome(comb.Operator, comb.Backend, comb.Runner, r.Family())
					g.Expect(r.Outcome).To(Equal(want), "%s: %s answered %v", comb.Name(), r.Family(), r.Statuses)
				}
			}
			g.Expect(out.Compat.Sentence).To(Equal("runner v0.2.2 started by operator v0.2.2 rejects backend v0.2.0 on every call family, " +
				"backend v0.2.2 on POST /, GET /events, POST /interrupt, GET /capabilities, POST /feedback and GET /mcp/status, " +
				"and operator v0.2.2 on POST /workflow and POST /repos/*; " +
				"runner v0.2.2 started by operator v0.2.0 answers 404 to backend v0.2.0 and v0.2.2 on GET /events; every other pair works"))
			g.Expect(filepath.Join(artifacts, report.CompatFile)).To(BeAnExistingFile())
			summary, err := os.ReadFile(filepath.Join(artifacts, report.SummaryFile))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(summary)).To(ContainSubstring("| backend v0.2.2 | POST / | ok | **ok with operator v0.2.0, 401 with operator v0.2.2** |"))
			return ctx
		}).Feature()
	l.Test(t, f)
}
