package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/poll"
)

// Family is one kind of runner call the traffic driver keeps making.
type Family string

const (
	// FamilyRun posts agui/run messages (backend POST / to the runner, websocket family).
	FamilyRun Family = "run"
	// FamilyEvents keeps the agui/events SSE stream open; RUN_ERROR "Runner error: HTTP 401" arrives there.
	FamilyEvents Family = "events"
	// FamilyInterrupt calls agui/interrupt (runner POST /interrupt).
	FamilyInterrupt Family = "interrupt"
	// FamilyCapabilities calls agui/capabilities (runner GET /capabilities).
	FamilyCapabilities Family = "capabilities"
	// FamilyFeedback calls agui/feedback (runner POST /feedback).
	FamilyFeedback Family = "feedback"
	// FamilyMcpStatus calls mcp/status (runner GET /mcp/status).
	FamilyMcpStatus Family = "mcp-status"
	// FamilyHandlers calls the sessions.go handler family (workspace, repos/status),
	// which carries the header from v0.2.2: a control against the websocket family.
	FamilyHandlers Family = "handlers"
	// FamilySpecChange rotates select-workflow, add-repo and remove-repo, which make
	// both the backend and the operator (drift path) call the runner.
	FamilySpecChange Family = "spec-change"
)

// AllFamilies is the default set of families.
var AllFamilies = []Family{FamilyRun, FamilyEvents, FamilyInterrupt, FamilyCapabilities,
	FamilyFeedback, FamilyMcpStatus, FamilyHandlers, FamilySpecChange}

// EventObserver reads one connected agui/events stream until it ends; it is
// where a parser turns SSE lines into ledger observations.
type EventObserver func(ctx context.Context, stream io.Reader, namespace, session string)

// DiscardEvents is the default observer: it only keeps the stream drained.
func DiscardEvents(_ context.Context, stream io.Reader, _, _ string) {
	_, _ = io.Copy(io.Discard, stream)
}

// TrafficInput configures NewTraffic.
type TrafficInput struct {
	Client *Client
	// Ledger receives the API answers (when Client records elsewhere or nowhere)
	// and the SignalGap entries of the event streams.
	Ledger   *ledger.Ledger
	Sessions []SessionRef
	// Interval between two calls of one family for one session (default 3 s).
	Interval time.Duration
	// SpecChangeEvery makes spec changes that many times less often (default 5).
	SpecChangeEvery int
	// Families to drive (default AllFamilies).
	Families []Family
	// Observer reads the SSE stream (default DiscardEvents).
	Observer EventObserver
	// GapThreshold: an events disconnection longer than this is a SignalGap (default 10 s).
	GapThreshold time.Duration
	// CallTimeout bounds one API call (default 30 s).
	CallTimeout time.Duration
	// Clock paces the calls and times the windows (default the real clock;
	// tests step a fake one).
	Clock clock.Clock
}

// Traffic keeps every family of runner calls going for each session until
// stopped. Per session and family at most one call is in flight.
type Traffic struct {
	in     TrafficInput
	client *Client

	mu      sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
	calls   map[Family]int
	// done holds when each session's calls of each family completed, so a
	// window can end once every pair has been exercised often enough.
	done map[sessionFamily][]time.Time
}

type sessionFamily struct {
	session SessionRef
	family  Family
}

