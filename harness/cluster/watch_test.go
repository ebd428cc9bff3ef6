package cluster

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// fakeNodes answers the node-container check from a script of states.
type fakeNodes struct {
	mu     sync.Mutex
	script []map[string]string // one per check; the last repeats
	calls  int
}

func (f *fakeNodes) Containers(_ context.Context, cluster string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(f.calls, len(f.script)-1)
	f.calls++
	if f.script[i] == nil {
		return nil, errors.New("Cannot connect to the Docker daemon")
	}
	return f.script[i], nil
}

func runWatch(t *testing.T, nodes *fakeNodes, clusters func() map[string][]string, maxSteps int) (context.Context, time.Duration) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Now())
	start := clk.Now()
	ctx, stop := WatchNodes(context.Background(), WatchNodesInput{Containers: nodes.Containers, Clusters: clusters, Clock: clk})
	t.Cleanup(stop)
	for steps := 0; ctx.Err() == nil && steps < maxSteps; {
		if clk.HasWaiters() {
			clk.Step(time.Second)
			steps++
		}
		runtime.Gosched()
	}
	return ctx, clk.Since(start)
}

// A node container that disappears mid-cell ends the run within 15 s with an
// infrastructure error (exit 3) that names the cluster and the container; a
// failed listing (the engine's business) counts as no loss.
func TestWatchNodesEndsTheRunWhenANodeContainerDisappears(t *testing.T) {
	up := map[string]string{"uh-matrix-control-plane": "running"}
	nodes := &fakeNodes{script: []map[string]string{up, nil, up, {}}} // then gone for good
	clusters := func() map[string][]string { return map[string][]string{"uh-matrix": {"uh-matrix-control-plane"}} }
	ctx, took := runWatch(t, nodes, clusters, 120)
	cause := context.Cause(ctx)
	if exitcode.Of(cause) != exitcode.Infrastructure {
		t.Fatalf("cause %v (exit %d), want infrastructure (exit 3)", cause, exitcode.Of(cause))
	}
	var ng *NodeGoneError
	if !errors.As(cause, &ng) || ng.Cluster != "uh-matrix" || ng.Container != "uh-matrix-control-plane" {
		t.Fatalf("cause %v does not name the cluster and its node", cause)
	}
	// Gone from the 4th check (9 s in at the default 3 s); noticed at the
	// next one, leaving the run most of its 15 s to end.
	if lost := took - 9*time.Second; lost > 6*time.Second {
		t.Fatalf("noticed %s after the node went, want within 6 s", lost)
	}
	if !strings.Contains(cause.Error(), "removed from the engine") {
		t.Errorf("message %q does not say what happened", cause)
	}
}

// A stopped node container is as lost as a removed one.
func TestWatchNodesNamesAStoppedNode(t *testing.T) {
	nodes := &fakeNodes{script: []map[string]string{{"uh-e2e-control-plane": "exited"}}}
	clusters := func() map[string][]string { return map[string][]string{"uh-e2e": {"uh-e2e-control-plane"}} }
	ctx, _ := runWatch(t, nodes, clusters, 60)
	var ng *NodeGoneError
	if !errors.As(context.Cause(ctx), &ng) || ng.State != "exited" {
		t.Fatalf("cause %v, want a NodeGoneError in state exited", context.Cause(ctx))
	}
}

// A cluster the run deletes on purpose is no longer watched: its nodes going
// away ends nothing.
func TestWatchNodesIgnoresAClusterNoLongerWatched(t *testing.T) {
	nodes := &fakeNodes{script: []map[string]string{{}}}
	ctx, _ := runWatch(t, nodes, func() map[string][]string { return nil }, 60)
	if ctx.Err() != nil {
		t.Fatalf("watch ended (%v) although no cluster is watched", context.Cause(ctx))
	}
}

// Create records the ready cluster's nodes through its hold; Destroy stops
// watching them before it deletes.
func TestHoldWatchesReadyClustersUntilDestroy(t *testing.T) {
	useLockDir(t)
	h, err := Acquire("uh-w")
	if err != nil {
		t.Fatal(err)
	}
	h.watch([]string{"uh-w-control-plane"})
	if got := watched()["uh-w"]; len(got) != 1 {
		t.Fatalf("watched %v, want uh-w's node", watched())
	}
	h.markCreated()
	p := &fakeProvider{clusters: map[string]bool{"uh-w": true}}
	if err := New("uh-w", withProvider(p), WithLog(&strings.Builder{}), WithKubeconfigDir(t.TempDir())).Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(watched()) != 0 {
		t.Fatalf("still watching %v after Destroy", watched())
	}
}
