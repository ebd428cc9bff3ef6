package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/tests/support/testenv"
)

// repoRoot is the repository, seen from tests/e2e.
var repoRoot, _ = filepath.Abs("../..")

// sharedUpstreamManifests are upstream's rendered kind overlays, kept next to the project (never copied in).
var sharedUpstreamManifests = filepath.Join(repoRoot, "..", "shared", "upstream-manifests")

// simulatedCatalog is the simulated releases' catalog (fixtures/releases/simulated.yaml).
func simulatedCatalog(t *testing.T) *catalog.Catalog { return fixtureCatalog(t, "simulated") }

// faultsCatalog is the catalog of seeded faults (fixtures/releases/faults.yaml).
func faultsCatalog(t *testing.T) *catalog.Catalog { return fixtureCatalog(t, "faults") }

func fixtureCatalog(t *testing.T, name string) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.LoadByName(filepath.Join(repoRoot, "fixtures", "releases"), name, catalog.WithPathChecks())
	if err != nil {
		t.Fatalf("loading the %s catalog: %v", name, err)
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

// The suite's lanes (testenv.Lane): each is one shared kind cluster, made on
// the first selected feature that runs there; tests on a lane take turns on
// it, lanes run side by side (TestMain lets every test wait for its lane).
// Lanes 0 and 1 run beside the tests with clusters of their own, lane 2
// after them (at most three clusters at once); with fewer lanes (E2E_LANES),
// a test asking for a missing lane runs on the last one. The work is split
// so that the three end together (measured: docs/benchmarks.md).
const (
	// laneCells: the catalog's ci cells, the make test bisect, the session test.
	laneCells = 0
	// laneDiagnosis: diagnosis, seeded and injected faults, upstream manifests, the platform gate, a dead engine, the simulated releases.
	laneDiagnosis = 1
	// laneAfterOwn: the diagnosis sweep and the deploy engine, after the tests with clusters of their own.
	laneAfterOwn = 2
)

// lane is the shared cluster a test's features run on.
type lane struct{ *testenv.Lane }

// onLane is lane want (the suite's last lane when it has fewer).
func onLane(want int) lane { return lane{suite.Lane(want)} }

// onOwnClusters is the lane of the tests that create and delete kind
// clusters of their own: parallel with the shared lanes, one at a time.
func onOwnClusters() lane { return lane{suite.OwnClusters()} }

// cluster is the lane's kind cluster.
func (l lane) cluster(ctx context.Context, t *testing.T) *cluster.Cluster {
	t.Helper()
	c, err := suite.SharedCluster(ctx, l.Lane)
	if err != nil {
		t.Fatalf("shared cluster: %v", err)
	}
	return c
}

// target is the lane's kind cluster as a cell target.
func (l lane) target(ctx context.Context, t *testing.T) *cluster.Target {
	t.Helper()
	target, err := cluster.NewKindTarget(l.cluster(ctx, t))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func clientsFor(t *testing.T, target *cluster.Target) (kubernetes.Interface, dynamic.Interface) {
	return target.Kube, target.Dynamic
}

// resetPlatform removes everything a cell or test installed (the pipeline's reset stage).
func resetPlatform(ctx context.Context, target *cluster.Target, logf func(string, ...any)) error {
	return pipeline.New(target, pipeline.WithLogf(logf)).Reset(ctx)
}

// deployFresh resets the cluster and installs one release of the simulated catalog.
func deployFresh(ctx context.Context, t *testing.T, target *cluster.Target, cat *catalog.Catalog, version string) *deploy.Rendered {
	t.Helper()
	g := NewWithT(t)
	rendered, err := deploy.RenderRelease(cat, release(t, cat, version), platform.Images{})
	g.Expect(err).NotTo(HaveOccurred())
	installFresh(ctx, t, target, rendered)
	return rendered
}

// installFresh runs the pipeline's reset, preload and install stages for rendered.
func installFresh(ctx context.Context, t *testing.T, target *cluster.Target, rendered *deploy.Rendered) {
	t.Helper()
	plat := pipeline.New(target, pipeline.WithLogf(func(f string, a ...any) { t.Logf(f, a...) }))
	run, err := plat.RunStages(ctx, pipeline.ResetStage(), pipeline.PreloadStage(rendered),
		pipeline.InstallStage(pipeline.InstallInput{Rendered: rendered, Timeout: 3 * time.Minute}))
	run.Close()
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "stages %v", run.Ran)
}

// observe starts the cell's detectors into a new ledger; stopped at cleanup.
func observe(ctx context.Context, t *testing.T, target *cluster.Target) *ledger.Ledger {
	t.Helper()
	l := ledger.New()
	stop, err := pipeline.New(target, pipeline.WithLedger(l)).StartDetectors(ctx)
	t.Cleanup(stop)
	if err != nil {
		t.Fatalf("starting detectors: %v", err)
	}
	return l
}

// backend returns an API client recording into l; closed at cleanup.
func backend(ctx context.Context, t *testing.T, target *cluster.Target, l *ledger.Ledger) *session.Client {
	t.Helper()
	c, closeFn, err := pipeline.New(target, pipeline.WithLedger(l), pipeline.WithLogf(func(f string, a ...any) { t.Logf(f, a...) })).BackendClient(ctx, nil)
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

func fmtCell(c upgrade.Cell) string { return fmt.Sprintf("%s→%s [%s]", c.From, c.To, c.Order.Text) }
