// Package testenv is the e2e suite's shared environment on e2e-framework:
// lanes (one e2e-framework environment each, see Lane) whose kind cluster is
// created on the first feature that runs there, through the harness's own
// provider, after the engine and node image are prepared once for the whole
// suite; and the Finish env func that destroys the clusters that were made.
// Tests on a lane take turns on its cluster (reset between cells, not
// recreated); lanes run side by side, because a cell mostly waits on
// rollouts and traffic windows, not on the CPU.
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
	// Lanes is how many shared clusters the suite may create (at least 1).
	Lanes int
	// Config is the suite's envconf, from flags (envconf.NewFromFlags); every
	// lane's environment runs with a copy.
	Config *envconf.Config
	Log    io.Writer
}

// Suite holds what features share.
type Suite struct {
	opts Options
	// NodeImage is the kind node image, known once a lane was provisioned.
	NodeImage string
	prepared  sync.Once
	prepErr   error
	// creating counts the shared clusters being created; OwnClusters waits
	// for none (as when Setup created them all before any test ran), so that
	// a test's own cluster does not compete with them for the CPU.
	creating     int
	creatingDone *sync.Cond
	clusters     []*cluster.Cluster
	lanes        []*Lane
	own          *Lane
}

// New returns a suite; nothing is prepared or created until a feature runs
// on one of its lanes.
func New(opts Options) *Suite {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Lanes < 1 {
		opts.Lanes = 1
	}
	s := &Suite{opts: opts, creatingDone: sync.NewCond(&sync.Mutex{})}
	s.own = NewLane(LaneInput{
		Name:   "the tests with clusters of their own",
		Config: opts.Config,
		Provision: func(ctx context.Context) (support.E2EClusterProvider, error) {
			if err := s.Prepare(ctx); err != nil {
				return nil, err
			}
			s.waitForSharedClusters()
			return nil, nil
		},
	})
	for i := range opts.Lanes {
		// The suite owns its lanes, a kept one it reuses included: its
		// teardown deletes them unless E2E_KEEP_CLUSTER=true.
		c := cluster.New(laneName(opts.ClusterName, i), cluster.WithLog(opts.Log), cluster.WithTakeOver())
		s.clusters = append(s.clusters, c)
		s.lanes = append(s.lanes, NewLane(LaneInput{
			Name:        fmt.Sprintf("lane %d (cluster %s)", i, c.Name()),
			Config:      opts.Config,
			ClusterName: c.Name(),
			Provision:   func(ctx context.Context) (support.E2EClusterProvider, error) { return s.createSharedCluster(ctx, c) },
			After:       s.afterOwnClusters(i),
		}))
	}
	return s
}

// LanesBesideOwnClusters is how many shared lanes run beside the tests with
// clusters of their own; the lanes after them begin once those tests have
// ended, so that no more than three clusters run at once on 2 cores (with a
// fourth, every cell stretched as much as the work was split).
const LanesBesideOwnClusters = 2

// afterOwnClusters is the lane lane i waits for: none for the first
// LanesBesideOwnClusters, the tests with clusters of their own for the rest.
func (s *Suite) afterOwnClusters(i int) *Lane {
	if i < LanesBesideOwnClusters {
		return nil
	}
	return s.own
}

func laneName(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, i)
}

// Lanes is how many shared clusters the suite may have.
func (s *Suite) Lanes() int { return len(s.lanes) }

// Lane is the shared-cluster lane a test asks for; with fewer lanes than
// asked for, the suite's last lane.
func (s *Suite) Lane(want int) *Lane { return s.lanes[min(max(want, 0), len(s.lanes)-1)] }

// OwnClusters is the lane of the tests that create and delete kind clusters
// of their own: they take turns with each other, so at most one extra
// cluster runs beside the first LanesBesideOwnClusters shared ones, the first
// begins once the shared clusters being created exist, and the lanes after
// those begin once they have all ended.
func (s *Suite) OwnClusters() *Lane { return s.own }

// Log is where progress lines go.
func (s *Suite) Log() io.Writer { return s.opts.Log }

