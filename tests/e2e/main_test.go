// Package e2e runs the harness for real: a kind cluster from the offline node
// image, images built locally and loaded into the node, real API server, real
// containers and HTTP between them. `make test` runs it after preparing the
// engine, node image and simulated images; run alone it prepares them itself.
package e2e

import (
	"context"
	"fmt"
	"os"
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

func TestMain(m *testing.M) {
	rest.SetDefaultWarningHandler(rest.NoWarnings{}) // deprecation warnings are noise here
	cfg := envconf.New()
	testenvironment = env.NewWithConfig(cfg)
	suite = testenv.New(testenv.Options{ClusterName: envOr("E2E_CLUSTER", "uh-e2e"), Log: os.Stderr})
	testenvironment.Setup(func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		if err := suite.Prepare(ctx); err != nil {
			return ctx, fmt.Errorf("preparing the e2e environment: %w", err)
		}
		return ctx, nil
	})
	testenvironment.Finish(func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		return ctx, suite.Teardown(ctx)
	})
	os.Exit(testenvironment.Run(m))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
