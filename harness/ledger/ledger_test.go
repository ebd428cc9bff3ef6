package ledger

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)

// newTestLedger is a ledger whose Recorded times come from a counter, one
// second apart, so every test knows them exactly.
func newTestLedger() *Ledger {
	l := New()
	n := 0
	l.now = func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
	return l
}

func TestAddFillsRecordedTimePhaseAndRole(t *testing.T) {
	l := newTestLedger()
	l.SetSessionRole("proj-a", "s1", RolePreUpgrade)
	l.Add(Observation{Signal: SignalAPI, Namespace: "proj-a", Session: "s1"})
	l.SetPhase(PhaseDuring)
	at := t0.Add(-time.Minute)
	l.Add(Observation{Time: at, Phase: PhaseBefore, Signal: SignalRunner401, Namespace: "proj-a", Session: "s1", Role: RoleRestarted})
	l.Add(Observation{Signal: SignalGap, Namespace: "proj-b", Session: "s2"})

	got := l.All()
	if len(got) != 3 {
		t.Fatalf("%d observations, want 3", len(got))
	}
	// Sorted by Time: the one dated a minute back comes first.
	early, first, last := got[0], got[1], got[2]
	// SetSessionRole and SetPhase read the clock once each (the role's and the
	// phase's start), so the first Add read it second and this one fourth.
	if !early.Time.Equal(at) || early.Phase != PhaseBefore || early.Role != RoleRestarted || !early.Recorded.Equal(t0.Add(4*time.Second)) {
		t.Errorf("given Time, Phase and Role must be kept, Recorded filled: %+v", early)
	}
	if !first.Recorded.Equal(t0.Add(2*time.Second)) || !first.Time.Equal(first.Recorded) || first.Phase != PhaseBefore || first.Role != RolePreUpgrade {
		t.Errorf("empty Time, Phase and Role must come from the clock, the phase then and the session's role: %+v", first)
	}
	if last.Phase != PhaseDuring || last.Role != "" {
		t.Errorf("an observation after SetPhase(during) of a session without a role: %+v", last)
	}
	if l.Phase() != PhaseDuring {
		t.Errorf("Phase() = %s, want during", l.Phase())
	}
	if r := l.SessionRole("proj-a", "s1"); r != RolePreUpgrade {
		t.Errorf("SessionRole = %q", r)
	}
	if r := l.SessionRole("proj-a", "unknown"); r != "" {
		t.Errorf("SessionRole of an untagged session = %q, want empty", r)
	}
}

func TestAllIsSortedByTimeAndStableForEqualTimes(t *testing.T) {
	l := newTestLedger()
	for i, offset := range []int{3, 1, 2, 1} {
		l.Add(Observation{Time: t0.Add(time.Duration(offset) * time.Second), Signal: SignalRunEvent, Detail: fmt.Sprint(i)})
	}
	var order string
	for _, o := range l.All() {
		order += o.Detail
	}
	if order != "1320" {
		t.Errorf("order = %s, want 1320 (by Time; equal times in the order added)", order)
	}
	// All returns a copy: changing it leaves the ledger alone.
	all := l.All()
	all[0].Detail = "changed"
	if l.All()[0].Detail != "1" {
		t.Error("All exposed the ledger's own slice")
	}
}

func TestFilterKeepsWhatMatches(t *testing.T) {
	l := newTestLedger()
	l.Add(Observation{Time: t0.Add(2 * time.Second), Signal: SignalRunner401, Caller: CallerBackend})
	l.Add(Observation{Time: t0.Add(time.Second), Signal: SignalRunner401, Caller: CallerOperator})
	l.Add(Observation{Time: t0, Signal: SignalRunnerAccess, Caller: CallerBackend})
	got := l.Filter(func(o Observation) bool { return o.Signal == SignalRunner401 })
	if len(got) != 2 || got[0].Caller != CallerOperator || got[1].Caller != CallerBackend {
		t.Errorf("Filter = %+v, want the two 401s in time order", got)
	}
	if none := l.Filter(func(Observation) bool { return false }); len(none) != 0 {
		t.Errorf("Filter(false) = %+v", none)
	}
}

