package session

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/tests/support/testsupport"
)

// The traffic tests run on a fake clock: they step it and wait (exactly, on
// counts) for the calls each step must cause, so a loaded machine cannot
// change what they see.

func newFakeClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// completedCalls is how many calls of fam for ref have completed.
func (t *Traffic) completedCalls(ref SessionRef, fam Family) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.done[sessionFamily{ref, fam}])
}

// trafficDriver steps a Traffic that runs every family with Interval 8 s, so
// that family i of AllFamilies starts at i s and the clock moves in 1 s steps.
type trafficDriver struct {
	t        *testing.T
	clk      *clocktesting.FakeClock
	tr       *Traffic
	sessions []SessionRef
	gated    map[Family]bool
	now      time.Duration // fake time since Start
}

const driverInterval = 8 * time.Second

// expectedCalls is how many calls family i (of AllFamilies) has completed at
// fake time now: the first at its offset, then one every interval.
func expectedCalls(i int, every, now time.Duration) int {
	offset := driverInterval * time.Duration(i) / time.Duration(len(AllFamilies))
	if now < offset {
		return 0
	}
	return int((now-offset)/every) + 1
}

// settle waits until every family that is not gated made exactly the calls
// it must have made by now.
func (d *trafficDriver) settle() {
	d.t.Helper()
	for i, fam := range AllFamilies {
		if fam == FamilyEvents || d.gated[fam] {
			continue
		}
		every := driverInterval
		if fam == FamilySpecChange {
			every *= time.Duration(d.tr.in.SpecChangeEvery)
		}
		want := expectedCalls(i, every, d.now)
		for _, ref := range d.sessions {
			testsupport.Eventually(d.t, ref.String()+" "+string(fam)+" calls", func() bool { return d.tr.completedCalls(ref, fam) >= want })
			if got := d.tr.completedCalls(ref, fam); got != want {
				d.t.Fatalf("%s %s: %d calls after %s, want %d", ref, fam, got, d.now, want)
			}
		}
	}
}

// runUntil settles and steps the clock 1 s at a time until fake time end.
func (d *trafficDriver) runUntil(end time.Duration) {
	d.t.Helper()
	if d.now == 0 {
		// Every goroutine is waiting on the clock (its stagger, or its next round).
		d.settle()
		testsupport.AwaitWaiters(d.t, d.clk, len(d.sessions)*(len(AllFamilies)))
	}
	for {
		d.settle()
		if d.now >= end {
			return
		}
		d.clk.Step(time.Second)
		d.now += time.Second
	}
}

func TestTrafficPacesEveryFamilyAndNeverOverlapsOne(t *testing.T) {
	fb := newFakeBackend(t)
	// A call that does not answer: a driver without the one-in-flight bound would overlap it.
	releaseInterrupts := fb.holdCalls("POST /agui/interrupt")
	fb.eventsHoldOpen = true
	l := ledger.New()
	clk := newFakeClock()
	sessions := []SessionRef{{Project: "proj-a", Name: "s1"}, {Project: "proj-a", Name: "s2"}}
	tr, err := NewTraffic(TrafficInput{Client: fb.client(t), Ledger: l, Sessions: sessions, Interval: driverInterval, SpecChangeEvery: 3, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err == nil {
		t.Error("second Start accepted")
	}
	d := &trafficDriver{t: t, clk: clk, tr: tr, sessions: sessions, gated: map[Family]bool{FamilyInterrupt: true}}
	d.runUntil(3 * driverInterval) // settle checks every family's exact count at every second

	perRoute := map[string]int{}
	for _, r := range fb.reqs() {
		_, sess, sub, ok := splitSessionPath(r.Path)
		if !ok {
			t.Fatalf("traffic called a non-session route %s %s", r.Method, r.Path)
		}
		assertIdentity(t, r.Header)
		perRoute[sess+" "+r.Method+" "+sub]++
	}
	for _, s := range []string{"s1", "s2"} {
		if n := perRoute[s+" POST /agui/interrupt"]; n != 1 || fb.inFlightMax(s, "POST /agui/interrupt") != 1 {
			t.Errorf("%s: %d interrupts sent (at most %d at once) while the first had no answer, want 1", s, n, fb.inFlightMax(s, "POST /agui/interrupt"))
		}
		if n := perRoute[s+" POST /workflow"]; n != 1 {
			t.Errorf("%s: %d workflow selections, want the first spec change only", s, n)
		}
		if n := perRoute[s+" GET /agui/events"]; n != 1 {
			t.Errorf("%s: %d event stream connects, want 1 held stream", s, n)
		}
	}
	// Answered at last: the next interrupt follows at once, one at a time.
	releaseInterrupts()
	for _, ref := range sessions {
		testsupport.Eventually(t, ref.String()+" interrupt answered", func() bool { return tr.completedCalls(ref, FamilyInterrupt) >= 2 })
		if m := fb.inFlightMax(ref.Name, "POST /agui/interrupt"); m != 1 {
			t.Errorf("%s had %d interrupts in flight at once", ref, m)
		}
	}
	tr.Stop()
	calls := tr.Calls()
	clk.Step(time.Hour)
	if after := tr.Calls(); after[FamilyRun] != calls[FamilyRun] || after[FamilyCapabilities] != calls[FamilyCapabilities] {
		t.Errorf("calls continued after Stop: %v -> %v", calls, after)
	}
	if calls[FamilyRun] != 2*4 {
		t.Errorf("Calls()[run] = %d, want 8 (2 sessions, at 0, 8, 16, 24 s)", calls[FamilyRun])
	}
	// API answers went to the traffic ledger even though the client has none.
	if n := len(l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalAPI && o.Path == "POST agui/run" })); n != 8 {
		t.Errorf("ledger has %d run observations, want 8", n)
	}
}

