// Package testenv is the e2e suite's shared environment as e2e-framework env
// funcs: the engine and node image prepared once, one kind cluster created
// through envfuncs with the harness's own provider (its kubeconfig becomes the
// suite's envconf client), reused by every feature (reset between cells, not
// recreated) and destroyed at the end unless kept for inspection.
package testenv

import (
	"context"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/prepare"
)

// KeepClusterEnv set to "true" keeps the shared cluster after the suite.
const KeepClusterEnv = "E2E_KEEP_CLUSTER"

// Options configures the suite.
type Options struct {
	ClusterName string
	Log         io.Writer
}

// Suite holds what features share.
type Suite struct {
	opts Options
	// NodeImage is the kind node image, known once Prepare ran.
	NodeImage string
	provider  *cluster.Cluster
}

// New returns a suite; nothing is prepared until its env funcs run.
func New(opts Options) *Suite {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	return &Suite{opts: opts, provider: cluster.New(opts.ClusterName, cluster.WithLog(opts.Log))}
}

// ClusterName is the shared cluster's name.
func (s *Suite) ClusterName() string { return s.opts.ClusterName }

// Log is where progress lines go.
func (s *Suite) Log() io.Writer { return s.opts.Log }

// Prepare is the env func that readies the engine and the node image.
func (s *Suite) Prepare(ctx context.Context, _ *envconf.Config) (context.Context, error) {
	if _, err := prepare.Engine(ctx, s.opts.Log); err != nil {
		return ctx, fmt.Errorf("preparing the engine: %w", err)
	}
	img, err := prepare.NodeImage(ctx, s.opts.Log, "", false)
	if err != nil {
		return ctx, fmt.Errorf("preparing the node image: %w", err)
	}
	s.NodeImage = img
	return ctx, nil
}

// CreateSharedCluster is the env func that creates (or reuses) the shared
// cluster with envfuncs and points the suite's envconf client at it. It runs
// after Prepare, whose node image it uses.
func (s *Suite) CreateSharedCluster() env.Func {
	return envfuncs.CreateClusterWithOpts(s.provider, s.opts.ClusterName, func(p support.E2EClusterProvider) {
		if c, ok := p.(*cluster.Cluster); ok {
			c.UseImage(s.NodeImage)
		}
	})
}

// DestroySharedCluster is the env func that dumps the shared cluster's node
// logs into logsDir (always, before cleanup: a failure can be read afterwards)
// and deletes it, unless E2E_KEEP_CLUSTER=true keeps it for inspection.
func (s *Suite) DestroySharedCluster(logsDir string) env.Func {
	export := envfuncs.ExportClusterLogs(s.opts.ClusterName, logsDir)
	destroy := envfuncs.DestroyCluster(s.opts.ClusterName)
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		if _, ok := envfuncs.GetClusterFromContext(ctx, s.opts.ClusterName); !ok {
			return ctx, nil // Setup failed before the cluster existed
		}
		if _, err := export(ctx, cfg); err != nil {
			fmt.Fprintf(s.opts.Log, "[e2e] node logs of %s not exported: %v\n", s.opts.ClusterName, err)
		}
		if os.Getenv(KeepClusterEnv) == "true" {
			fmt.Fprintf(s.opts.Log, "[e2e] keeping cluster %s: kubectl --kubeconfig %s --context %s\n",
				s.provider.Name(), s.provider.GetKubeconfig(), s.provider.GetKubectlContext())
			return ctx, nil
		}
		return destroy(ctx, cfg)
	}
}

// SharedCluster returns the cluster CreateSharedCluster stored in ctx.
func (s *Suite) SharedCluster(ctx context.Context) (*cluster.Cluster, error) {
	p, ok := envfuncs.GetClusterFromContext(ctx, s.opts.ClusterName)
	if !ok {
		return nil, fmt.Errorf("shared cluster %s is not in the test context: run the suite through its Setup (CreateSharedCluster)", s.opts.ClusterName)
	}
	c, ok := p.(*cluster.Cluster)
	if !ok {
		return nil, fmt.Errorf("shared cluster %s is a %T, not the harness's kind provider", s.opts.ClusterName, p)
	}
	return c, nil
}

// NewCluster creates a dedicated cluster (for features that must tear one down).
func (s *Suite) NewCluster(ctx context.Context, name string) (*cluster.Cluster, error) {
	c := cluster.New(name, cluster.WithImage(s.NodeImage), cluster.WithLog(s.opts.Log))
	_, err := c.Create(ctx)
	return c, err
}
