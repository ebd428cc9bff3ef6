package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
)

// TestUpstreamManifests runs the upstream catalog the way a user without a
// registry would: upstream's own rendered kind overlays (../shared, never copied
// into the project) with the simulated images remapped in, and expects the same
// verdicts, callers and paths as the simulated catalog. Its second cell mixes
// images through a catalog: a release v0.2.7-f1 whose operator and backend are
// v0.2.7's and whose runner is v0.2.2's, on upstream's v0.2.7 manifests (the
// real pod spec's PostStart hook included): images built from their own tags,
// pinned where upstream reads them, and run together.
func TestUpstreamManifests(t *testing.T) {
	l := onLane(laneDiagnosis)
	var upstream, mixed matrix.Output
	f := features.New("upstream manifests with simulated images give the simulated verdicts").
		WithLabel("area", "upstream").
		WithSetup("run v0.2.0→v0.2.2 of the upstream catalog and v0.2.0→v0.2.7-f1 of a mixed catalog", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if _, err := os.Stat(filepath.Join(sharedUpstreamManifests, "kind-v0.2.2.yaml")); err != nil {
				t.Fatalf("upstream manifests not found next to the project (%s): %v", sharedUpstreamManifests, err)
			}
			var err error
			upstream, err = matrix.Run(ctx, matrix.Input{
				Catalog: "upstream", CatalogDir: filepath.Join(repoRoot, "fixtures", "releases"),
				ManifestOverride: &catalog.ManifestOverride{Dir: sharedUpstreamManifests},
				ImageRemap:       map[string]string{"quay.io/ambient_code": images.DefaultPrefix},
				CellNames:        []string{"v0.2.0-v0.2.2"},
				Target:           l.target(ctx, t), Artifacts: filepath.Join(artifactsDir(), "upstream"), Log: os.Stderr,
			})
			if err != nil {
				t.Logf("matrix (upstream): %v", err)
			}
			mixed, err = matrix.Run(ctx, matrix.Input{
				Catalog: writeMixedCatalog(t), Target: l.target(ctx, t),
				Artifacts: filepath.Join(artifactsDir(), "upstream-mixed"), Log: os.Stderr,
			})
			if err != nil {
				t.Logf("matrix (mixed): %v", err)
			}
			return ctx
		}).
		Assess("each cell gives its expected verdict", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			g.Expect(upstream.Results).To(HaveLen(1))
			g.Expect(mixed.Results).To(HaveLen(1))
			for _, r := range append(append([]cellrun.Report(nil), upstream.Results...), mixed.Results...) {
				if !r.Matched || r.Error != "" {
					for _, rule := range r.Rules {
						t.Logf("%s rule %s: %s — %s", r.Cell.Name(), rule.Rule, rule.Verdict, rule.Reason)
					}
					dumpLedger(t, r.Ledger)
				}
				g.Expect(r.Error).To(BeEmpty(), r.Cell.Name())
				g.Expect(r.Matched).To(BeTrue(), "%s: %s", r.Cell.Name(), r.Mismatch)
			}
			return ctx
		}).
		Assess("the ledger names the same callers and paths as with the simulated manifests", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			v022 := resultOf(t, upstream, "v0.2.0-v0.2.2")
			got := callerPaths(v022.Ledger)
			for _, want := range []string{"backend /", "backend /events", "operator /workflow"} {
				g.Expect(got).To(HaveKey(want))
			}
			g.Expect(resultOf(t, mixed, "v0.2.0-v0.2.7-f1").Unauthorized).To(BeEmpty(), "no 401 at all from the v0.2.7 operator and backend")
			return ctx
		}).
		Assess("the mixed release's new sessions run the v0.2.2 runner, which survives the PostStart hook", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			// The cell leaves its last sessions behind until the next reset.
			cs, _ := clientsFor(t, l.target(ctx, t))
			pods, err := cs.CoreV1().Pods(cell.Project).List(ctx, metav1.ListOptions{LabelSelector: "app=ambient-code-runner"})
			g.Expect(err).NotTo(HaveOccurred())
			var survivors []string
			for _, p := range pods.Items {
				for _, c := range p.Spec.Containers {
					if c.Name != "ambient-code-runner" || c.Image != images.DefaultPrefix+"/vteam_claude_runner:v0.2.2" {
						continue
					}
					g.Expect(c.Lifecycle).NotTo(BeNil(), "%s has no PostStart hook", p.Name)
					g.Expect(c.Lifecycle.PostStart.Exec.Command[0]).To(Equal("/bin/sh"))
					for _, st := range p.Status.ContainerStatuses {
						if st.Name == c.Name && st.State.Running != nil {
							survivors = append(survivors, p.Name)
						}
					}
				}
			}
			t.Logf("v0.2.2 runners running under the v0.2.7 operator's hook: %v", survivors)
			g.Expect(survivors).NotTo(BeEmpty())
			return ctx
		}).
		WithTeardown("leave the shared cluster clean", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			_ = resetPlatform(ctx, l.target(ctx, t), t.Logf)
			return ctx
		}).Feature()
	l.Test(t, f)
}

// writeMixedCatalog writes a catalog whose release v0.2.7-f1 borrows images
// across releases, on upstream's manifests, and returns its path.
func writeMixedCatalog(t *testing.T) string {
	t.Helper()
	sim := func(image, tag string) string { return images.DefaultPrefix + "/" + image + ":" + tag }
	catalogYAML := fmt.Sprintf(`apiVersion: upgrade-harness.ambient-e2e/v1alpha1
kind: Catalog
name: mixed
description: operator and backend of one release, runner of another, on upstream's manifests
build: pull
releases:
  - version: v0.2.0
    images: {operator: %s, backend: %s, runner: %s, stateSync: %s}
    manifests: {path: %s}
  - version: v0.2.7-f1
    images: {operator: %s, backend: %s, runner: %s, stateSync: %s}
    manifests: {path: %s}
    notes: "v0.2.7's operator and backend with v0.2.2's runner"
matrix:
  cells:
    - from: v0.2.0
      to: v0.2.7-f1
      expect: fail
      expectRules: {no-runner-401: pass, restarted-session-runs: fail}
      why: "the v0.2.7 operator and backend send the token a v0.2.2 runner checks; a pre-upgrade session restarted after the upgrade fails with CreateContainerConfigError (docs/platform.md §3.5 item 7)"
      labels: [ci, mixed-images]
`,
		sim("vteam_operator", "v0.2.0"), sim("vteam_backend", "v0.2.0"), sim("vteam_claude_runner", "v0.2.0"), sim("vteam_state_sync", "v0.2.0"),
		filepath.Join(sharedUpstreamManifests, "kind-v0.2.0.yaml"),
		sim("vteam_operator", "v0.2.7"), sim("vteam_backend", "v0.2.7"), sim("vteam_claude_runner", "v0.2.2"), sim("vteam_state_sync", "v0.2.7"),
		filepath.Join(sharedUpstreamManifests, "kind-v0.2.7.yaml"))
	path := filepath.Join(t.TempDir(), "mixed.yaml")
	if err := os.WriteFile(path, []byte(catalogYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// callerPaths is the set of "caller path-family" pairs that got a runner 401.
func callerPaths(obs []ledger.Observation) map[string]bool {
	out := map[string]bool{}
	for _, o := range obs {
		if o.Signal == ledger.SignalRunner401 {
			out[string(o.Caller)+" "+platform.PathFamily(o.Path)] = true
		}
	}
	return out
}