func TestTrafficSelectedFamiliesOnly(t *testing.T) {
	fb := newFakeBackend(t)
	clk := newFakeClock()
	tr, err := NewTraffic(TrafficInput{Client: fb.client(t), Sessions: []SessionRef{testRef}, Interval: time.Second, Families: []Family{FamilyCapabilities}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_ = tr.Start(ctx)
	for round := 1; round <= 3; round++ {
		testsupport.Eventually(t, "capabilities call", func() bool { return tr.completedCalls(testRef, FamilyCapabilities) >= round })
		clk.Step(time.Second)
	}
	cancel()
	tr.Stop() // ctx end already stopped it; Stop must still return
	reqs := fb.reqs()
	if len(reqs) < 3 {
		t.Errorf("%d calls, want 3 or more", len(reqs))
	}
	for _, r := range reqs {
		if !strings.HasSuffix(r.Path, "/agui/capabilities") {
			t.Errorf("unexpected call %s %s", r.Method, r.Path)
		}
	}
}

func TestNewTrafficValidation(t *testing.T) {
	fb := newFakeBackend(t)
	c := fb.client(t)
	bad := []TrafficInput{
		{Sessions: []SessionRef{testRef}},
		{Client: c},
		{Client: c, Sessions: []SessionRef{{Name: "s"}}},
		{Client: c, Sessions: []SessionRef{testRef}, Families: []Family{"websocket"}},
		{Client: c, Sessions: []SessionRef{testRef}, Interval: -time.Second},
	}
	for i, in := range bad {
		if _, err := NewTraffic(in); err == nil {
			t.Errorf("input %d accepted", i)
		}
	}
}

// stepWhileWaiting steps clk by step whenever the events follower waits on
// it, until done() holds.
func stepWhileWaiting(t *testing.T, clk *clocktesting.FakeClock, step time.Duration, done func() bool) {
	t.Helper()
	for {
		testsupport.Eventually(t, "the follower waiting, or done", func() bool { return done() || clk.HasWaiters() })
		if done() {
			return
		}
		clk.Step(step)
	}
}

type streamLog struct {
	mu      sync.Mutex
	streams []string
}

func (s *streamLog) observe(_ context.Context, r io.Reader, ns, sess string) {
	b, _ := io.ReadAll(r)
	s.mu.Lock()
	s.streams = append(s.streams, ns+"/"+sess+":"+string(b))
	s.mu.Unlock()
}

func (s *streamLog) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

func TestTrafficReconnectsEventsAndRecordsGap(t *testing.T) {
	fb := newFakeBackend(t)
	// Connection 1 delivers events and ends (backend pod deleted); connects 2–4
	// fail (Recreate outage), then the backend is back.
	fb.eventsFail = func(n int) bool { return n >= 2 && n <= 4 }
	l := ledger.New()
	clk := newFakeClock()
	var seen streamLog
	tr, err := NewTraffic(TrafficInput{Client: fb.client(t, WithLedger(l)), Sessions: []SessionRef{testRef}, Families: []Family{FamilyEvents},
		Interval: time.Second, GapThreshold: 1500 * time.Millisecond, Observer: seen.observe, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	_ = tr.Start(context.Background())
	// Down from the end of stream 1: 250 ms before reconnecting, then backoff 250 ms, 500 ms, 1 s (the cap).
	stepWhileWaiting(t, clk, 250*time.Millisecond, func() bool { return seen.count() >= 2 })
	tr.Stop()

	if !strings.HasPrefix(seen.streams[0], "proj-a/session-1:") || !strings.Contains(seen.streams[0], "Runner error: HTTP 401") {
		t.Errorf("first stream = %q", seen.streams[0])
	}
	gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap })
	if len(gaps) != 1 {
		t.Fatalf("want one gap, got %+v", gaps)
	}
	g := gaps[0]
	if g.Session != "session-1" || g.Namespace != "proj-a" || !strings.Contains(g.Detail, "503") || !strings.Contains(g.Detail, "(2s)") {
		t.Errorf("gap = %+v, want the 2 s outage with its 503", g)
	}
	failed := l.Filter(func(o ledger.Observation) bool {
		return o.Signal == ledger.SignalAPI && o.Path == "GET agui/events" && o.Status == 503
	})
	if len(failed) != 3 {
		t.Errorf("failed reconnects recorded: %d, want 3", len(failed))
	}
}

func TestTrafficShortDisconnectIsNoGap(t *testing.T) {
	fb := newFakeBackend(t) // every stream ends right after its events
	l := ledger.New()
	clk := newFakeClock()
	tr, _ := NewTraffic(TrafficInput{Client: fb.client(t), Ledger: l, Sessions: []SessionRef{testRef}, Families: []Family{FamilyEvents},
		Interval: time.Second, GapThreshold: time.Second, Clock: clk})
	_ = tr.Start(context.Background())
	stepWhileWaiting(t, clk, 250*time.Millisecond, func() bool { return tr.Calls()[FamilyEvents] >= 5 })
	tr.Stop()
	if n := tr.Calls()[FamilyEvents]; n != 5 {
		t.Errorf("connects = %d, want 5: a stream that ends is reopened once per 250 ms, without a storm", n)
	}
	if clk.Since(newFakeClock().Now()) != time.Second {
		t.Errorf("fake time %s for 4 reconnects, want 1s", clk.Since(newFakeClock().Now()))
	}
	if gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap }); len(gaps) != 0 {
		t.Errorf("unexpected gaps %+v", gaps)
	}
}

