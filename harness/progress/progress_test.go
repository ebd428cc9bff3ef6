package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

func TestPhasePrintsStartAndEndWithDuration(t *testing.T) {
	var buf bytes.Buffer
	p := New(&buf)
	clock := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	p.now = func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }
	if err := p.Phase("deploy v0.2.0", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	stuck := errors.New("rollout stuck")
	err := p.Phase("upgrade", func() error { return stuck })
	if err == nil || err.Error() != "upgrade: rollout stuck" || !errors.Is(err, stuck) {
		t.Fatalf("error %v, want the phase's error wrapped with its name", err)
	}
	if ts := p.Phases(); len(ts) != 2 || ts[0].Step != "deploy v0.2.0" || ts[0].Took != 1500*time.Millisecond || ts[1].Error != "rollout stuck" {
		t.Errorf("timings = %+v, want deploy 1.5s and upgrade with its error", ts)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"▶ deploy v0.2.0", "✓ deploy v0.2.0 (1.5s)", "▶ upgrade", "✗ upgrade failed after 1.5s: rollout stuck"}
	if len(lines) != len(want) {
		t.Fatalf("got %q", lines)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d = %q, want suffix %q", i, lines[i], w)
		}
	}
}

func TestCurrentIsTheInnermostRunningPhase(t *testing.T) {
	p := New(&bytes.Buffer{})
	if got := p.Current(); got != "" {
		t.Fatalf("before any phase: %q", got)
	}
	var inner, outer string
	_ = p.Phase("cell", func() error {
		outer = p.Current()
		return p.Phase("upgrade", func() error { inner = p.Current(); return nil })
	})
	if outer != "cell" || inner != "upgrade" || p.Current() != "" {
		t.Fatalf("current: outer %q inner %q after %q", outer, inner, p.Current())
	}
}

// A step's error says where it failed in its message and to errors.As, nested
// steps outermost first, and keeps the kind of the error inside.
func TestStepErrorCarriesItsStage(t *testing.T) {
	p := New(&bytes.Buffer{})
	cause := fault.InfraErr(errors.New("rollout stuck"))
	err := p.Phase("cell v0.2.0 → v0.2.2", func() error {
		return p.Step("upgrade", "upgrade backend", func() error { return cause })
	})
	if err == nil || err.Error() != "cell v0.2.0 → v0.2.2: upgrade backend: rollout stuck" {
		t.Fatalf("error %v, want both stages in the message", err)
	}
	var se *fault.StageError
	if !errors.As(err, &se) || se.Stage != "cell v0.2.0 → v0.2.2" {
		t.Fatalf("errors.As(*fault.StageError) = %v, want the outer stage", se)
	}
	if got := fault.Stages(err); len(got) != 2 || got[0] != "cell v0.2.0 → v0.2.2" || got[1] != "upgrade backend" {
		t.Errorf("Stages = %q, want the cell then the upgrade", got)
	}
	if fault.KindOf(err) != fault.KindInfrastructure || !errors.Is(err, cause) {
		t.Errorf("kind %v, want the infrastructure error inside", fault.KindOf(err))
	}
	if fault.KindOf(p.Phase("plain", func() error { return errors.New("x") })) != fault.KindUnknown {
		t.Error("a stage gave a kind to an error that had none")
	}
}
