package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// ruleOf is the result of rule name in r.
func ruleOf(r cellrun.Report, name string) verdict.RuleResult {
	for _, rr := range r.Rules {
		if rr.Rule == name {
			return rr
		}
	}
	return verdict.RuleResult{}
}

// TestWorkingLevelSlow runs the cell whose runner accepts runs but never
// sends RUN_FINISHED (upstream's runner in mock mode, without a model key)
// at both working levels on one cluster: inconclusive at run-finished, pass
// at run-started, each saying why. Slow: left out of make test.
func TestWorkingLevelSlow(t *testing.T) {
	const name = "v0.2.7-v0.2.7-fault-no-run-finished"
	l := onOwnClusters()
	clusterName := cluster.Name("level")
	results := map[verdict.WorkingLevel]cellrun.Report{}
	f := features.New("what counts as a working session is data").
		WithLabel("area", "working-level").
		WithSetup("run the never-finishing runner's cell at each level", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			for _, level := range []verdict.WorkingLevel{verdict.WorkingRunFinished, verdict.WorkingRunStarted} {
				start := time.Now()
				out, err := matrix.Run(ctx, matrix.Input{Catalog: "faults", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"),
					CellNames: []string{name}, Working: level, ClusterName: clusterName, NodeImage: suite.NodeImage,
					Keep: matrix.KeepAlways, Artifacts: t.TempDir(), Log: os.Stderr})
				if err != nil {
					t.Logf("matrix at %s: %v", level, err)
				}
				results[level] = resultOf(t, out, name)
				t.Logf("%s at %s: verdict %s in %s", name, level, results[level].Verdict, time.Since(start).Round(time.Second))
			}
			return ctx
		}).
		Assess("run-finished: inconclusive, the post-upgrade sessions never finished a run", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			r := results[verdict.WorkingRunFinished]
			g.Expect(r.Error).To(BeEmpty())
			g.Expect(r.Working).To(Equal(verdict.WorkingRunFinished))
			g.Expect(r.Verdict).To(Equal(verdict.Inconclusive))
			post := ruleOf(r, "post-upgrade-sessions-work")
			t.Logf("post-upgrade-sessions-work: %s — %s", post.Verdict, post.Reason)
			g.Expect(post.Verdict).To(Equal(verdict.Inconclusive))
			g.Expect(post.Reason).To(ContainSubstring("run-finished"))
			g.Expect(ruleOf(r, "no-runner-401").Verdict).To(Equal(verdict.Pass))
			g.Expect(r.Matched).To(BeTrue(), "the catalog expects inconclusive at the default level")
			return ctx
		}).
		Assess("run-started: pass, the runner accepted every run", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			r := results[verdict.WorkingRunStarted]
			g.Expect(r.Error).To(BeEmpty())
			g.Expect(r.Working).To(Equal(verdict.WorkingRunStarted))
			post := ruleOf(r, "post-upgrade-sessions-work")
			t.Logf("post-upgrade-sessions-work: %s — %s", post.Verdict, post.Reason)
			g.Expect(post.Verdict).To(Equal(verdict.Pass))
			g.Expect(post.Reason).To(ContainSubstring("run-started"))
			g.Expect(r.Verdict).To(Equal(verdict.Pass), "%v", r.Rules)
			return ctx
		}).
		WithTeardown("delete the cluster", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if names, _ := cluster.ListHarnessClusters(); slices.Contains(names, clusterName) {
				_ = cluster.New(clusterName, cluster.WithTakeOver()).Destroy(ctx)
			}
			return ctx
		}).Feature()
	l.Test(t, f)
}

// TestParallelCellsSlow runs two passing cells of the simulated catalog with
// -parallel 2: each on a cluster of its own at once, the results in the
// selection order with their expected verdicts, and no cluster left behind.
// Slow: left out of make test (two more clusters beside the suite's).
func TestParallelCellsSlow(t *testing.T) {
	cells := []string{"v0.2.0-v0.2.1", "v0.2.6-v0.2.7"}
	l := onOwnClusters()
	base := cluster.Name("par")
	var out matrix.Output
	var runErr error
	var took time.Duration
	f := features.New("cells side by side").
		WithLabel("area", "parallel").
		WithSetup("run two cells with -parallel 2", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			start := time.Now()
			out, runErr = matrix.Run(ctx, matrix.Input{Catalog: "simulated", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"),
				CellNames: cells, Parallel: 2, ClusterName: base, NodeImage: suite.NodeImage, Keep: matrix.KeepNever,
				Artifacts: t.TempDir(), Log: os.Stderr})
			took = time.Since(start)
			return ctx
		}).
		Assess("both cells ran, in selection order, as expected", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			g.Expect(runErr).NotTo(HaveOccurred())
			g.Expect(out.Results).To(HaveLen(2))
			var sum time.Duration
			for i, r := range out.Results {
				t.Logf("%s: %s in %s", r.Cell.Name(), r.Verdict, r.Duration.Round(time.Second))
				g.Expect(r.Cell.Name()).To(Equal(cells[i]))
				g.Expect(r.Matched).To(BeTrue(), "%s: %s %s", r.Cell.Name(), r.Verdict, r.Error)
				sum += r.Duration
			}
			t.Logf("-parallel 2: %s wall for %s of cells (%.2f×)", took.Round(time.Second), sum.Round(time.Second), took.Seconds()/sum.Seconds())
			// Side by side: the two cells' running times overlapped.
			a, b := out.Results[0], out.Results[1]
			g.Expect(a.Started.Before(b.Started.Add(b.Duration)) && b.Started.Before(a.Started.Add(a.Duration))).To(BeTrue(), "the cells overlapped in time")
			return ctx
		}).
		Assess("no cluster of the run is left", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			names, err := cluster.ListHarnessClusters()
			NewWithT(t).Expect(err).NotTo(HaveOccurred())
			for _, n := range names {
				NewWithT(t).Expect(n == base || strings.HasPrefix(n, base+"-")).To(BeFalse(), "cluster %s left", n)
			}
			return ctx
		}).Feature()
	l.Test(t, f)
}
