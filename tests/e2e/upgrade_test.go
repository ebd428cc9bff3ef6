package e2e

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/net/html"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/report/htmlreport"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
	"github.com/ambient-e2e/upgrade-harness/tests/support/browser"
)

// artifactsDir is where the suite's matrix writes its reports ($ARTIFACTS, as
// `make e2e`; a relative one is the checkout's, as for make, so that the tests
// in tests/e2e and the CLIs they start in the checkout share it).
func artifactsDir() string {
	d := os.Getenv("ARTIFACTS")
	if d == "" {
		d = "_artifacts"
	}
	if !filepath.IsAbs(d) {
		d = filepath.Join(repoRoot, d)
	}
	return d
}

// TestUpgradeMatrix runs every `ci` cell of the simulated catalog as a feature
// of its own on the shared cluster (a cell added to the catalog is a new test,
// no code), each through the matrix with its own artifacts, and checks its
// verdict and 401 attributions against the catalog. Cells with more to show
// carry extra assessments: the reports, bundle and repro line of the
// regression cell, its report.html in chromium, and no bundle for a pass.
func TestUpgradeMatrix(t *testing.T) {
	// assessReports reads its Secrets through cfg.Client(), which the lane points at its cluster.
	l := onLane(laneCells)
	cat := simulatedCatalog(t)
	cells, err := cat.Cells(catalog.Filter{Labels: []string{"ci"}})
	if err != nil || len(cells) == 0 {
		t.Fatalf("the simulated catalog's ci cells: %v (%d cells)", err, len(cells))
	}
	extra := map[string][]cellAssessment{
		"v0.2.0-v0.2.1": {{"a passing cell leaves no bundle", assessNoBundle}},
		"v0.2.0-v0.2.2": {
			{"the reports, the bundle and the repro line are written, with no token value", assessReports},
			{"chromium draws its report.html: lanes, the backend and operator 401 marks after the upgrade mark, the verdict", assessReportInChromium},
			{"the runner probe diagnoses backend and operator: caller sends no valid token; the summary says so", assessDiagnosis},
		},
	}
	var fs []features.Feature
	for _, c := range cells {
		fs = append(fs, cellFeature(l, c, extra[c.Name()]...))
	}
	l.Test(t, fs...)
}

// cellAssessment is a check of one cell's run: its result and its artifacts.
type cellAssessment struct {
	name string
	fn   func(ctx context.Context, t *testing.T, cfg *envconf.Config, r cellrun.Report, artifacts string)
}

// cellFeature runs one catalog cell on the shared cluster and assesses it.
func cellFeature(l lane, c upgrade.Cell, extra ...cellAssessment) features.Feature {
	var r cellrun.Report
	artifacts := filepath.Join(artifactsDir(), "ci", c.Name())
	f := features.New(c.Name()+": "+string(c.Expect.Verdict)+" ("+c.Expect.Why+")").
		WithLabel("area", "upgrade").
		WithLabel("cell", c.Name()).
		WithSetup("run the cell on the shared cluster", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			out, err := matrix.Run(ctx, matrix.Input{
				Catalog: "simulated", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"),
				CellNames: []string{c.Name()}, Target: l.target(ctx, t), Artifacts: artifacts, Log: os.Stderr,
			})
			if err != nil {
				t.Logf("matrix: %v", err)
			}
			NewWithT(t).Expect(out.Results).To(HaveLen(1), "the cell ran")
			r = out.Results[0]
			return ctx
		}).
		Assess("its verdict and 401 attributions match the catalog", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			t.Logf("%s: verdict %s (expected %s) in %s; 401s: %s", r.Cell.Name(), r.Verdict, r.Cell.Expect.Verdict, r.Duration.Round(time.Second), report.Format401s(r.Unauthorized))
			logDetectionLatency(t, r.Ledger)
			if !r.Matched || r.Error != "" {
				for _, rule := range r.Rules {
					t.Logf("rule %s: %s — %s", rule.Rule, rule.Verdict, rule.Reason)
				}
				dumpLedger(t, r.Ledger)
			}
			NewWithT(t).Expect(r.Error).To(BeEmpty())
			NewWithT(t).Expect(r.Matched).To(BeTrue(), "%s", r.Mismatch)
			return ctx
		})
	for _, a := range extra {
		a := a
		f = f.Assess(a.name, func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			a.fn(ctx, t, cfg, r, artifacts)
			return ctx
		})
	}
	return f.Feature()
}

func assessNoBundle(_ context.Context, t *testing.T, _ *envconf.Config, r cellrun.Report, _ string) {
	NewWithT(t).Expect(r.BundleDir).To(BeEmpty(), "a passing cell leaves no bundle")
}