// NewTraffic validates in and fills defaults.
func NewTraffic(in TrafficInput) (*Traffic, error) {
	if in.Client == nil {
		return nil, errors.New("TrafficInput.Client is nil; build one with NewClient")
	}
	if len(in.Sessions) == 0 {
		return nil, errors.New("TrafficInput.Sessions is empty; give at least one project/session")
	}
	for i, s := range in.Sessions {
		if s.Project == "" || s.Name == "" {
			return nil, fmt.Errorf("TrafficInput.Sessions[%d] = %q is incomplete; give both Project and Name", i, s.String())
		}
	}
	if in.Interval < 0 || in.GapThreshold < 0 || in.CallTimeout < 0 || in.SpecChangeEvery < 0 {
		return nil, errors.New("TrafficInput durations and SpecChangeEvery must not be negative (0 means default)")
	}
	in.Interval = durationOr(in.Interval, 3*time.Second)
	in.GapThreshold = durationOr(in.GapThreshold, 10*time.Second)
	in.CallTimeout = durationOr(in.CallTimeout, 30*time.Second)
	if in.SpecChangeEvery == 0 {
		in.SpecChangeEvery = 5
	}
	if len(in.Families) == 0 {
		in.Families = AllFamilies
	}
	known := map[Family]bool{}
	for _, f := range AllFamilies {
		known[f] = true
	}
	for _, f := range in.Families {
		if !known[f] {
			return nil, fmt.Errorf("TrafficInput.Families: unknown family %q; valid: %v", f, AllFamilies)
		}
	}
	if in.Observer == nil {
		in.Observer = DiscardEvents
	}
	if in.Clock == nil {
		in.Clock = clock.RealClock{}
	}
	client := in.Client
	if in.Ledger != nil && client.ledger != in.Ledger {
		cp := *client
		cp.ledger = in.Ledger
		client = &cp
	}
	return &Traffic{in: in, client: client, calls: map[Family]int{}, done: map[sessionFamily][]time.Time{}}, nil
}

// Start launches the background calls; they end on Stop or when ctx ends.
func (t *Traffic) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started {
		return errors.New("traffic already started; create a new Traffic to start again")
	}
	t.started = true
	ctx, t.cancel = context.WithCancel(ctx)
	n := len(t.in.Families)
	for _, ref := range t.in.Sessions {
		for i, fam := range t.in.Families {
			// Stagger families so a session's calls do not arrive in bursts.
			offset := t.in.Interval * time.Duration(i) / time.Duration(n)
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				if poll.Sleep(ctx, t.in.Clock, offset) != nil {
					return
				}
				if fam == FamilyEvents {
					t.followEvents(ctx, ref)
					return
				}
				t.repeat(ctx, fam, ref)
			}()
		}
	}
	return nil
}

// Stop ends all calls and waits for them.
func (t *Traffic) Stop() {
	t.mu.Lock()
	cancel := t.cancel
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	t.wg.Wait()
}

// Calls returns how many calls (or stream connects) each family made.
func (t *Traffic) Calls() map[Family]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[Family]int, len(t.calls))
	for k, v := range t.calls {
		out[k] = v
	}
	return out
}

// FewestCallsSince is the smallest number of calls completed after since over
// every session and every repeating family, and the pair that has it. The
// events stream (one long call) and the slower spec changes are left out: the
// cell waits for their own evidence in the ledger.
func (t *Traffic) FewestCallsSince(since time.Time) (int, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fewest, which := -1, ""
	for _, ref := range t.in.Sessions {
		for _, fam := range t.in.Families {
			if fam == FamilyEvents || fam == FamilySpecChange {
				continue
			}
			n := 0
			for _, at := range t.done[sessionFamily{ref, fam}] {
				if !at.Before(since) {
					n++
				}
			}
			if fewest < 0 || n < fewest {
				fewest, which = n, ref.String()+" "+string(fam)
			}
		}
	}
	return max(fewest, 0), which
}

func (t *Traffic) completed(ref SessionRef, f Family) {
	t.mu.Lock()
	k := sessionFamily{ref, f}
	t.done[k] = append(t.done[k], t.in.Clock.Now())
	t.mu.Unlock()
}

func (t *Traffic) count(f Family) {
	t.mu.Lock()
	t.calls[f]++
	t.mu.Unlock()
}

func (t *Traffic) repeat(ctx context.Context, fam Family, ref SessionRef) {
	every := t.in.Interval
	if fam == FamilySpecChange {
		every *= time.Duration(t.in.SpecChangeEvery)
	}
	n := 0
	wait.BackoffUntilWithContext(ctx, func(ctx context.Context) {
		callCtx, cancel := context.WithTimeout(ctx, t.in.CallTimeout)
		t.callOnce(callCtx, fam, ref, n)
		cancel()
		if ctx.Err() == nil {
			t.completed(ref, fam)
		}
		n++
	}, poll.Every(t.in.Clock, every), false)
}

