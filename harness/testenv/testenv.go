// Package testenv is the e2e suite's shared environment: engine and node image
// prepared once, one kind cluster reused by every feature (reset between
// cells, not recreated), torn down at the end unless kept for inspection.
package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/prepare"
)

// Options configures the suite.
type Options struct {
	ClusterName string
	Log         io.Writer
}

// Suite holds what features share.
type Suite struct {
	opts      Options
	NodeImage string

	mu     sync.Mutex
	shared *cluster.Cluster
}

// New returns a suite; nothing is prepared until Prepare.
func New(opts Options) *Suite {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	return &Suite{opts: opts}
}

// Prepare readies the engine and the node image.
func (s *Suite) Prepare(ctx context.Context) error {
	if _, err := prepare.Engine(ctx, s.opts.Log); err != nil {
		return err
	}
	img, err := prepare.NodeImage(ctx, s.opts.Log, "", false)
	if err != nil {
		return err
	}
	s.NodeImage = img
	return nil
}

// Log is where progress lines go.
func (s *Suite) Log() io.Writer { return s.opts.Log }

// SharedCluster returns the suite's cluster, creating (or reusing) it on first use.
func (s *Suite) SharedCluster(ctx context.Context) (*cluster.Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared != nil {
		return s.shared, nil
	}
	c := cluster.New(s.opts.ClusterName, cluster.WithImage(s.NodeImage), cluster.WithLog(s.opts.Log))
	if _, err := c.Create(ctx); err != nil {
		return nil, err
	}
	s.shared = c
	return c, nil
}

// NewCluster creates a dedicated cluster (for features that must tear one down).
func (s *Suite) NewCluster(ctx context.Context, name string) (*cluster.Cluster, error) {
	c := cluster.New(name, cluster.WithImage(s.NodeImage), cluster.WithLog(s.opts.Log))
	_, err := c.Create(ctx)
	return c, err
}

// Teardown deletes the shared cluster unless E2E_KEEP_CLUSTER=true.
func (s *Suite) Teardown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared == nil {
		return nil
	}
	if os.Getenv("E2E_KEEP_CLUSTER") == "true" {
		fmt.Fprintf(s.opts.Log, "[e2e] keeping cluster %s: kubectl --kubeconfig %s --context %s\n", s.shared.Name(), s.shared.GetKubeconfig(), s.shared.GetKubectlContext())
		return nil
	}
	return s.shared.Destroy(ctx)
}
