package e2e

import (
	"context"
	"encoding/json"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/bisect"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// ceilLog2 is ⌈log2 n⌉, the acceptance bound's halving part.
func ceilLog2(n int) int { return bits.Len(uint(n - 1)) }

// bisectResultOf is the last cell the bisect ran for build.
func bisectResultOf(t *testing.T, out bisect.Output, build string) cellrun.Report {
	t.Helper()
	for i := len(out.Results) - 1; i >= 0; i-- {
		if out.Results[i].Cell.To == build {
			return out.Results[i]
		}
	}
	t.Fatalf("the bisect ran no cell for %s", build)
	return cellrun.Report{}
}

// expectBisectReports: summary.md, results.json and report.html carry the
// answer, the first bad build's diagnosis and the compatibility table.
func expectBisectReports(g Gomega, artifacts, firstBad, lastGood string) {
	summary, err := os.ReadFile(filepath.Join(artifacts, report.SummaryFile))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(summary)).To(HavePrefix("## Bisect: first bad build: " + firstBad + "\n"))
	g.Expect(string(summary)).To(ContainSubstring("- Diagnosis: "))
	g.Expect(string(summary)).To(ContainSubstring("- Repro of the first bad build: `make repro FROM="))
	g.Expect(string(summary)).To(ContainSubstring("## Compatibility " + lastGood + " → " + firstBad))
	var doc struct {
		Bisect *report.BisectSection `json:"bisect"`
	}
	js, err := os.ReadFile(filepath.Join(artifacts, report.ResultsFile))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(json.Unmarshal(js, &doc)).To(Succeed())
	g.Expect(doc.Bisect).NotTo(BeNil())
	g.Expect(doc.Bisect.FirstBad).To(Equal(firstBad))
	page, err := os.ReadFile(filepath.Join(artifacts, report.HTMLFile))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(page)).To(ContainSubstring("first bad build: " + firstBad))
	g.Expect(string(page)).To(ContainSubstring("Compatibility " + lastGood + " → " + firstBad))
}

// TestBisectReleasesSlow: from v0.2.0 over the simulated releases v0.2.1,
// v0.2.2, v0.2.3, v0.2.6 and v0.2.7 the first bad build is v0.2.2 (#1425:
// backend and operator send no token), in at most ⌈log2 5⌉ + 2 cells with
// both ends verified, with its diagnosis and the v0.2.1 → v0.2.2
// compatibility table in the reports. Slow: its cells are v0.2.0's, whose
// runners take their 60 s grace period in every restart; make test bisects
// the seeded fault (TestBisectSeededFault).
func TestBisectReleasesSlow(t *testing.T) {
	testBisectReleases(t, false)
}

func testBisectReleases(t *testing.T, quick bool) {
	l := onLane(laneDiagnosis)
	f := features.New("bisect: the first bad release in log2(N) cells").
		WithLabel("area", "bisect").
		Assess("from v0.2.0 over v0.2.1…v0.2.7 the first bad build is v0.2.2", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			artifacts := t.TempDir()
			start := time.Now()
			out, err := bisect.Run(ctx, bisect.Input{Catalog: "simulated", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"), From: "v0.2.0",
				Target: l.target(ctx, t), Artifacts: artifacts, Log: os.Stderr, TrustGood: quick, TrustBad: quick, SkipSweep: quick})
			took := time.Since(start)
			linear := bisect.LinearCells(0, 1, false)
			t.Logf("bisect: %s; %d cells in %s (linear scan of the same builds: %d cells; mean cell %s)", out.Answer.Sentence, out.Answer.Cells(),
				took.Round(time.Second), linear, meanCell(out.Results))
			g.Expect(exitcode.Of(err)).To(Equal(exitcode.Regression), "%v", err)
			g.Expect(out.FirstBad()).To(Equal("v0.2.2"))
			bound := ceilLog2(5) + 2
			if quick {
				bound = ceilLog2(5) // no verification cells
			}
			g.Expect(out.Answer.Cells()).To(BeNumerically("<=", bound))
			bad := bisectResultOf(t, out, "v0.2.2")
			g.Expect(bad.Verdict).To(Equal(verdict.Fail))
			g.Expect(bad.Diagnosis.Diagnoses()).To(ContainElements(
				HaveField("Caller", ledger.CallerBackend), HaveField("Caller", ledger.CallerOperator)))
			if quick {
				expectBisectSummary(g, artifacts, "v0.2.2")
				return ctx
			}
			g.Expect(out.Compat).NotTo(BeNil())
			g.Expect(out.Compat.From + " → " + out.Compat.To).To(Equal("v0.2.1 → v0.2.2"))
			for _, comb := range out.Compat.Combinations {
				g.Expect(comb.Error).To(BeEmpty(), comb.Name())
			}
			expectBisectReports(g, artifacts, "v0.2.2", "v0.2.1")
			return ctx
		}).Feature()
	l.Test(t, f)
}

