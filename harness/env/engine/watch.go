package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/poll"
)

// WatchInput configures Watch.
type WatchInput struct {
	// Docker pings the engine; default: the docker CLI on $PATH.
	Docker *docker.Client
	// Runner, when Docker is nil, runs the pings (tests).
	Runner Runner
	Clock  clock.Clock
	// Interval between pings (default 5 s).
	Interval time.Duration
	// Timeout bounds one ping (default 10 s): a daemon that accepts the
	// connection and never answers is as dead as one that refuses it.
	Timeout time.Duration
	// Failures is how many pings in a row must fail (default 3: one slow answer on a loaded machine is no dead engine).
	Failures int
	// Logf reports the engine going away.
	Logf func(format string, a ...any)
}

// UnreachableError is the cause of a watched context when the engine stopped answering.
type UnreachableError struct {
	// Engine names the daemon: $DOCKER_HOST, or the default socket.
	Engine string
	Since  time.Time
	Last   string
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("the container engine (docker at %s) stopped answering at %s: %s", e.Engine, e.Since.UTC().Format(time.RFC3339), e.Last)
}

// StoppedAt is when the engine was first found not answering.
func (e *UnreachableError) StoppedAt() time.Time { return e.Since }

// EngineName is what messages call the engine the docker CLI talks to.
func EngineName() string { return docker.Host() }

// Watch pings the engine (`docker version`) while ctx lives and cancels the
// returned context with a *fault.Infrastructure (wrapping an
// *UnreachableError) once Failures pings in a row failed, so a run whose
// engine died ends with exit 3 naming it instead of hanging in a kind or
// docker call. stop ends the watch.
func Watch(ctx context.Context, in WatchInput) (context.Context, func()) {
	if in.Docker == nil && in.Runner != nil {
		in.Docker = docker.New(docker.WithExec(runnerExec(in.Runner)))
	}
	if in.Docker == nil {
		in.Docker = docker.Default
	}
	if in.Clock == nil {
		in.Clock = clock.RealClock{}
	}
	if in.Interval <= 0 {
		in.Interval = 5 * time.Second
	}
	if in.Timeout <= 0 {
		in.Timeout = 10 * time.Second
	}
	if in.Failures <= 0 {
		in.Failures = 3
	}
	if in.Logf == nil {
		in.Logf = func(string, ...any) {}
	}
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		failed, since := 0, time.Time{}
		_ = poll.Until(wctx, in.Clock, in.Interval, func(ctx context.Context) (bool, error) {
			pctx, pcancel := context.WithTimeout(ctx, in.Timeout)
			out, serr, err := split(in.Docker.Run(pctx, "version", "--format", "{{.Server.Version}}"))
			timedOut := pctx.Err() != nil
			pcancel()
			if ctx.Err() != nil {
				return true, nil
			}
			if err == nil && strings.TrimSpace(out) != "" {
				failed = 0
				return false, nil
			}
			if failed == 0 {
				since = in.Clock.Now()
			}
			failed++
			last := firstLine(serr, err)
			if timedOut {
				last = fmt.Sprintf("no answer within %s", in.Timeout)
			}
			if failed < in.Failures {
				return false, nil
			}
			ue := &UnreachableError{Engine: EngineName(), Since: since, Last: last}
			in.Logf("engine: %v", ue)
			cancel(fault.InfraErr(ue))
			return true, nil
		})
	}()
	return wctx, func() {
		cancel(context.Canceled)
		<-done
	}
}