// assessReports checks the files a nightly run and a PR gate read, the
// bundle, the repro line, and that no secret value of the cluster is in them
// (read through the suite's envconf client).
func assessReports(ctx context.Context, t *testing.T, cfg *envconf.Config, r cellrun.Report, dir string) {
	g := NewWithT(t)
	for _, f := range []string{report.JUnitFile, report.SummaryFile, report.ResultsFile, report.HTMLFile} {
		g.Expect(filepath.Join(dir, f)).To(BeAnExistingFile())
	}
	g.Expect(r.BundleDir).NotTo(BeEmpty())
	for _, f := range []string{"index.md", "ledger.json"} {
		g.Expect(filepath.Join(dir, r.BundleDir, f)).To(BeAnExistingFile())
	}
	parsed, err := report.ParseRepro(r.Repro)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parsed.Cell.From).To(Equal(r.Cell.From))
	g.Expect(parsed.Cell.To).To(Equal(r.Cell.To))
	var all corev1.SecretList
	g.Expect(cfg.Client().Resources().List(ctx, &all)).To(Succeed())
	var values []string
	for _, s := range all.Items {
		for k, v := range s.Data {
			// A service-account-token Secret also carries the public CA and the
			// namespace name, which are not secret and do appear in reports.
			if k == "ca.crt" || k == "namespace" {
				continue
			}
			values = append(values, string(v))
		}
	}
	g.Expect(values).NotTo(BeEmpty(), "the cell's Secrets are still in the cluster")
	findings, err := secrets.ScanDir(dir, values)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(findings).To(BeEmpty())
}

// assessReportInChromium loads the cell's report.html in headless chromium,
// checks the rendered DOM and saves a screenshot into the bundle.
func assessReportInChromium(ctx context.Context, t *testing.T, _ *envconf.Config, r cellrun.Report, dir string) {
	g := NewWithT(t)
	start := time.Now()
	g.Expect(filepath.Join(dir, report.HTMLFile)).To(BeAnExistingFile(), "the run's report.html")
	page := filepath.Join(dir, r.BundleDir, report.HTMLFile)
	g.Expect(page).To(BeAnExistingFile(), "the cell's report.html in its bundle")
	chromium, err := browser.Ensure(ctx, browser.EnsureInput{Log: os.Stderr})
	g.Expect(err).NotTo(HaveOccurred())
	ensured := time.Now()
	dump, err := chromium.DumpDOM(ctx, browser.DumpDOMInput{File: page})
	g.Expect(err).NotTo(HaveOccurred())
	dumped := time.Now()
	dom, err := parseDOM(dump)
	g.Expect(err).NotTo(HaveOccurred())

	sections := find(dom.root, func(n *html.Node) bool { return n.Data == "section" && attr(n, "data-cell") == r.Cell.Name() })
	g.Expect(sections).To(HaveLen(1), "one section for the cell")
	sec := sections[0]
	verdicts := find(sec, byTagClass("span", "verdict"))
	g.Expect(verdicts).NotTo(BeEmpty())
	g.Expect(strings.TrimSpace(textOf(verdicts[0]))).To(Equal(string(verdict.Fail)), "the verdict the browser shows")
	svgs := find(sec, byTagClass("svg", "timeline"))
	g.Expect(svgs).To(HaveLen(1), "an SVG timeline")
	lanes := map[string]bool{}
	for _, l := range find(svgs[0], byTagClass("g", "lane")) {
		lanes[attr(l, "data-lane")] = true
	}
	for _, want := range []string{"component:operator", "component:backend", "component:runner", "401:backend /", "401:backend /events", "401:operator /workflow"} {
		g.Expect(lanes).To(HaveKey(want), "lane %s", want)
	}
	sessions := 0
	for k := range lanes {
		if strings.HasPrefix(k, "session:") {
			sessions++
		}
	}
	g.Expect(sessions).To(BeNumerically(">=", 4), "a lane per session (two before, two after the upgrade): %v", lanes)
	ups := find(svgs[0], byTagClass("line", "upgrade-mark"))
	g.Expect(ups).To(HaveLen(1), "the upgrade mark")
	upX, err := floatAttr(ups[0], "x1")
	g.Expect(err).NotTo(HaveOccurred())
	upAt, err := time.Parse(time.RFC3339Nano, attr(ups[0], "data-time"))
	g.Expect(err).NotTo(HaveOccurred())
	after := map[string]int{}
	for _, m := range find(svgs[0], byTagClass("circle", "mark-401")) {
		x, err := floatAttr(m, "cx")
		g.Expect(err).NotTo(HaveOccurred())
		at, err := time.Parse(time.RFC3339Nano, attr(m, "data-time"))
		g.Expect(err).NotTo(HaveOccurred())
		caller := attr(m, "data-caller")
		// v0.2.0's runner takes no token: no 401 may be drawn before the upgrade.
		g.Expect(x).To(BeNumerically(">=", upX), "%s 401 mark at x=%v left of the upgrade mark (x=%v)", caller, x, upX)
		g.Expect(at.Before(upAt)).To(BeFalse(), "%s 401 at %s before the upgrade started %s", caller, at, upAt)
		if x > upX {
			after[caller]++
		}
	}
	g.Expect(after).To(HaveKey(string(ledger.CallerBackend)), "backend 401 marks after the upgrade mark")
	g.Expect(after).To(HaveKey(string(ledger.CallerOperator)), "operator 401 marks after the upgrade mark")

	shot := filepath.Join(dir, r.BundleDir, "report.png")
	shotStart := time.Now()
	g.Expect(chromium.Screenshot(ctx, browser.ScreenshotInput{File: page, Out: shot, Width: 1400, Height: 1300})).To(Succeed())
	shotTook := time.Since(shotStart)
	// The marks were painted, not only parsed: the colour of a 401 after
	// the upgrade covers more pixels than its one legend swatch (~80).
	red, size, err := pixelsNear(shot, htmlreport.MarkColour(htmlreport.MarkKey(ledger.Observation{Class: ledger.ClassUpgrade})), 8)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(size).To(Equal(image.Pt(1400, 1300)))
	g.Expect(red).To(BeNumerically(">", 200), "pixels of the upgrade-caused 401 colour in %s", shot)
	st, _ := os.Stat(page)
	t.Logf("report %s: %d bytes, %d lanes, 401 marks after the upgrade %v; screenshot %s (%d mark-coloured pixels); browser checks took %s (chromium found/installed %s, --dump-dom %s, --screenshot %s)",
		page, st.Size(), len(lanes), after, shot, red, time.Since(start).Round(100*time.Millisecond),
		ensured.Sub(start).Round(100*time.Millisecond), dumped.Sub(ensured).Round(100*time.Millisecond), shotTook.Round(100*time.Millisecond))
}

