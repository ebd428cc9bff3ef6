// Package e2e runs the harness for real: a kind cluster from the offline node
// image, images built locally and loaded into the node, real API server, real
// containers and HTTP between them. `make test` runs it after preparing the
// engine, node image and simulated images; run alone it prepares them itself.
//
// The suite takes e2e-framework's flags (envconf.NewFromFlags), after -args:
//
//	go test ./tests/e2e -args --labels area=upgrade         # only the features labelled area=upgrade
//	go test ./tests/e2e -args --labels cell=v0.2.0-v0.2.2   # one ci cell of the upgrade matrix
//	go test ./tests/e2e -args --feature 'sweep'             # features whose name matches a regexp
//	go test ./tests/e2e -v -args --labels area=gate --dry-run  # list what would run; no cluster, nothing prepared
//
// Every feature carries an area label: deploy, diagnose, faults, foundation,
// gate, interrupts, platform, reports, upgrade, upstream. A filtered run
// prepares the engine and node image and creates a lane's cluster only when
// a selected feature runs on that lane. --skip-labels and --skip-features
// work too; --parallel does nothing here (the lanes set what runs side by
// side, and TestMain raises go test's -parallel so that every test can wait
// for its lane), and -run/-skip still select the Test functions (make test
// skips the …Slow ones).
package e2e

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/ambient-e2e/upgrade-harness/tests/support/testenv"
)

var (
	testenvironment env.Environment
	suite           *testenv.Suite
)

// TestMain reads e2e-framework's flags and sets up the suite's lanes, which
// create their clusters on their first selected feature (see testenv.Lane);
// Finish dumps the node logs of the clusters that were created into
// $ARTIFACTS and destroys them unless E2E_KEEP_CLUSTER=true. E2E_LANES=1
// runs every shared-cluster test on one cluster, one after the other.
func TestMain(m *testing.M) {
	rest.SetDefaultWarningHandler(rest.NoWarnings{}) // deprecation warnings are noise here
	lanes, err := strconv.Atoi(envOr("E2E_LANES", "3"))
	if err != nil || lanes < 1 || lanes > 4 {
		fmt.Fprintf(os.Stderr, "E2E_LANES=%q: want a number of shared clusters from 1 to 4\n", os.Getenv("E2E_LANES"))
		os.Exit(2)
	}
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e-framework flags: %v\n", err)
		os.Exit(2)
	}
	// Every test waits for its lane in parallel, and lane 2's for the tests
	// with clusters of their own to end: all of them must be able to run at
	// once, or a waiting test could hold the slot one it waits for needs.
	if p := flag.Lookup("test.parallel"); p != nil {
		if n, _ := strconv.Atoi(p.Value.String()); n < everyTestAtOnce {
			_ = p.Value.Set(strconv.Itoa(everyTestAtOnce))
		}
	}
	testenvironment = env.NewWithConfig(cfg)
	suite = testenv.New(testenv.Options{ClusterName: envOr("E2E_CLUSTER", "uh-e2e"), Lanes: lanes, Config: cfg, Log: os.Stderr})
	testenvironment.Finish(suite.DestroySharedClusters(filepath.Join(artifactsDir(), "e2e-cluster-logs")))
	os.Exit(testenvironment.Run(m))
}

// everyTestAtOnce is more than the suite's tests (-parallel for go test).
const everyTestAtOnce = 64

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