// Prepare readies the engine and the node image, once for the suite (every
// lane's provisioning waits for it; its error is every caller's).
func (s *Suite) Prepare(ctx context.Context) error {
	s.prepared.Do(func() {
		if _, err := prepare.Engine(ctx, s.opts.Log); err != nil {
			s.prepErr = fmt.Errorf("preparing the engine: %w", err)
			return
		}
		img, err := prepare.NodeImage(ctx, s.opts.Log, "", false)
		if err != nil {
			s.prepErr = fmt.Errorf("preparing the node image: %w", err)
			return
		}
		s.NodeImage = img
	})
	return s.prepErr
}

// createSharedCluster creates (or reuses) a lane's cluster with envfuncs,
// after Prepare, whose node image it uses; a scratch config takes the
// kubeconfig envfuncs sets (the lane sets it on each feature's config).
func (s *Suite) createSharedCluster(ctx context.Context, c *cluster.Cluster) (support.E2EClusterProvider, error) {
	// Counted before Prepare: every test starts together and waits for
	// Prepare, so the lanes that create a cluster are counted by the time
	// OwnClusters, past Prepare too, looks.
	s.creatingDone.L.Lock()
	s.creating++
	s.creatingDone.L.Unlock()
	defer func() {
		s.creatingDone.L.Lock()
		s.creating--
		s.creatingDone.L.Unlock()
		s.creatingDone.Broadcast()
	}()
	if err := s.Prepare(ctx); err != nil {
		return nil, err
	}
	c.UseImage(s.NodeImage)
	_, err := envfuncs.CreateClusterWithOpts(c, c.Name(), func(p support.E2EClusterProvider) {
		if c, ok := p.(*cluster.Cluster); ok {
			c.UseImage(s.NodeImage)
		}
	})(ctx, envconf.New())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name(), err)
	}
	return c, nil
}

// waitForSharedClusters returns once no shared cluster is being created.
func (s *Suite) waitForSharedClusters() {
	s.creatingDone.L.Lock()
	defer s.creatingDone.L.Unlock()
	for s.creating > 0 {
		s.creatingDone.Wait()
	}
}

// DestroySharedClusters is the env func that dumps the node logs of every
// lane cluster that was created into logsDir/<cluster> (always, before
// cleanup: a failure can be read afterwards) and deletes it, unless
// E2E_KEEP_CLUSTER=true keeps them. Lanes whose features were all filtered
// out have no cluster and are passed over.
func (s *Suite) DestroySharedClusters(logsDir string) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		var errs []error
		for _, l := range s.lanes {
			p, ok := l.Provisioned()
			if !ok {
				continue
			}
			c, ok := p.(*cluster.Cluster)
			if !ok {
				continue // not possible: createSharedCluster makes harness clusters
			}
			name := c.Name()
			if err := c.ExportLogs(ctx, filepath.Join(logsDir, name)); err != nil {
				fmt.Fprintf(s.opts.Log, "[e2e] node logs of %s not exported: %v\n", name, err)
			}
			if os.Getenv(KeepClusterEnv) == "true" {
				fmt.Fprintf(s.opts.Log, "[e2e] keeping cluster %s: kubectl --kubeconfig %s --context %s\n",
					name, c.GetKubeconfig(), c.GetKubectlContext())
				continue
			}
			if err := c.Destroy(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return ctx, errors.Join(errs...)
	}
}

// SharedCluster returns lane l's cluster, as l recorded it in the feature's
// ctx before the feature ran.
func (s *Suite) SharedCluster(ctx context.Context, l *Lane) (*cluster.Cluster, error) {
	p, ok := envfuncs.GetClusterFromContext(ctx, l.clusterName)
	if !ok {
		return nil, fmt.Errorf("%s: no cluster in the feature's context: run the feature through the lane's Test", l.Name())
	}
	c, ok := p.(*cluster.Cluster)
	if !ok {
		return nil, fmt.Errorf("%s: cluster is a %T, not the harness's kind provider", l.Name(), p)
	}
	return c, nil
}

// NewCluster creates a dedicated cluster (for features that must tear one
// down); call it from a feature on OwnClusters, which prepared the node image.
func (s *Suite) NewCluster(ctx context.Context, name string) (*cluster.Cluster, error) {
	c := cluster.New(name, cluster.WithImage(s.NodeImage), cluster.WithLog(s.opts.Log))
	_, err := c.Create(ctx)
	return c, err
}
