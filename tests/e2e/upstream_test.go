package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/images"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// TestUpstreamManifests runs the upstream catalog the way a user without a
// registry would: upstream's own rendered kind overlays (../shared, never copied
// into the project) with the simulated images remapped in, and expects the same
// verdicts, callers and paths as the simulated catalog.
func TestUpstreamManifests(t *testing.T) {
	var out matrix.Output
	f := features.New("upstream manifests with simulated images give the simulated verdicts").
		WithLabel("area", "upstream").
		WithSetup("run v0.2.0→v0.2.2 and v0.2.0→v0.2.7 from upstream's manifests", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if _, err := os.Stat(filepath.Join(sharedUpstreamManifests, "kind-v0.2.2.yaml")); err != nil {
				t.Fatalf("upstream manifests not found next to the project (%s): %v", sharedUpstreamManifests, err)
			}
			var err error
			out, err = matrix.Run(ctx, matrix.Input{
				Catalog: "upstream", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"),
				ManifestOverride: &catalog.ManifestOverride{Dir: sharedUpstreamManifests},
				ImageRemap:       map[string]string{"quay.io/ambient_code": images.DefaultPrefix},
				CellNames:        []string{"v0.2.0-v0.2.2", "v0.2.0-v0.2.7"},
				Target:           sharedTarget(ctx, t), Artifacts: filepath.Join(artifactsDir(), "upstream"), Log: os.Stderr,
			})
			if err != nil {
				t.Logf("matrix: %v", err)
			}
			return ctx
		}).
		Assess("each cell gives its expected verdict", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			g.Expect(out.Results).To(HaveLen(2))
			for _, r := range out.Results {
				if !r.Matched || r.Error != "" {
					for _, rule := range r.Rules {
						t.Logf("%s rule %s: %s — %s", r.Cell.Name(), rule.Rule, rule.Verdict, rule.Reason)
					}
					dumpLedger(t, r.Ledger)
				}
				g.Expect(r.Error).To(BeEmpty(), r.Cell.Name())
				g.Expect(r.Matched).To(BeTrue(), "%s: verdict %s, expected %s", r.Cell.Name(), r.Verdict, r.Expected.Verdict)
			}
			return ctx
		}).
		Assess("the ledger names the same callers and paths as with the simulated manifests", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			v022 := resultOf(t, out, "v0.2.0-v0.2.2")
			got := callerPaths(v022.Ledger)
			for _, want := range []string{"backend /", "backend /events", "operator /workflow"} {
				g.Expect(got).To(HaveKey(want))
			}
			g.Expect(resultOf(t, out, "v0.2.0-v0.2.7").Unauthorized).To(BeEmpty(), "no 401 at all from v0.2.7")
			return ctx
		}).
		WithTeardown("leave the shared cluster clean", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			_ = cell.ResetCluster(ctx, sharedTarget(ctx, t), t.Logf)
			return ctx
		}).Feature()
	testenvironment.Test(t, f)
}

// callerPaths is the set of "caller path-family" pairs that got a runner 401.
func callerPaths(obs []ledger.Observation) map[string]bool {
	out := map[string]bool{}
	for _, o := range obs {
		if o.Signal == ledger.SignalRunner401 {
			out[string(o.Caller)+" "+verdict.PathFamily(o.Path)] = true
		}
	}
	return out
}