func TestSubscribeSeesLaterObservationsAndNeverBlocks(t *testing.T) {
	l := newTestLedger()
	l.Add(Observation{Signal: SignalAPI, Detail: "before"})
	fast := l.Subscribe(10)
	stuck := l.Subscribe(1) // never read
	l.Add(Observation{Signal: SignalAPI, Detail: "a"})
	l.Add(Observation{Signal: SignalAPI, Detail: "b"}) // stuck's buffer is full: dropped for it, not blocking
	if got := (<-fast).Detail + (<-fast).Detail; got != "ab" {
		t.Errorf("subscriber got %q, want ab (nothing from before it subscribed)", got)
	}
	if got := (<-stuck).Detail; got != "a" {
		t.Errorf("full subscriber got %q first, want a", got)
	}
	select {
	case o := <-stuck:
		t.Errorf("a full subscriber got %q; it must have been skipped", o.Detail)
	default:
	}
	if n := len(l.All()); n != 3 {
		t.Errorf("ledger has %d observations, want 3 whatever the subscribers did", n)
	}
}

func TestConcurrentAdds(t *testing.T) {
	l := New()
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				l.Add(Observation{Signal: SignalRunnerAccess, Source: fmt.Sprint(w)})
			}
		}(w)
		l.SetSessionRole("p", fmt.Sprint(w), RolePostUpgrade)
	}
	wg.Wait()
	perWriter := map[string]int{}
	for _, o := range l.All() {
		perWriter[o.Source]++
	}
	if len(perWriter) != writers {
		t.Fatalf("%d writers seen, want %d", len(perWriter), writers)
	}
	for w, n := range perWriter {
		if n != each {
			t.Errorf("writer %s: %d observations, want %d", w, n, each)
		}
	}
}

func TestPhaseMarksPlaceEntriesByTheirOwnTime(t *testing.T) {
	l := newTestLedger()
	l.MarkPhase(PhaseDuring, t0.Add(10*time.Second))
	l.MarkPhase(PhaseAfter, t0.Add(20*time.Second))
	for at, want := range map[time.Duration]Phase{5: PhaseBefore, 10: PhaseDuring, 19: PhaseDuring, 25: PhaseAfter} {
		if got := l.PhaseAt(t0.Add(at * time.Second)); got != want {
			t.Errorf("PhaseAt(+%ds) = %s, want %s", at, got, want)
		}
	}
	// A line read late keeps the phase it happened in.
	l.Add(Observation{Time: t0.Add(15 * time.Second), Signal: SignalRunner401})
	if got := l.All()[0].Phase; got != PhaseDuring {
		t.Errorf("late line tagged %s, want during", got)
	}
	if at, ok := l.PhaseStarted(PhaseAfter); !ok || !at.Equal(t0.Add(20*time.Second)) {
		t.Errorf("PhaseStarted(after) = %s %v", at, ok)
	}
	if _, ok := l.PhaseStarted(PhaseRolledBack); ok {
		t.Error("a phase never marked has no start")
	}
}

func TestReleaseOfAttributesCallerAndRunnerImages(t *testing.T) {
	l := newTestLedger()
	l.SetReleaseOf(func(img string) string {
		return map[string]string{"op:v0.2.2": "v0.2.2", "runner:v0.2.7": "v0.2.7"}[img]
	})
	l.Add(Observation{Signal: SignalRunner401, CallerImage: "op:v0.2.2", RunnerImage: "runner:v0.2.7"})
	l.Add(Observation{Signal: SignalRunner401, CallerImage: "op:v0.2.2", CallerRelease: "kept", RunnerImage: "runner:v0.2.7"})
	got := l.All()
	if got[0].CallerRelease != "v0.2.2" || got[0].RunnerRelease != "v0.2.7" {
		t.Errorf("attribution = %s → %s", got[0].CallerRelease, got[0].RunnerRelease)
	}
	if got[1].CallerRelease != "kept" {
		t.Errorf("a release the detector set is kept, got %s", got[1].CallerRelease)
	}
}

// A session's roles are a history: a line written while the session was
// pre-upgrade but read after it was marked restarted keeps pre-upgrade.
func TestRoleHistoryTagsByObservationTime(t *testing.T) {
	l := newTestLedger()
	l.MarkSessionRole("p", "a", RolePreUpgrade, t0.Add(10*time.Second))
	l.MarkSessionRole("p", "a", RoleRestarted, t0.Add(60*time.Second))
	l.Add(Observation{Time: t0.Add(5 * time.Second), Signal: SignalAPI, Namespace: "p", Session: "a"})
	l.Add(Observation{Time: t0.Add(59 * time.Second), Signal: SignalOperatorWorkflow401, Namespace: "p", Session: "a"})
	l.Add(Observation{Time: t0.Add(61 * time.Second), Signal: SignalCondition, Namespace: "p", Session: "a"})
	var got []string
	for _, o := range l.All() {
		got = append(got, o.Role)
	}
	want := []string{RolePreUpgrade, RolePreUpgrade, RoleRestarted}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("roles by time = %v, want %v (before any role: the first; a late line: the role at its Time)", got, want)
	}
	if r := l.SessionRole("p", "a"); r != RoleRestarted {
		t.Errorf("SessionRole = %q, want the latest, restarted", r)
	}
	spans := l.SessionRoles("p", "a")
	if len(spans) != 2 || spans[0].Role != RolePreUpgrade || !spans[1].Since.Equal(t0.Add(60*time.Second)) {
		t.Errorf("SessionRoles = %+v, want pre-upgrade then restarted from t0+60s", spans)
	}
}

