// Package testenv is the e2e suite's shared environment as e2e-framework env
// funcs: the engine and node image prepared once, then one kind cluster per
// lane created through envfuncs with the harness's own provider (the first
// lane's kubeconfig becomes the suite's envconf client). Tests on a lane take
// turns on its cluster (reset between cells, not recreated); lanes run side by
// side, because a cell mostly waits on rollouts and traffic windows, not on
// the CPU. Every lane's cluster is destroyed at the end unless kept.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
)

// KeepClusterEnv set to "true" keeps the shared clusters after the suite.
const KeepClusterEnv = "E2E_KEEP_CLUSTER"

// Options configures the suite.
type Options struct {
	// ClusterName names the first lane's cluster; lane i > 0 is ClusterName-<i>.
	ClusterName string
	// Lanes is how many shared clusters the suite creates (at least 1).
	Lanes int
	Log   io.Writer
}

// Suite holds what features share.
type Suite struct {
	opts Options
	// NodeImage is the kind node image, known once Prepare ran.
	NodeImage string
	lanes     []*cluster.Cluster
}

// New returns a suite; nothing is prepared until its env funcs run.
func New(opts Options) *Suite {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Lanes < 1 {
		opts.Lanes = 1
	}
	s := &Suite{opts: opts}
	for i := range opts.Lanes {
		// The suite owns its lanes, a kept one it reuses included: its
		// teardown deletes them unless E2E_KEEP_CLUSTER=true.
		s.lanes = append(s.lanes, cluster.New(laneName(opts.ClusterName, i), cluster.WithLog(opts.Log), cluster.WithTakeOver()))
	}
	return s
}

func laneName(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, i)
}

// Lanes is how many shared clusters the suite has.
func (s *Suite) Lanes() int { return len(s.lanes) }

// LaneCluster is the name of lane i's cluster.
func (s *Suite) LaneCluster(i int) string { return s.lanes[i].Name() }

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

// CreateSharedClusters is the env func that creates (or reuses) every lane's
// cluster with envfuncs and points the suite's envconf client at the first
// lane's. It runs after Prepare, whose node image it uses. The other lanes'
// clusters are created while envfuncs creates the first; envfuncs then finds
// them made and records them in the context (with a scratch config, so the
// suite's client stays on the first lane).
func (s *Suite) CreateSharedClusters() env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		for _, c := range s.lanes {
			c.UseImage(s.NodeImage)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(s.lanes))
		for i, c := range s.lanes[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.SetDefaults().Create(ctx); err != nil {
					errs[i+1] = fmt.Errorf("lane %d cluster %s: %w", i+1, c.Name(), err)
				}
			}()
		}
		ctx, errs[0] = s.createLane(0)(ctx, cfg)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return ctx, err
		}
		for i := 1; i < len(s.lanes); i++ {
			var err error
			if ctx, err = s.createLane(i)(ctx, envconf.New()); err != nil {
				return ctx, err
			}
		}
		return ctx, nil
	}
}

func (s *Suite) createLane(i int) env.Func {
	return envfuncs.CreateClusterWithOpts(s.lanes[i], s.lanes[i].Name(), func(p support.E2EClusterProvider) {
		if c, ok := p.(*cluster.Cluster); ok {
			c.UseImage(s.NodeImage)
		}
	})
}

// DestroySharedClusters is the env func that dumps every lane cluster's node
// logs into logsDir/<cluster> (always, before cleanup: a failure can be read
// afterwards) and deletes it, unless E2E_KEEP_CLUSTER=true keeps them.
func (s *Suite) DestroySharedClusters(logsDir string) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		var errs []error
		for _, c := range s.lanes {
			name := c.Name()
			if _, ok := envfuncs.GetClusterFromContext(ctx, name); !ok {
				continue // Setup failed before this cluster existed
			}
			if _, err := envfuncs.ExportClusterLogs(name, filepath.Join(logsDir, name))(ctx, cfg); err != nil {
				fmt.Fprintf(s.opts.Log, "[e2e] node logs of %s not exported: %v\n", name, err)
			}
			if os.Getenv(KeepClusterEnv) == "true" {
				fmt.Fprintf(s.opts.Log, "[e2e] keeping cluster %s: kubectl --kubeconfig %s --context %s\n",
					name, c.GetKubeconfig(), c.GetKubectlContext())
				continue
			}
			if _, err := envfuncs.DestroyCluster(name)(ctx, cfg); err != nil {
				errs = append(errs, err)
			}
		}
		return ctx, errors.Join(errs...)
	}
}

// SharedCluster returns lane i's cluster, as CreateSharedClusters stored it in ctx.
func (s *Suite) SharedCluster(ctx context.Context, lane int) (*cluster.Cluster, error) {
	if lane < 0 || lane >= len(s.lanes) {
		return nil, fmt.Errorf("lane %d: the suite has %d lanes", lane, len(s.lanes))
	}
	name := s.lanes[lane].Name()
	p, ok := envfuncs.GetClusterFromContext(ctx, name)
	if !ok {
		return nil, fmt.Errorf("shared cluster %s is not in the test context: run the suite through its Setup (CreateSharedClusters)", name)
	}
	c, ok := p.(*cluster.Cluster)
	if !ok {
		return nil, fmt.Errorf("shared cluster %s is a %T, not the harness's kind provider", name, p)
	}
	return c, nil
}

// NewCluster creates a dedicated cluster (for features that must tear one down).
func (s *Suite) NewCluster(ctx context.Context, name string) (*cluster.Cluster, error) {
	c := cluster.New(name, cluster.WithImage(s.NodeImage), cluster.WithLog(s.opts.Log))
	_, err := c.Create(ctx)
	return c, err
}
