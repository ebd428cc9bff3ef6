package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
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
	if ts := p.Timings(); len(ts) != 2 || ts[0].Step != "deploy v0.2.0" || ts[0].Took != 1500*time.Millisecond || ts[1].Error != "rollout stuck" {
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
