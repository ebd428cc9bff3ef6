// Package detect watches a running platform continually and writes what it
// sees into one ledger.Ledger: runner access lines (with the caller resolved
// from its pod IP), operator and backend log lines, session status changes
// and AG-UI event streams. Detectors read only what upstream components really
// produce, so the same detectors work on the real platform.
package detect

import (
	"context"
	"sync"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// Fixed names of contract §2, §4 and the project conventions.
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

// PhaseTimeline places an observation in a cell phase by its own time, so lines
// read late (reconnects, SSE replay) are not tagged with the phase in which they
// happened to be read.
type PhaseTimeline struct {
	mu                  sync.Mutex
	upgradeStarted      time.Time
	upgradeRolledOut    time.Time
	upgradeStartedKnown bool
}

// MarkUpgradeStarted records when the upgrade began.
func (p *PhaseTimeline) MarkUpgradeStarted(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upgradeStarted, p.upgradeStartedKnown = t, true
}

// MarkUpgradeRolledOut records when every component of the target release was rolled out.
func (p *PhaseTimeline) MarkUpgradeRolledOut(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upgradeRolledOut = t
}

// PhaseAt returns the phase t falls into.
func (p *PhaseTimeline) PhaseAt(t time.Time) ledger.Phase {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.upgradeStartedKnown || t.Before(p.upgradeStarted):
		return ledger.PhaseBefore
	case p.upgradeRolledOut.IsZero() || t.Before(p.upgradeRolledOut):
		return ledger.PhaseDuring
	}
	return ledger.PhaseAfter
}

type options struct {
	now               func() time.Time
	opener            LogOpener
	resolver          *CallerResolver
	timeline          *PhaseTimeline
	platformNamespace string
	minBackoff        time.Duration
	maxBackoff        time.Duration
	attributionTries  int
	attributionDelay  time.Duration
	resync            time.Duration
}

func defaultOptions() options {
	return options{
		now:               time.Now,
		platformNamespace: PlatformNamespace,
		minBackoff:        250 * time.Millisecond,
		maxBackoff:        10 * time.Second,
		attributionTries:  3,
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

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogOpener replaces the clientset's GetLogs (tests, or a recorded replay).
func WithLogOpener(op LogOpener) Option { return func(o *options) { o.opener = op } }

// WithCallerResolver attributes runner access lines to callers.
func WithCallerResolver(r *CallerResolver) Option { return func(o *options) { o.resolver = r } }

// WithPhaseTimeline tags observations by their own time instead of the
// ledger's current phase.
func WithPhaseTimeline(p *PhaseTimeline) Option { return func(o *options) { o.timeline = p } }

// WithPlatformNamespace overrides "ambient-code".
func WithPlatformNamespace(ns string) Option { return func(o *options) { o.platformNamespace = ns } }

// WithReconnectBackoff bounds the wait between log stream reconnects.
func WithReconnectBackoff(min, max time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = min, max }
}

// WithAttributionRetry makes a runner access line whose caller IP is not yet
// known wait for the pod watch to catch up (tries × delay) before it is
// recorded as unknown.
func WithAttributionRetry(tries int, delay time.Duration) Option {
	return func(o *options) { o.attributionTries, o.attributionDelay = tries, delay }
}

// WithResyncPeriod sets the informers' resync period (0 = none).
func WithResyncPeriod(d time.Duration) Option { return func(o *options) { o.resync = d } }

func (o *options) phaseAt(t time.Time) ledger.Phase {
	if o.timeline == nil || t.IsZero() {
		return ""
	}
	return o.timeline.PhaseAt(t)
}
