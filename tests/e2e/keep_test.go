package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
)

// TestKeepOnFailure: with the default keep policy a matching cell leaves no
// cluster (its cluster goes on to the next cell), and a mismatched cell
// leaves a complete bundle and its cluster. The run is one fresh cluster and
// two cells: the matching one is the refused-spec-changes cell, whose own
// assertions are the test's second feature (one cluster and one cell fewer
// than a run of its own).
func TestKeepOnFailure(t *testing.T) {
	k := &keepRun{name: cluster.Name("keep"), artifacts: t.TempDir()}
	f := features.New("keep on failure").
		WithLabel("area", "reports").
		WithSetup("run a right expectation, then a deliberately wrong one, on a fresh kind cluster", k.setup).
		Assess("the run reports a regression (exit 1)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			g.Expect(k.out.Results).To(HaveLen(2))
			g.Expect(exitcode.Of(k.err)).To(Equal(exitcode.Regression), "err: %v", k.err)
			return ctx
		}).
		Assess("the matching cell leaves no cluster: the same one went on to the next cell", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			good := resultOf(t, k.out, specRefusedCell)
			g.Expect(good.Matched).To(BeTrue(), "verdict %s: %s", good.Verdict, good.Mismatch)
			g.Expect(good.KeptCluster).To(BeEmpty())
			names, err := cluster.ListHarnessClusters()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(names).NotTo(ContainElement(k.name + "-2"))
			return ctx
		}).
		Assess("the mismatched cell keeps its cluster and leaves a complete bundle", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			bad := resultOf(t, k.out, keepWrongCell)
			g.Expect(bad.Matched).To(BeFalse())
			g.Expect(bad.KeptCluster).To(ContainSubstring("--context kind-" + k.name))
			names, err := cluster.ListHarnessClusters()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(names).To(ContainElement(k.name))
			dir := filepath.Join(k.artifacts, bad.BundleDir)
			for _, f := range []string{"index.md", "ledger.json", "ledger.txt"} {
				g.Expect(filepath.Join(dir, f)).To(BeAnExistingFile())
			}
			logs, _ := filepath.Glob(filepath.Join(dir, "logs", "ambient-code", "*", "*.after.log"))
			g.Expect(logs).NotTo(BeEmpty(), "platform pod logs split at the upgrade")
			secrets, _ := filepath.Glob(filepath.Join(dir, "resources", "*", "secrets.yaml"))
			g.Expect(secrets).NotTo(BeEmpty(), "Secrets as key names and fingerprints")
			return ctx
		}).
		WithTeardown("delete the kept cluster (and a second one if an assessment failed)", k.teardown).Feature()
	onOwnClusters().Test(t, f, refusedSpecChangesFeature(k))
}

// The keep catalog's cells (writeKeepCatalog).
const (
	specRefusedCell = "v0.2.7-v0.2.7-fault-spec-refused"
	keepWrongCell   = "v0.2.7-v0.2.7-fault-websocket-no-header"
)

// keepRun is TestKeepOnFailure's one matrix run, made by whichever of its
// features runs first (a --labels run may select either).
type keepRun struct {
	name, artifacts string
	once            sync.Once
	out             matrix.Output
	err             error
}

func (k *keepRun) setup(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
	k.once.Do(func() {
		k.out, k.err = matrix.Run(ctx, matrix.Input{Catalog: writeKeepCatalog(t), ClusterName: k.name, NodeImage: suite.NodeImage,
			Artifacts: k.artifacts, Log: os.Stderr})
	})
	return ctx
}

func (k *keepRun) teardown(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
	for _, n := range []string{k.name, k.name + "-2"} {
		if names, _ := cluster.ListHarnessClusters(); slices.Contains(names, n) {
			_ = cluster.New(n, cluster.WithTakeOver()).Destroy(ctx)
		}
	}
	return ctx
}

// writeKeepCatalog writes a catalog whose first cell is right (v0.2.7 → its
// seeded fault whose backend refuses every spec change: inconclusive) and
// whose second has a deliberately wrong expectation (v0.2.7 → its seeded
// fault without the websocket family's token, "pass"). v0.2.7's runners stop
// within seconds: no cell here waits out a 60 s grace period the keep policy
// has nothing to do with.
func writeKeepCatalog(t *testing.T) string {
	const specRefused, noHeader = "v0.2.7-fault-spec-refused", "v0.2.7-fault-websocket-no-header"
	var b strings.Builder
	b.WriteString("apiVersion: upgrade-harness.ambient-e2e/v1alpha1\nkind: Catalog\nname: keep-test\nbuild: simulated\nreleases:\n")
	for _, v := range []string{"v0.2.7", specRefused, noHeader} {
		fmt.Fprintf(&b, "  - version: %s\n    images:\n", v)
		for _, c := range [][2]string{{"operator", "vteam_operator"}, {"backend", "vteam_backend"}, {"runner", "vteam_claude_runner"}, {"stateSync", "vteam_state_sync"}} {
			tag := "v0.2.7"
			if c[0] == "backend" {
				tag = v
			}
			fmt.Fprintf(&b, "      %s: localhost/ambient-sim/%s:%s\n", c[0], c[1], tag)
		}
		fmt.Fprintf(&b, "    manifests:\n      path: %s\n", filepath.Join(repoRoot, "fixtures", "manifests", "v0.2.7"))
	}
	b.WriteString(`matrix:
  cells:
    - {from: v0.2.7, to: ` + specRefused + `, expect: inconclusive, expectRules: {no-runner-401: inconclusive}, why: "the backend refuses every spec change after the upgrade: the operator's spec-change calls are never exercised"}
    - {from: v0.2.7, to: ` + noHeader + `, expect: pass, why: "deliberately wrong expectation: exercises keep-on-failure"}
`)
	p := filepath.Join(t.TempDir(), "keep-test.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
