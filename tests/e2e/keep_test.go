package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
)

// TestKeepOnFailure: with the default keep policy a matching cell leaves
// neither bundle nor cluster, and a mismatched cell leaves a complete bundle
// and its cluster. The matching cell runs first, so both run on one cluster
// (created by the run): the cell after a kept one needs a cluster of its own.
func TestKeepOnFailure(t *testing.T) {
	l := onOwnClusters()
	name := cluster.Name("keep")
	var out matrix.Output
	var runErr error
	artifacts := t.TempDir()
	f := features.New("keep on failure").
		WithLabel("area", "reports").
		WithSetup("run a right expectation, then a deliberately wrong one, on a fresh kind cluster", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			catFile := writeKeepCatalog(t)
			out, runErr = matrix.Run(ctx, matrix.Input{Catalog: catFile, ClusterName: name, NodeImage: suite.NodeImage,
				Artifacts: artifacts, Log: os.Stderr})
			return ctx
		}).
		Assess("the run reports a regression (exit 1)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			g.Expect(out.Results).To(HaveLen(2))
			g.Expect(exitcode.Of(runErr)).To(Equal(exitcode.Regression), "err: %v", runErr)
			return ctx
		}).
		Assess("the mismatched cell keeps its cluster and leaves a complete bundle", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			bad := out.Results[1]
			g.Expect(bad.Matched).To(BeFalse())
			g.Expect(bad.KeptCluster).To(ContainSubstring("--context kind-" + name))
			names, err := cluster.ListHarnessClusters()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(names).To(ContainElement(name))
			dir := filepath.Join(artifacts, bad.BundleDir)
			for _, f := range []string{"index.md", "ledger.json", "ledger.txt"} {
				g.Expect(filepath.Join(dir, f)).To(BeAnExistingFile())
			}
			logs, _ := filepath.Glob(filepath.Join(dir, "logs", "ambient-code", "*", "*.after.log"))
			g.Expect(logs).NotTo(BeEmpty(), "platform pod logs split at the upgrade")
			secrets, _ := filepath.Glob(filepath.Join(dir, "resources", "*", "secrets.yaml"))
			g.Expect(secrets).NotTo(BeEmpty(), "Secrets as key names and fingerprints")
			return ctx
		}).
		Assess("the matching cell leaves neither bundle nor cluster", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			good := out.Results[0]
			g.Expect(good.Matched).To(BeTrue(), "verdict %s: %s", good.Verdict, good.Error)
			g.Expect(good.BundleDir).To(BeEmpty())
			g.Expect(good.KeptCluster).To(BeEmpty())
			// Its cluster went on to the next cell: no other was made.
			names, err := cluster.ListHarnessClusters()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(names).NotTo(ContainElement(name + "-2"))
			return ctx
		}).
		WithTeardown("delete the kept cluster (and a second one if an assessment failed)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			for _, n := range []string{name, name + "-2"} {
				if names, _ := cluster.ListHarnessClusters(); slices.Contains(names, n) {
					_ = cluster.New(n, cluster.WithTakeOver()).Destroy(ctx)
				}
			}
			return ctx
		}).Feature()
	l.Test(t, f)
}

// writeKeepCatalog writes a catalog whose first cell is right (v0.2.7 →
// v0.2.7) and whose second has a deliberately wrong expectation (v0.2.7 → its
// seeded fault without the websocket family's token, "pass"). v0.2.7's
// runners stop within seconds: no cell here waits out a 60 s grace period
// the keep policy has nothing to do with.
func writeKeepCatalog(t *testing.T) string {
	const fault = "v0.2.7-fault-websocket-no-header"
	var b strings.Builder
	b.WriteString("apiVersion: upgrade-harness.ambient-e2e/v1alpha1\nkind: Catalog\nname: keep-test\nbuild: simulated\nreleases:\n")
	for _, v := range []string{"v0.2.7", fault} {
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
    - {from: v0.2.7, to: v0.2.7, expect: pass, why: "control: the same release again"}
    - {from: v0.2.7, to: ` + fault + `, expect: pass, why: "deliberately wrong expectation: exercises keep-on-failure"}
`)
	p := filepath.Join(t.TempDir(), "keep-test.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
