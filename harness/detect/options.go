// Package detect watches a running platform continually and writes what it
// sees into one ledger.Ledger: runner access lines (with the caller resolved
// from its pod IP), operator and backend log lines, session status changes
// and AG-UI event streams. Detectors read only what upstream components really
// produce, so the same detectors work on the real platform.
package detect

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Fixed names of docs/platform.md §2, §4 and the project conventions.
const (
	PlatformNamespace     = "ambient-code"
	ManagedNamespaceLabel = "ambient-code.io/managed"
	RunnerAppLabelValue   = "ambient-code-runner"
	RunnerContainer       = "ambient-code-runner"
	SessionLabel          = "agentic-session"
	OperatorAppLabelValue = "agentic-operator"
	BackendAppLabelValue  = "backend-api"
)

// Detector is a continual watcher: Start returns once it is watching (caches
// synced), work continues in the background until Stop.
type Detector interface {
	Name() string
	Start(ctx context.Context) error
	// Stop ends the watch and waits for in-flight work; a stretch that could not
	// be covered by then is recorded as a SignalGap.
	Stop()
}

type options struct {
	clock             clock.Clock
	opener            LogOpener
	resolver          *CallerResolver
	platformNamespace string
	minBackoff        time.Duration
	maxBackoff        time.Duration
	attributionTries  int
	attributionDelay  time.Duration
	resync            time.Duration
}

func defaultOptions() options {
	return options{
		clock:             clock.RealClock{},
		platformNamespace: PlatformNamespace,
		minBackoff:        250 * time.Millisecond,
		maxBackoff:        10 * time.Second,
		attributionTries:  5, // 0.3 + 0.6 + 1.2 + 2.4 s: a loaded node's watch lag
		attributionDelay:  300 * time.Millisecond,
	}
}

func buildOptions(opts []Option) options {
	o := defaultOptions()
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

// Option configures a detector or the resolver.
type Option func(*options)

// WithClock replaces the real clock: reconnect back-off, attribution retries
// and the times of gaps and status changes come from it (tests step a fake one).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogOpener replaces the clientset's GetLogs (tests, or a recorded replay).
func WithLogOpener(op LogOpener) Option { return func(o *options) { o.opener = op } }

// WithCallerResolver attributes runner access lines to callers.
func WithCallerResolver(r *CallerResolver) Option { return func(o *options) { o.resolver = r } }

// WithPlatformNamespace overrides "ambient-code" (an option of NewWatches).
func WithPlatformNamespace(ns string) Option { return func(o *options) { o.platformNamespace = ns } }

// WithReconnectBackoff bounds the wait between log stream reconnects: min,
// doubling up to max.
func WithReconnectBackoff(min, max time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = min, max }
}

// WithAttributionRetry makes a runner access line whose caller IP is not yet
// known wait for the pod watch to catch up (tries × delay) before it is
// recorded as unknown.
func WithAttributionRetry(tries int, delay time.Duration) Option {
	return func(o *options) { o.attributionTries, o.attributionDelay = tries, delay }
}

// WithResyncPeriod sets the informers' resync period (0 = none; an option of NewWatches).
func WithResyncPeriod(d time.Duration) Option { return func(o *options) { o.resync = d } }
