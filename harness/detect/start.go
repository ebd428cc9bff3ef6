package detect

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// StartAllInput configures StartAll.
type StartAllInput struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Ledger  *ledger.Ledger
	// PlatformNamespace is where operator and backend run.
	PlatformNamespace string
	// Also returns detectors started after the built-in ones (and stopped
	// before them) that share their caller resolver, e.g. the wire witness.
	Also func(*CallerResolver) []Detector
}

// StartAll starts every continual detector of a cell (caller resolution,
// runner and platform logs, session conditions) into the ledger, all fed by
// one set of shared watches, and returns once each watches. The returned func
// stops them in reverse order, then the watches.
func StartAll(ctx context.Context, in StartAllInput) (func(), error) {
	watches := NewWatches(in.Kube, in.Dynamic, WithPlatformNamespace(in.PlatformNamespace))
	resolver := NewCallerResolver(watches)
	opts := []Option{WithCallerResolver(resolver), WithLogOpener(NewClientsetLogOpener(in.Kube))}
	ds := []Detector{resolver,
		NewRunnerLogs(watches, in.Ledger, opts...),
		NewPlatformLogs(watches, in.Ledger, opts...),
		NewSessionConditions(watches, in.Ledger, opts...)}
	if in.Also != nil {
		ds = append(ds, in.Also(resolver)...)
	}
	var started []Detector
	stop := func() {
		for i := len(started) - 1; i >= 0; i-- {
			started[i].Stop()
		}
		watches.Stop()
	}
	for _, d := range ds {
		if err := d.Start(ctx); err != nil {
			d.Stop() // whatever it started before failing
			stop()
			return func() {}, fmt.Errorf("detector %s: %w", d.Name(), err)
		}
		started = append(started, d)
	}
	return stop, nil
}
