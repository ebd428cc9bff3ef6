package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
)

// repoRoot is the repository, seen from tests/e2e.
var repoRoot, _ = filepath.Abs("../..")

// sharedUpstreamManifests are upstream's rendered kind overlays, kept next to the project (never copied in).
var sharedUpstreamManifests = filepath.Join(repoRoot, "..", "shared", "upstream-manifests")

func simulatedCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.LoadByName(filepath.Join(repoRoot, "fixtures", "releases"), "simulated", catalog.WithPathChecks())
	if err != nil {
		t.Fatalf("loading the simulated catalog: %v", err)
	}
	return cat
}

func release(t *testing.T, cat *catalog.Catalog, v string) catalog.Release {
	t.Helper()
	r, ok := cat.Release(v)
	if !ok {
		t.Fatalf("release %s not in catalog %s", v, cat.Name)
	}
	return r
}

// sharedTarget is the suite's kind cluster as a cell target.
func sharedTarget(ctx context.Context, t *testing.T) *cell.Target {
	t.Helper()
	c, err := suite.SharedCluster(ctx)
	if err != nil {
		t.Fatalf("shared cluster: %v", err)
	}
	return &cell.Target{Rest: c.KubernetesRestConfig(), Kind: c, Name: c.Name(), NodeImage: suite.NodeImage}
}

func clientsFor(t *testing.T, target *cell.Target) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(target.Rest)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(target.Rest)
	if err != nil {
		t.Fatal(err)
	}
	return cs, dyn
}

// deployFresh resets the cluster and installs one release of the simulated catalog.
func deployFresh(ctx context.Context, t *testing.T, target *cell.Target, cat *catalog.Catalog, version string) *deploy.Rendered {
	t.Helper()
	g := NewWithT(t)
	logf := func(f string, a ...any) { t.Logf(f, a...) }
	rendered, err := cell.RenderRelease(cat, release(t, cat, version), nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cell.ResetCluster(ctx, target, logf)).To(Succeed())
	g.Expect(cell.PreloadImages(ctx, target, rendered)).To(Succeed())
	g.Expect(cell.InstallRelease(ctx, cell.InstallReleaseInput{Target: target, Rendered: rendered, Timeout: 3 * time.Minute, Logf: logf})).To(Succeed())
	return rendered
}

// observe starts the cell's detectors into a new ledger; stopped at cleanup.
func observe(ctx context.Context, t *testing.T, target *cell.Target) *ledger.Ledger {
	t.Helper()
	l := ledger.New()
	stop, err := cell.StartDetectors(ctx, cell.StartDetectorsInput{Target: target, Ledger: l})
	if err != nil {
		t.Fatalf("starting detectors: %v", err)
	}
	t.Cleanup(stop)
	return l
}

// backend returns an API client recording into l; closed at cleanup.
func backend(ctx context.Context, t *testing.T, target *cell.Target, l *ledger.Ledger) *session.Client {
	t.Helper()
	c, closeFn, err := cell.NewBackendClient(ctx, cell.NewBackendClientInput{Target: target, Ledger: l, Logf: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatalf("backend client: %v", err)
	}
	t.Cleanup(closeFn)
	return c
}

// ledgerHas is a gomega-friendly poll of the ledger for a matching observation.
func ledgerHas(l *ledger.Ledger, keep func(ledger.Observation) bool) func() []ledger.Observation {
	return func() []ledger.Observation { return l.Filter(keep) }
}

func signal(s ledger.Signal) func(ledger.Observation) bool {
	return func(o ledger.Observation) bool { return o.Signal == s }
}

func and(preds ...func(ledger.Observation) bool) func(ledger.Observation) bool {
	return func(o ledger.Observation) bool {
		for _, p := range preds {
			if !p(o) {
				return false
			}
		}
		return true
	}
}

func inSession(ns, s string) func(ledger.Observation) bool {
	return func(o ledger.Observation) bool { return o.Namespace == ns && o.Session == s }
}

func detailContains(sub string) func(ledger.Observation) bool {
	return func(o ledger.Observation) bool { return strings.Contains(o.Detail, sub) }
}

// dumpLedger prints the ledger readably (used when an assertion fails).
func dumpLedger(t *testing.T, obs []ledger.Observation) {
	t.Helper()
	var b strings.Builder
	for _, o := range obs {
		b.WriteString(report.FormatObservation(o))
		b.WriteByte('\n')
	}
	t.Logf("ledger (%d entries):\n%s", len(obs), b.String())
}

func fmtCell(c catalog.Cell) string { return fmt.Sprintf("%s→%s [%s]", c.From, c.To, c.Order.Text) }

func clientsForG(target *cell.Target) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(target.Rest)
}