// seededBuilds writes a builds file: build-1 … build-n, the simulated v0.2.7
// up to build-(k-1), then v0.2.7 with a backend fault from build-k on.
func seededBuilds(t *testing.T, n, k int, fault string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("kind: Builds\nbuilds:\n")
	for i := 1; i <= n; i++ {
		tag := "v0.2.7"
		if i >= k {
			tag = fault
		}
		b.WriteString("  - name: build-" + strconv.Itoa(i) + "\n    images:\n      backend: localhost/ambient-sim/vteam_backend:" + tag + "\n")
	}
	path := filepath.Join(t.TempDir(), "builds.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// expectBisectSummary: summary.md opens with the bisect's answer and carries
// the first bad build's diagnosis.
func expectBisectSummary(g *WithT, artifacts, firstBad string) {
	summary, err := os.ReadFile(filepath.Join(artifacts, report.SummaryFile))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(summary)).To(HavePrefix("## Bisect: first bad build: " + firstBad + "\n"))
	g.Expect(string(summary)).To(ContainSubstring("- Diagnosis: "))
}

func meanCell(results []cellrun.Report) time.Duration {
	if len(results) == 0 {
		return 0
	}
	var sum time.Duration
	for _, r := range results {
		sum += r.Duration
	}
	return (sum / time.Duration(len(results))).Round(time.Second)
}

// TestBisectSeededFault: over builds good, good, then the backend's
// websocket family without a token (#1425 at v0.2.2, seeded into v0.2.7) from
// build 3 on, from v0.2.7 the first bad build is build-3, diagnosed from the
// wire as the backend sending no header. The one bisect of make test: ends
// trusted and no sweep, two cells.
func TestBisectSeededFault(t *testing.T) {
	testBisectSeeded(t, true)
}

// TestBisectSeededFaultVerifiedSlow is TestBisectSeededFault with both ends
// verified (at most ⌈log2 5⌉ + 2 cells) and the build-2 → build-3
// compatibility table. Slow: left out of make test.
func TestBisectSeededFaultVerifiedSlow(t *testing.T) {
	testBisectSeeded(t, false)
}

func testBisectSeeded(t *testing.T, quick bool) {
	// The cells lane: the diagnosis lane is the suite's longest.
	l := onLane(laneCells)
	f := features.New("bisect: a seeded fault's build").
		WithLabel("area", "bisect").
		Assess("from v0.2.7 over good, good, fault, fault, fault the first bad build is build-3", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			artifacts := t.TempDir()
			start := time.Now()
			out, err := bisect.Run(ctx, bisect.Input{Catalog: "simulated", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"), From: "v0.2.7",
				BuildsFile: seededBuilds(t, 5, 3, "v0.2.7-fault-websocket-no-header"), Target: l.target(ctx, t), Artifacts: artifacts, Log: os.Stderr,
				TrustGood: quick, TrustBad: quick, SkipSweep: quick})
			t.Logf("bisect: %s; %d cells in %s (linear scan: %d cells; mean cell %s)", out.Answer.Sentence, out.Answer.Cells(),
				time.Since(start).Round(time.Second), bisect.LinearCells(0, 2, false), meanCell(out.Results))
			g.Expect(exitcode.Of(err)).To(Equal(exitcode.Regression), "%v", err)
			g.Expect(out.FirstBad()).To(Equal("build-3"))
			bound := ceilLog2(5) + 2
			if quick {
				bound = ceilLog2(5)
			}
			g.Expect(out.Answer.Cells()).To(BeNumerically("<=", bound))
			bad := bisectResultOf(t, out, "build-3")
			g.Expect(bad.Diagnosis.Diagnoses()).To(ContainElement(verdict.Diagnosis{Caller: ledger.CallerBackend, Class: verdict.DiagNoHeader}))
			g.Expect(bad.Repro).To(ContainSubstring("CANDIDATE_NAME=build-3"))
			if quick {
				expectBisectSummary(g, artifacts, "build-3")
				return ctx
			}
			g.Expect(out.Compat).NotTo(BeNil())
			expectBisectReports(g, artifacts, "build-3", "build-2")
			return ctx
		}).Feature()
	l.Test(t, f)
}

// TestBisectInconclusiveStepSlow: a build whose cell is inconclusive (the
// backend refuses every spec change: v0.2.7-fault-spec-refused) between a good
// and a bad build is retried once, then skipped; the answer is the range it
// could not narrow, never a culprit.
func TestBisectInconclusiveStepSlow(t *testing.T) {
	l := onLane(laneDiagnosis)
	f := features.New("bisect: an inconclusive step is skipped").
		WithLabel("area", "bisect").
		Assess("good, inconclusive, bad: the range of the last two, no culprit", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			path := filepath.Join(t.TempDir(), "builds.yaml")
			g.Expect(os.WriteFile(path, []byte(`builds:
  - name: good
    images: {backend: localhost/ambient-sim/vteam_backend:v0.2.7}
  - name: refused
    images: {backend: localhost/ambient-sim/vteam_backend:v0.2.7-fault-spec-refused}
  - name: bad
    images: {backend: localhost/ambient-sim/vteam_backend:v0.2.7-fault-websocket-no-header}
`), 0o644)).To(Succeed())
			artifacts := t.TempDir()
			out, err := bisect.Run(ctx, bisect.Input{Catalog: "simulated", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"), From: "v0.2.7",
				BuildsFile: path, SkipSweep: true, Target: l.target(ctx, t), Artifacts: artifacts, Log: os.Stderr})
			t.Logf("bisect: %s; %d cells", out.Answer.Sentence, out.Answer.Cells())
			g.Expect(exitcode.Of(err)).To(Equal(exitcode.Regression), "%v", err)
			g.Expect(string(out.Answer.Status)).To(Equal("range"))
			g.Expect(out.FirstBad()).To(BeEmpty())
			g.Expect(out.Section.Candidates).To(Equal([]string{"refused", "bad"}))
			g.Expect(out.Section.Skipped).To(Equal([]string{"refused"}))
			g.Expect(out.Answer.Cells()).To(Equal(4)) // two verifications, the inconclusive step twice
			summary, err := os.ReadFile(filepath.Join(artifacts, report.SummaryFile))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(summary)).To(ContainSubstring("- Not narrowed: the first bad build is one of refused, bad (skipped: refused)"))
			return ctx
		}).Feature()
	l.Test(t, f)
}
