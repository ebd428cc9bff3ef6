package engine

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// scriptedPings answers `docker version` from a script, then fails for ever.
type scriptedPings struct {
	mu     sync.Mutex
	script []bool // true: the daemon answered
	calls  int
}

func (s *scriptedPings) Run(_ context.Context, _ io.Reader, name string, args ...string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cmd := name + " " + strings.Join(args, " "); cmd != "docker version --format {{.Server.Version}}" {
		return "", "", errors.New("unexpected command " + cmd)
	}
	ok := s.calls < len(s.script) && s.script[s.calls]
	s.calls++
	if ok {
		return "20.10.24\n", "", nil
	}
	return "", "Cannot connect to the Docker daemon at unix:///tmp/x.sock. Is the docker daemon running?\n", errors.New("exit status 1")
}

func (s *scriptedPings) Start(string, []string, string) (int, error) {
	return 0, errors.New("not here")
}

func (s *scriptedPings) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Two failed pings between good ones are forgiven; three in a row cancel the
// context with an infrastructure error (exit 3) that names the engine.
func TestWatchCancelsAfterFailuresInARow(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///tmp/x.sock")
	clk := clocktesting.NewFakeClock(time.Now())
	pings := &scriptedPings{script: []bool{true, false, false, true}} // then every ping fails
	ctx, stop := Watch(context.Background(), WatchInput{Runner: pings, Clock: clk, Interval: 5 * time.Second})
	defer stop()
	for ctx.Err() == nil {
		if clk.HasWaiters() {
			clk.Step(5 * time.Second)
		}
		runtime.Gosched() // lets the watch goroutine run; the clock is fake
	}
	if got := pings.count(); got != 7 {
		t.Fatalf("cancelled after %d pings, want 7 (ok, fail, fail, ok, fail, fail, fail)", got)
	}
	cause := context.Cause(ctx)
	if exitcode.Of(cause) != exitcode.Infrastructure {
		t.Fatalf("cause %v has exit code %d, want %d", cause, exitcode.Of(cause), exitcode.Infrastructure)
	}
	var ue *UnreachableError
	if !errors.As(cause, &ue) || ue.Engine != "unix:///tmp/x.sock" {
		t.Fatalf("cause %v does not name the engine", cause)
	}
	if !strings.Contains(cause.Error(), "Cannot connect to the Docker daemon") {
		t.Fatalf("cause %q lacks the last error", cause)
	}
}

// Stopping the watch ends it without an engine error.
func TestWatchStopIsNoEngineError(t *testing.T) {
	pings := &scriptedPings{script: []bool{true, true, true}}
	ctx, stop := Watch(context.Background(), WatchInput{Runner: pings, Clock: clocktesting.NewFakeClock(time.Now())})
	stop()
	var ue *UnreachableError
	if errors.As(context.Cause(ctx), &ue) {
		t.Fatalf("stop gave an engine error: %v", context.Cause(ctx))
	}
}
