package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/poll"
)

// WatchNodesInput configures WatchNodes.
type WatchNodesInput struct {
	// Containers lists the node containers of a kind cluster with their state
	// ("running", "exited", …); default: docker ps by kind's cluster label.
	Containers func(ctx context.Context, cluster string) (map[string]string, error)
	// Clusters are the clusters to watch and their node containers; default:
	// the ready clusters this process holds (Create records them, Destroy
	// stops watching before it deletes).
	Clusters func() map[string][]string
	Clock    clock.Clock
	// Interval between checks (default 3 s) and Failures in a row (default
	// 2) bound how late a lost node is noticed: 6 s and one check, which
	// leaves the run time to end within 15 s.
	Interval time.Duration
	Failures int
	// Timeout bounds one check (default 4 s); a check that fails to list
	// says nothing about the node: the engine watch judges the engine.
	Timeout time.Duration
	Logf    func(format string, a ...any)
}

// NodeGoneError is the cause of a watched context when a cluster's node
// container was removed or stopped under the run.
type NodeGoneError struct {
	Cluster   string
	Container string
	// State is docker's state of the container, or "" when it is gone.
	State string
	Since time.Time
}

func (e *NodeGoneError) Error() string {
	what := "was removed from the engine"
	if e.State != "" {
		what = "is " + e.State
	}
	return fmt.Sprintf("kind cluster %s: its node container %s %s (found at %s): the cluster cannot serve this run any more (the next run of that name recreates it)", e.Cluster, e.Container, what, e.Since.UTC().Format(time.RFC3339))
}

// StoppedAt is when the node was first found missing.
func (e *NodeGoneError) StoppedAt() time.Time { return e.Since }

// WatchNodes checks the node containers of the watched clusters while ctx
// lives and cancels the returned context with an infrastructure error (exit
// 3) wrapping a *NodeGoneError once one was missing or stopped Failures
// checks in a row, so the run ends naming it instead of retrying a dead API
// server until its timeouts. stop ends the watch.
func WatchNodes(ctx context.Context, in WatchNodesInput) (context.Context, func()) {
	if in.Containers == nil {
		in.Containers = nodeStates
	}
	if in.Clusters == nil {
		in.Clusters = watched
	}
	if in.Clock == nil {
		in.Clock = clock.RealClock{}
	}
	if in.Interval <= 0 {
		in.Interval = 3 * time.Second
	}
	if in.Failures <= 0 {
		in.Failures = 2
	}
	if in.Timeout <= 0 {
		in.Timeout = 4 * time.Second
	}
	if in.Logf == nil {
		in.Logf = func(string, ...any) {}
	}
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		type miss struct {
			n     int
			since time.Time
		}
		misses := map[string]miss{} // by container
		_ = poll.Until(wctx, in.Clock, in.Interval, func(ctx context.Context) (bool, error) {
			for name, nodes := range in.Clusters() {
				cctx, ccancel := context.WithTimeout(ctx, in.Timeout)
				states, err := in.Containers(cctx, name)
				ccancel()
				if ctx.Err() != nil {
					return true, nil
				}
				if err != nil {
					continue
				}
				for _, node := range nodes {
					st, ok := states[node]
					if ok && st == "running" {
						delete(misses, node)
						continue
					}
					m := misses[node]
					if m.n == 0 {
						m.since = in.Clock.Now()
					}
					m.n++
					misses[node] = m
					// Destroy may have begun between listing and now.
					if m.n < in.Failures || !stillWatched(in.Clusters(), name, node) {
						continue
					}
					e := &NodeGoneError{Cluster: name, Container: node, State: st, Since: m.since}
					in.Logf("cluster: %v", e)
					cancel(fault.InfraErr(e))
					return true, nil
				}
			}
			return false, nil
		})
	}()
	return wctx, func() {
		cancel(context.Canceled)
		<-done
	}
}

func stillWatched(clusters map[string][]string, name, node string) bool {
	for _, n := range clusters[name] {
		if n == node {
			return true
		}
	}
	return false
}

// nodeStates lists a kind cluster's containers and their states.
func nodeStates(ctx context.Context, name string) (map[string]string, error) {
	out, err := docker.Default.Run(ctx, "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster="+name, "--format", "{{.Names}} {{.State}}")
	if err != nil {
		return nil, err
	}
	states := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			states[f[0]] = f[1]
		}
	}
	return states, nil
}
