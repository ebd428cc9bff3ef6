// Package e2e runs the harness for real: a kind cluster from the offline node
// image, images built locally and loaded into the node, real API server, real
// containers and HTTP between them. `make test` runs it after preparing the
// engine, node image and simulated images; run alone it prepares them itself.
package e2e

import (
	"os"
	"path/filepath"
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
// the shared kind cluster through envfuncs (its kubeconfig becomes cfg's
// client); Finish dumps its node logs into $ARTIFACTS and destroys it unless
// E2E_KEEP_CLUSTER=true.
func TestMain(m *testing.M) {
	rest.SetDefaultWarningHandler(rest.NoWarnings{}) // deprecation warnings are noise here
	testenvironment = env.NewWithConfig(envconf.New())
	suite = testenv.New(testenv.Options{ClusterName: envOr("E2E_CLUSTER", "uh-e2e"), Log: os.Stderr})
	testenvironment.Setup(suite.Prepare, suite.CreateSharedCluster())
	testenvironment.Finish(suite.DestroySharedCluster(filepath.Join(artifactsDir(), "e2e-cluster-logs")))
	os.Exit(testenvironment.Run(m))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
