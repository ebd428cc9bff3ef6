package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/redact"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// artifactsDir is where the suite's matrix writes its reports ($ARTIFACTS, as `make e2e`).
func artifactsDir() string {
	if d := os.Getenv("ARTIFACTS"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, "_artifacts")
}

// TestUpgradeMatrix runs the catalog's `ci` cells on the shared cluster, used as
// an existing cluster (the -kubeconfig mode), and checks each verdict against
// the cell's expectation, then the reports a nightly run and a PR gate read.
func TestUpgradeMatrix(t *testing.T) {
	// Parallel with TestKeepOnFailure, which runs on clusters of its own: the
	// tests that share this cluster are sequential and finish before either starts.
	t.Parallel()
	var out matrix.Output
	var target *cell.Target
	f := features.New("the ci cells of the simulated catalog give their expected verdicts").
		WithLabel("area", "upgrade").
		WithSetup("run the matrix on the shared cluster through its kubeconfig", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			target = sharedTarget(ctx, t)
			cat := simulatedCatalog(t)
			// An existing cluster must already hold the images: load every release's.
			for _, v := range cat.Versions() {
				r, err := cell.RenderRelease(cat, release(t, cat, v), nil)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(cell.PreloadImages(ctx, target, r)).To(Succeed())
			}
			var err error
			out, err = matrix.Run(ctx, matrix.Input{
				Catalog: "simulated", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"),
				Filter: catalog.Filter{Labels: []string{"ci"}}, Artifacts: artifactsDir(),
				Kubeconfig: target.Kind.GetKubeconfig(), Context: target.Kind.GetKubectlContext(), Log: os.Stderr,
			})
			if err != nil {
				t.Logf("matrix: %v", err)
			}
			g.Expect(out.Results).To(HaveLen(5), "the five ci cells ran")
			return ctx
		}).
		Assess("every cell's verdict matches its expectation", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			for _, r := range out.Results {
				r := r
				t.Run(r.Cell.Name(), func(t *testing.T) {
					t.Logf("%s: verdict %s (expected %s) in %s; 401s: %s", r.Cell.Name(), r.Verdict, r.Expected.Verdict, r.Duration.Round(time.Second), report.Format401s(r.Unauthorized))
					logDetectionLatency(t, r.Ledger)
					if !r.Matched || r.Error != "" {
						for _, rule := range r.Rules {
							t.Logf("rule %s: %s — %s", rule.Rule, rule.Verdict, rule.Reason)
						}
						dumpLedger(t, r.Ledger)
					}
					NewWithT(t).Expect(r.Error).To(BeEmpty())
					NewWithT(t).Expect(r.Matched).To(BeTrue(), "verdict %s, expected %s (%s)", r.Verdict, r.Expected.Verdict, r.Expected.Why)
				})
			}
			return ctx
		}).
		Assess("v0.2.0→v0.2.2 names backend and operator as callers of /, /events and /workflow", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			r := resultOf(t, out, "v0.2.0-v0.2.2")
			seen := map[ledger.Caller]map[string]bool{}
			for _, o := range r.Ledger {
				if o.Signal == ledger.SignalRunner401 {
					if seen[o.Caller] == nil {
						seen[o.Caller] = map[string]bool{}
					}
					seen[o.Caller][verdict.PathFamily(o.Path)] = true
				}
			}
			g.Expect(seen[ledger.CallerBackend]).To(HaveKey("/"))
			g.Expect(seen[ledger.CallerBackend]).To(HaveKey("/events"))
			g.Expect(seen[ledger.CallerOperator]).To(HaveKey("/workflow"))
			v023 := resultOf(t, out, "v0.2.0-v0.2.3")
			for _, c := range v023.Unauthorized {
				g.Expect(c.Caller).To(Equal(ledger.CallerOperator), "v0.2.3: only the operator 401s, got %+v", c)
			}
			ordered := resultOf(t, out, "v0.2.0-v0.2.2-operator-runner")
			g.Expect(callersOf(ordered.Unauthorized)).To(HaveKey(ledger.CallerBackend), "backend v0.2.0 with a v0.2.2 runner: every backend call 401s")
			return ctx
		}).
		Assess("the reports, the bundle and the repro line are written, with no token value", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			dir := artifactsDir()
			for _, f := range []string{"junit.xml", "summary.md", "results.json"} {
				g.Expect(filepath.Join(dir, f)).To(BeAnExistingFile())
			}
			r := resultOf(t, out, "v0.2.0-v0.2.2")
			g.Expect(r.BundleDir).NotTo(BeEmpty())
			for _, f := range []string{"index.md", "ledger.json"} {
				g.Expect(filepath.Join(dir, r.BundleDir, f)).To(BeAnExistingFile())
			}
			parsed, err := report.ParseRepro(r.Repro)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(parsed.From).To(Equal("v0.2.0"))
			g.Expect(parsed.To).To(Equal("v0.2.2"))
			g.Expect(resultOf(t, out, "v0.2.0-v0.2.1").BundleDir).To(BeEmpty(), "a passing cell leaves no bundle")
			// Every secret value still in the cluster (the last cell's) is absent from the artifacts.
			cs, _ := clientsFor(t, target)
			secrets, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			var values []string
			for _, s := range secrets.Items {
				for k, v := range s.Data {
					// A service-account-token Secret also carries the public CA and the
					// namespace name, which are not secret and do appear in reports.
					if k == "ca.crt" || k == "namespace" {
						continue
					}
					values = append(values, string(v))
				}
			}
			g.Expect(values).NotTo(BeEmpty())
			findings, err := redact.ScanDir(dir, values)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(findings).To(BeEmpty())
			return ctx
		}).Feature()
	testenvironment.Test(t, f)
}

func resultOf(t *testing.T, out matrix.Output, name string) verdict.CellResult {
	t.Helper()
	for _, r := range out.Results {
		if r.Cell.Name() == name {
			return r
		}
	}
	t.Fatalf("no result for cell %s", name)
	return verdict.CellResult{}
}

func callersOf(counts []verdict.Count401) map[ledger.Caller]int {
	out := map[ledger.Caller]int{}
	for _, c := range counts {
		out[c.Caller] += c.Count
	}
	return out
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
