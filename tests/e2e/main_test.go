// Package e2e runs the harness for real: a kind cluster from the offline node
// image, images built locally and loaded into the node, real API server, real
// containers and HTTP between them. `make test` runs it after preparing the
// engine, node image and simulated images; run alone it prepares them itself.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/ambient-e2e/upgrade-harness/harness/testenv"
)

var (
	testenvironment env.Environment
	suite           *testenv.Suite
)

// TestMain sets the suite up with env funcs: the engine and node image, then
// one shared kind cluster per lane through envfuncs (the first lane's
// kubeconfig becomes cfg's client); Finish dumps their node logs into
// $ARTIFACTS and destroys them unless E2E_KEEP_CLUSTER=true. E2E_LANES=1 runs
// every shared-cluster test on one cluster, one after the other.
func TestMain(m *testing.M) {
	rest.SetDefaultWarningHandler(rest.NoWarnings{}) // deprecation warnings are noise here
	lanes, err := strconv.Atoi(envOr("E2E_LANES", "2"))
	if err != nil || lanes < 1 || lanes > 4 {
		fmt.Fprintf(os.Stderr, "E2E_LANES=%q: want a number of shared clusters from 1 to 4\n", os.Getenv("E2E_LANES"))
		os.Exit(2)
	}
	testenvironment = env.NewWithConfig(envconf.New())
	suite = testenv.New(testenv.Options{ClusterName: envOr("E2E_CLUSTER", "uh-e2e"), Lanes: lanes, Log: os.Stderr})
	testenvironment.Setup(suite.Prepare, suite.CreateSharedClusters())
	testenvironment.Finish(suite.DestroySharedClusters(filepath.Join(artifactsDir(), "e2e-cluster-logs")))
	os.Exit(testenvironment.Run(m))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
