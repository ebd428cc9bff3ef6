package session

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

func TestTrafficIsBoundedAndNeverOverlapsPerFamily(t *testing.T) {
	fb := newFakeBackend(t)
	// Slower than the interval: a driver without the one-in-flight bound would overlap.
	fb.delay["POST /agui/interrupt"] = 100 * time.Millisecond
	fb.eventsHold = 10 * time.Second
	l := ledger.New()
	c := fb.client(t)
	sessions := []SessionRef{{Project: "proj-a", Name: "s1"}, {Project: "proj-a", Name: "s2"}}
	const interval = 40 * time.Millisecond
	tr, err := NewTraffic(TrafficInput{Client: c, Ledger: l, Sessions: sessions, Interval: interval, SpecChangeEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err == nil {
		t.Error("second Start accepted")
	}
	const window = 400 * time.Millisecond
	time.Sleep(window)
	tr.Stop()
	// Requests cancelled by Stop may still reach the server handler a moment later.
	time.Sleep(30 * time.Millisecond)
	stoppedAt := len(fb.reqs())
	time.Sleep(150 * time.Millisecond)
	if after := len(fb.reqs()); after != stoppedAt {
		t.Errorf("calls continued after Stop: %d -> %d", stoppedAt, after)
	}

	perRoute := map[string]int{}
	for _, r := range fb.reqs() {
		_, sess, sub, ok := splitSessionPath(r.Path)
		if !ok {
			t.Fatalf("traffic called a non-session route %s %s", r.Method, r.Path)
		}
		assertIdentity(t, r.Header)
		perRoute[sess+" "+r.Method+" "+sub]++
	}
	maxPerFamily := int(window/interval) + 2
	for _, s := range []string{"s1", "s2"} {
		for _, route := range []string{"POST /agui/run", "GET /agui/capabilities", "POST /agui/feedback", "GET /mcp/status"} {
			n := perRoute[s+" "+route]
			if n < 3 || n > maxPerFamily {
				t.Errorf("%s %s: %d calls in %s at interval %s, want 3..%d", s, route, n, window, interval, maxPerFamily)
			}
		}
		// Each interrupt takes 100 ms, so sequential calls fit at most window/100ms+1.
		if n := perRoute[s+" POST /agui/interrupt"]; n < 2 || n > int(window/(100*time.Millisecond))+1 {
			t.Errorf("%s interrupt: %d calls", s, n)
		}
		spec := perRoute[s+" POST /workflow"] + perRoute[s+" POST /repos"] + perRoute[s+" DELETE /repos/example-repo"]
		if spec < 1 || spec > int(window/(3*interval))+2 {
			t.Errorf("%s spec changes: %d", s, spec)
		}
		if perRoute[s+" POST /workflow"] < 1 {
			t.Errorf("%s: no workflow selection", s)
		}
		if n := perRoute[s+" GET /agui/events"]; n != 1 {
			t.Errorf("%s: %d event stream connects, want 1 held stream", s, n)
		}
	}
	fb.mu.Lock()
	for id, m := range fb.maxIn {
		if m > 1 {
			t.Errorf("%s had %d calls in flight at once", id, m)
		}
	}
	fb.mu.Unlock()
	if got := tr.Calls()[FamilyRun]; got < 6 {
		t.Errorf("Calls()[run] = %d", got)
	}
	// API answers went to the traffic ledger even though the client has none.
	if n := len(l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalAPI && o.Path == "POST agui/run" })); n < 6 {
		t.Errorf("ledger has %d run observations", n)
	}
}