// Issue 25 item 4: candidate f1 reuses v0.2.7's operator image. The
// pre-upgrade operator pod is v0.2.7's, the one created after the switch
// f1's; a runner created after the runner switch but still on the old pin
// (the operator had not re-read its registry) is attributed by its image; an
// override keeps its marker; a pod of unknown creation falls back to the image.
func TestReleaseOfAPodIsTheReleaseDeployedAtItsCreation(t *testing.T) {
	l := newTestLedger()
	deployAt, switchAt := t0, t0.Add(10*time.Minute)
	l.SetReleaseOf(func(img string) string {
		return map[string]string{
			"quay.io/ac/operator:v0.2.7": "f1", // both releases ship it: the image says the candidate
			"quay.io/ac/runner:v0.2.7":   "v0.2.7",
			"quay.io/ac/runner:f1":       "f1",
			"quay.io/ac/backend:f1-fix":  "f1+override",
		}[img]
	})
	l.ComponentReleasedAt(CallerOperator, "v0.2.7", deployAt, "quay.io/ac/operator:v0.2.7")
	l.ComponentReleasedAt(CallerRunner, "v0.2.7", deployAt, "quay.io/ac/runner:v0.2.7")
	l.ComponentReleasedAt(CallerBackend, "v0.2.7", deployAt, "quay.io/ac/backend:v0.2.7")
	l.ComponentReleasedAt(CallerOperator, "f1", switchAt, "quay.io/ac/operator:v0.2.7")
	l.ComponentReleasedAt(CallerRunner, "f1", switchAt, "quay.io/ac/runner:f1")
	l.ComponentReleasedAt(CallerBackend, "f1", switchAt, "localhost/quay.io/ac/backend:f1-fix")

	cases := []struct {
		name string
		o    Observation
		want string
	}{
		{"pre-upgrade operator pod", Observation{Caller: CallerOperator, CallerImage: "quay.io/ac/operator:v0.2.7", CallerCreated: deployAt.Add(time.Second)}, "v0.2.7"},
		{"operator pod older than every record", Observation{Caller: CallerOperator, CallerImage: "quay.io/ac/operator:v0.2.7", CallerCreated: deployAt.Add(-time.Hour)}, "v0.2.7"},
		{"operator pod of the rollout", Observation{Caller: CallerOperator, CallerImage: "quay.io/ac/operator:v0.2.7", CallerCreated: switchAt.Add(3 * time.Second)}, "f1"},
		{"operator pod of unknown creation", Observation{Caller: CallerOperator, CallerImage: "quay.io/ac/operator:v0.2.7"}, "f1"},
		{"runner on the old pin after the switch", Observation{RunnerImage: "quay.io/ac/runner:v0.2.7", RunnerCreated: switchAt.Add(time.Second)}, "v0.2.7"},
		{"runner on the new pin", Observation{RunnerImage: "quay.io/ac/runner:f1", RunnerCreated: switchAt.Add(time.Minute)}, "f1"},
		{"backend on an override", Observation{Caller: CallerBackend, CallerImage: "quay.io/ac/backend:f1-fix", CallerCreated: switchAt.Add(time.Second)}, "f1+override"},
	}
	for _, c := range cases {
		l.Add(c.o)
		all := l.All()
		got := all[len(all)-1]
		rel := got.CallerRelease
		if got.RunnerImage != "" {
			rel = got.RunnerRelease
		}
		if rel != c.want {
			t.Errorf("%s: release %q, want %q", c.name, rel, c.want)
		}
	}
}

func TestSameImageIgnoresImplicitRegistryAndTag(t *testing.T) {
	for _, p := range [][2]string{{"busybox", "docker.io/library/busybox:latest"}, {"localhost/ambient-sim/vteam_operator:v0.2.7", "ambient-sim/vteam_operator:v0.2.7"},
		{"quay.io/a/b@sha256:00", "quay.io/a/b@sha256:00"}} {
		if !sameImage(p[0], p[1]) {
			t.Errorf("%s and %s are the same image", p[0], p[1])
		}
	}
	if sameImage("quay.io/a/b:v1", "quay.io/a/b:v2") || sameImage("quay.io/a/b", "quay.io/a/c") {
		t.Error("different tags or names are different images")
	}
}