// Spec-change data: two workflow paths alternate so every select is a real
// spec change (new generation, operator drift path).
var trafficWorkflows = []Workflow{
	{GitURL: ExampleWorkflowURL, Branch: DefaultBranch, Path: "workflows/harness-a"},
	{GitURL: ExampleWorkflowURL, Branch: DefaultBranch, Path: "workflows/harness-b"},
}

var trafficRepo = Repo{URL: ExampleRepoURL, Branch: DefaultBranch}

func (t *Traffic) callOnce(ctx context.Context, fam Family, ref SessionRef, n int) {
	if ctx.Err() != nil {
		return
	}
	t.count(fam)
	c := t.client
	switch fam {
	case FamilyRun:
		c.Run(ctx, ref, fmt.Sprintf("harness traffic message %d", n+1))
	case FamilyInterrupt:
		c.Interrupt(ctx, ref)
	case FamilyCapabilities:
		c.Capabilities(ctx, ref)
	case FamilyFeedback:
		c.Feedback(ctx, ref, fmt.Sprintf("harness feedback %d", n+1))
	case FamilyMcpStatus:
		c.McpStatus(ctx, ref)
	case FamilyHandlers:
		if n%2 == 0 {
			c.ListWorkspace(ctx, ref)
		} else {
			c.ReposStatus(ctx, ref)
		}
	case FamilySpecChange:
		switch n % 3 {
		case 0:
			c.SelectWorkflow(ctx, ref, trafficWorkflows[(n/3)%len(trafficWorkflows)])
		case 1:
			c.AddRepo(ctx, ref, trafficRepo)
		case 2:
			c.RemoveRepo(ctx, ref, trafficRepo.Name())
		}
	}
}

// followEvents keeps one agui/events stream open, reconnecting with backoff
// (the backend pod is recreated during an upgrade), and records a SignalGap
// when the stream was down longer than GapThreshold.
func (t *Traffic) followEvents(ctx context.Context, ref SessionRef) {
	clk := t.in.Clock
	reconnect := wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Cap: max(t.in.Interval, 250*time.Millisecond), Steps: math.MaxInt32}
	backoff := reconnect
	downSince := clk.Now()
	connected := false
	var lastErr error
	for ctx.Err() == nil {
		t.count(FamilyEvents)
		attempt := clk.Now()
		stream, err := t.client.Events(ctx, ref)
		if err != nil {
			lastErr = err
			if poll.Sleep(ctx, clk, backoff.Step()) != nil {
				break
			}
			continue
		}
		if down := clk.Since(downSince); down > t.in.GapThreshold {
			t.recordGap(ref, downSince, clk.Now(), lastErr)
		}
		backoff, connected = reconnect, true
		t.in.Observer(ctx, stream, ref.Project, ref.Name)
		_ = stream.Close()
		downSince, connected, lastErr = clk.Now(), false, errors.New("stream ended by the backend")
		// A stream that ends at once must not turn into a reconnect storm.
		_ = poll.Sleep(ctx, clk, reconnect.Duration-clk.Since(attempt))
	}
	// Stopped while disconnected: the uncovered tail is a gap too.
	if !connected && clk.Since(downSince) > t.in.GapThreshold {
		t.recordGap(ref, downSince, clk.Now(), lastErr)
	}
}

func (t *Traffic) recordGap(ref SessionRef, from, to time.Time, cause error) {
	l := t.in.Ledger
	if l == nil {
		l = t.client.ledger
	}
	if l == nil {
		return
	}
	why := "unknown"
	if cause != nil {
		why = cause.Error()
	}
	l.Add(ledger.Observation{
		Time:      from,
		Signal:    ledger.SignalGap,
		Source:    "traffic-events:" + ref.String(),
		Caller:    ledger.CallerHarness,
		Method:    "GET",
		Path:      "GET agui/events",
		Namespace: ref.Project,
		Session:   ref.Name,
		Detail: fmt.Sprintf("agui/events disconnected from %s to %s (%s); last error: %s",
			from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), to.Sub(from).Round(time.Millisecond), why),
	})
}