// assessDiagnosis checks what the runner probe found on the cell's live
// runners (the catalog's expectDiagnosis is matched too; this says it in words).
func assessDiagnosis(_ context.Context, t *testing.T, _ *envconf.Config, r cellrun.Report, dir string) {
	g := NewWithT(t)
	g.Expect(r.Diagnosis).NotTo(BeNil(), "the failed cell was diagnosed")
	for _, s := range r.Diagnosis.Sentences() {
		t.Logf("diagnosis: %s", s)
	}
	// Both callers send no token (#1425): the wire witness runs in every
	// e2e cell, so the class is no-header with the wire lines as evidence
	// (the probe alone could only say caller-sends-no-valid-token).
	for _, caller := range []ledger.Caller{ledger.CallerBackend, ledger.CallerOperator} {
		found := false
		for _, p := range r.Diagnosis.Pairs {
			if p.Caller != caller || !p.Class.Refines(verdict.DiagCallerSendsNoValidToken) {
				continue
			}
			found = true
			t.Logf("diagnosis of %s: %s (%s, basis %s), %d evidence lines", caller, p.Class, p.Why, p.Basis, len(p.Evidence))
			g.Expect(p.Basis).To(Equal(diagnose.BasisWire), "%s: %s", caller, p.Why)
			g.Expect(p.Class).To(Equal(verdict.DiagNoHeader), "%s: %s", caller, p.Why)
			g.Expect(p.Evidence).NotTo(BeEmpty(), "%s: wire lines as evidence", caller)
		}
		g.Expect(found).To(BeTrue(), "%s diagnosed as sending no valid token: %v", caller, r.Diagnosis.Diagnoses())
	}
	summary, err := os.ReadFile(filepath.Join(dir, report.SummaryFile))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(summary)).To(ContainSubstring("**Diagnosis**"))
	g.Expect(string(summary)).To(MatchRegexp("- (no header|caller sends no valid token) \\(`[a-z-]+`\\): backend"))
}

func resultOf(t *testing.T, out matrix.Output, name string) cellrun.Report {
	t.Helper()
	for _, r := range out.Results {
		if r.Cell.Name() == name {
			return r
		}
	}
	t.Fatalf("no result for cell %s", name)
	return cellrun.Report{}
}

// logDetectionLatency reports how long a runner's 401 line took to reach the ledger.
func logDetectionLatency(t *testing.T, obs []ledger.Observation) {
	var ds []time.Duration
	for _, o := range obs {
		if o.Signal == ledger.SignalRunner401 && !o.Time.IsZero() {
			ds = append(ds, o.Recorded.Sub(o.Time))
		}
	}
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	t.Logf("detection latency of %d runner 401s: p50 %s, max %s", len(ds), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}