func TestFewestCallsSinceCountsEverySessionAndFamily(t *testing.T) {
	fb := newFakeBackend(t)
	// interrupt does not answer: it is the family that lags and must be named.
	release := fb.holdCalls("POST /agui/interrupt")
	fb.eventsHoldOpen = true
	clk := newFakeClock()
	sessions := []SessionRef{{Project: "proj-a", Name: "s1"}, {Project: "proj-a", Name: "s2"}}
	tr, err := NewTraffic(TrafficInput{Client: fb.client(t), Sessions: sessions, Interval: driverInterval, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := tr.FewestCallsSince(time.Time{}); n != 0 {
		t.Fatalf("before Start: fewest = %d, want 0", n)
	}
	start := clk.Now()
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	d := &trafficDriver{t: t, clk: clk, tr: tr, sessions: sessions, gated: map[Family]bool{FamilyInterrupt: true}}
	d.runUntil(2 * driverInterval)
	n, which := tr.FewestCallsSince(start)
	if n != 0 || !strings.HasSuffix(which, " interrupt") {
		t.Errorf("fewest = %d (%s), want 0 for an interrupt family", n, which)
	}
	release()
	for _, ref := range sessions {
		// The held call and, at once, the one whose turn came meanwhile.
		testsupport.Eventually(t, ref.String()+" interrupts answered", func() bool { return tr.completedCalls(ref, FamilyInterrupt) >= 2 })
	}
	if n, which := tr.FewestCallsSince(start); n < 1 {
		t.Errorf("fewest = %d (%s) once interrupts answer, want 1 or more", n, which)
	}
	// Since 4 s: capabilities (family 3, at 3 s and 11 s) has one call; every
	// other family two, interrupt's both answered at 16 s.
	if n, which := tr.FewestCallsSince(start.Add(4 * time.Second)); n != 1 || which != "proj-a/s1 capabilities" {
		t.Errorf("fewest since 4 s = %d (%s), want 1 for proj-a/s1 capabilities", n, which)
	}
	if later, _ := tr.FewestCallsSince(clk.Now().Add(time.Hour)); later != 0 {
		t.Errorf("calls counted before since: %d", later)
	}
}