func TestTrafficSelectedFamiliesOnly(t *testing.T) {
	fb := newFakeBackend(t)
	tr, err := NewTraffic(TrafficInput{Client: fb.client(t), Sessions: []SessionRef{testRef}, Interval: 20 * time.Millisecond, Families: []Family{FamilyCapabilities}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = tr.Start(ctx)
	<-ctx.Done()
	tr.Stop() // ctx end already stopped it; Stop must still return
	for _, r := range fb.reqs() {
		if !strings.HasSuffix(r.Path, "/agui/capabilities") {
			t.Errorf("unexpected call %s %s", r.Method, r.Path)
		}
	}
	if len(fb.reqs()) == 0 {
		t.Error("no calls")
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

func TestTrafficReconnectsEventsAndRecordsGap(t *testing.T) {
	fb := newFakeBackend(t)
	// Connection 1 delivers events and ends (backend pod deleted); the next
	// connects fail for a while (Recreate outage), then it comes back.
	var outageUntil time.Time
	var once sync.Once
	fb.eventsHold = 50 * time.Millisecond
	fb.eventsFail = func(n int) bool {
		if n == 1 {
			return false
		}
		once.Do(func() { outageUntil = time.Now().Add(300 * time.Millisecond) })
		return time.Now().Before(outageUntil)
	}
	l := ledger.New()
	c := fb.client(t, WithLedger(l))
	var (
		mu      sync.Mutex
		streams []string
	)
	observer := func(_ context.Context, r io.Reader, ns, s string) {
		b, _ := io.ReadAll(r)
		mu.Lock()
		streams = append(streams, ns+"/"+s+":"+string(b))
		mu.Unlock()
	}
	tr, err := NewTraffic(TrafficInput{Client: c, Sessions: []SessionRef{testRef}, Families: []Family{FamilyEvents},
		Interval: 60 * time.Millisecond, GapThreshold: 150 * time.Millisecond, Observer: observer})
	if err != nil {
		t.Fatal(err)
	}
	_ = tr.Start(context.Background())
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		n := len(streams)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tr.Stop()

	mu.Lock()
	defer mu.Unlock()
	if len(streams) < 2 {
		t.Fatalf("observer saw %d streams, want a reconnect", len(streams))
	}
	if !strings.HasPrefix(streams[0], "proj-a/session-1:") || !strings.Contains(streams[0], "Runner error: HTTP 401") {
		t.Errorf("first stream = %q", streams[0])
	}
	gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap })
	if len(gaps) != 1 {
		t.Fatalf("want one gap, got %+v", gaps)
	}
	g := gaps[0]
	if g.Session != "session-1" || g.Namespace != "proj-a" || !strings.Contains(g.Detail, "503") {
		t.Errorf("gap = %+v", g)
	}
	failed := l.Filter(func(o ledger.Observation) bool {
		return o.Signal == ledger.SignalAPI && o.Path == "GET agui/events" && o.Status == 503
	})
	if len(failed) == 0 || len(failed) > 10 {
		t.Errorf("failed reconnects recorded: %d (want some, with backoff)", len(failed))
	}
}

func TestTrafficShortDisconnectIsNoGap(t *testing.T) {
	fb := newFakeBackend(t)
	fb.eventsHold = 30 * time.Millisecond
	l := ledger.New()
	tr, _ := NewTraffic(TrafficInput{Client: fb.client(t), Ledger: l, Sessions: []SessionRef{testRef}, Families: []Family{FamilyEvents},
		Interval: 50 * time.Millisecond, GapThreshold: time.Second})
	_ = tr.Start(context.Background())
	time.Sleep(300 * time.Millisecond)
	tr.Stop()
	if n := tr.Calls()[FamilyEvents]; n < 2 || n > 3 {
		t.Errorf("reconnects = %d; a stream that ends is reopened without a storm", n)
	}
	if gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap }); len(gaps) != 0 {
		t.Errorf("unexpected gaps %+v", gaps)
	}
}

func TestFewestCallsSinceCountsEverySessionAndFamily(t *testing.T) {
	fb := newFakeBackend(t)
	// interrupt is slow: it is the family that lags and must be named.
	fb.delay["POST /agui/interrupt"] = 150 * time.Millisecond
	fb.eventsHold = 10 * time.Second
	sessions := []SessionRef{{Project: "proj-a", Name: "s1"}, {Project: "proj-a", Name: "s2"}}
	tr, err := NewTraffic(TrafficInput{Client: fb.client(t), Sessions: sessions, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := tr.FewestCallsSince(time.Time{}); n != 0 {
		t.Fatalf("before Start: fewest = %d, want 0", n)
	}
	start := time.Now()
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	time.Sleep(400 * time.Millisecond)
	n, which := tr.FewestCallsSince(start)
	if n < 1 || n > 3 {
		t.Errorf("fewest = %d (%s), want 1..3: the slow interrupt family bounds it", n, which)
	}
	if !strings.HasSuffix(which, " interrupt") {
		t.Errorf("lagging pair = %q, want an interrupt family", which)
	}
	if later, _ := tr.FewestCallsSince(time.Now().Add(time.Hour)); later != 0 {
		t.Errorf("calls counted before since: %d", later)
	}
}
