package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ambient-e2e/upgrade-harness/harness/poll"
)

const defaultPollInterval = time.Second

// WaitForProjectReadyInput is the input for WaitForProjectReady.
type WaitForProjectReadyInput struct {
	Project      string
	Timeout      time.Duration // default 2 min
	PollInterval time.Duration // default 1 s
}

// WaitForProjectReady polls GET /api/projects/{p} until it answers 200.
func (c *Client) WaitForProjectReady(ctx context.Context, in WaitForProjectReadyInput) error {
	if in.Project == "" {
		return fmt.Errorf("WaitForProjectReadyInput.Project is empty; give the project (namespace) name")
	}
	timeout := durationOr(in.Timeout, 2*time.Minute)
	var last APIResult
	err := wait.PollUntilContextTimeout(ctx, durationOr(in.PollInterval, defaultPollInterval), timeout, true, func(ctx context.Context) (bool, error) {
		res := c.GetProject(ctx, in.Project)
		// An answer cut by our own deadline says nothing; report the one before.
		if ctx.Err() == nil || last.Route == "" {
			last = res
		}
		return res.OK(), nil
	})
	if err != nil {
		return fmt.Errorf("project %q not ready after %s: last answer %s", in.Project, timeout, describe(last))
	}
	return nil
}

// WaitForSessionPhaseInput is the input for WaitForSessionPhase.
type WaitForSessionPhaseInput struct {
	Session SessionRef
	// Phases are the acceptable phases; the wait ends at the first one seen.
	Phases       []string
	Timeout      time.Duration // default 3 min
	PollInterval time.Duration // default 1 s
	// StartPhases are phases the session may still show when the wait starts
	// and is expected to leave (Stopped right after a start request); they do
	// not end the wait until another phase was seen.
	StartPhases []string
	// OperatorGrace is how long the wait gives the operator to report a runner
	// that exited or was killed (it always turns that into Completed or
	// Failed, which then ends the wait), and a container waiting in an error
	// state when the caller accepts Failed; default 10 s. A waiting container
	// otherwise, and a pod the scheduler cannot place, end the wait at once.
	OperatorGrace time.Duration
}

// DeadSessionError says that a session cannot reach the phase a wait wanted:
// it reached a terminal phase, or its runner pod cannot run (a container
// waiting in an error state, a killed runner, a pod the scheduler cannot
// place). Pod carries the pod's container states and events.
type DeadSessionError struct {
	Session SessionRef
	Want    []string
	// Phase and Ready are the session's last phase and Ready condition.
	Phase string
	Ready string
	Pod   PodDiagnosis
	// Since is how long the wait ran.
	Since time.Duration
}

func (e *DeadSessionError) Error() string {
	what := fmt.Sprintf("ended in phase %s", e.Phase)
	if !slices.Contains(TerminalPhases, e.Phase) {
		what = fmt.Sprintf("cannot run (phase %s)", e.Phase)
	}
	return fmt.Sprintf("session %s %s while waiting %s for %s: Ready %s; %s",
		e.Session, what, e.Since.Round(100*time.Millisecond), strings.Join(e.Want, " or "), e.Ready, e.Pod)
}

// WaitForSessionPhase polls the session until its phase is one of in.Phases and
// returns the session as last seen. It never waits on a dead session: a
// terminal phase that is not wanted ends the wait at once, and with a
// Kubernetes client (WithKubernetes) so does a runner pod that cannot run
// (after OperatorGrace when the caller accepts Failed or Completed), with a
// *DeadSessionError naming the pod's container states and events. On timeout
// the error names the phase, the Ready condition and the pod's state.
func (c *Client) WaitForSessionPhase(ctx context.Context, in WaitForSessionPhaseInput) (Session, error) {
	if in.Session.Project == "" || in.Session.Name == "" {
		return Session{}, fmt.Errorf("WaitForSessionPhaseInput.Session %q is incomplete; give both Project and Name", in.Session.String())
	}
	if len(in.Phases) == 0 {
		return Session{}, fmt.Errorf("WaitForSessionPhaseInput.Phases is empty; give at least one of %s, %s, %s, %s, %s, %s, %s",
			PhasePending, PhaseCreating, PhaseRunning, PhaseStopping, PhaseStopped, PhaseCompleted, PhaseFailed)
	}
	timeout := durationOr(in.Timeout, 3*time.Minute)
	grace := durationOr(in.OperatorGrace, 10*time.Second)
	acceptsEnd := slices.Contains(in.Phases, PhaseFailed) || slices.Contains(in.Phases, PhaseCompleted)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := c.clock.Now()
	var (
		last      Session
		lastRes   APIResult
		deadSince time.Time // when the pod was first seen unable to run
		left      bool      // the session showed a phase other than StartPhases
	)
	dead := func(d PodDiagnosis) error {
		return &DeadSessionError{Session: in.Session, Want: in.Phases, Phase: last.Phase, Ready: readyString(last), Pod: d, Since: c.clock.Since(start)}
	}
	for {
		s, res := c.GetSession(ctx, in.Session)
		if ctx.Err() == nil || lastRes.Route == "" {
			lastRes = res
		}
		if res.OK() {
			last = s
			if slices.Contains(in.Phases, s.Phase) {
				return s, nil
			}
			if !slices.Contains(in.StartPhases, s.Phase) {
				left = true
			}
			if slices.Contains(TerminalPhases, s.Phase) && left {
				return last, dead(c.diagnose(ctx, in.Session))
			}
		}
		if c.kube != nil && ctx.Err() == nil {
			// A pod that is gone or being deleted (a stop) says nothing about
			// this session's future.
			if d := c.diagnose(ctx, in.Session); d.Dead != "" && !d.Gone && !d.Terminating {
				// A pod the scheduler cannot place may still start once a
				// terminating pod frees its share of the node.
				waitForCapacity := d.Unschedulable != "" && capacityMayFree(ctx, c.kube)
				switch {
				case waitForCapacity:
					deadSince = time.Time{}
				case d.Unschedulable != "":
					// No operator turns an unschedulable pod into a phase (the
					// session stays Creating, docs/platform.md §10 item 3).
					return last, dead(d)
				case !acceptsEnd && !d.Exited:
					// A container waiting in an error state.
					return last, dead(d)
				case deadSince.IsZero():
					deadSince = c.clock.Now()
				case c.clock.Since(deadSince) >= grace:
					return last, dead(d)
				}
			} else {
				deadSince = time.Time{}
			}
		}
		if c.clock.Since(start) >= timeout {
			return last, c.timeoutError(ctx, in, timeout, last, lastRes)
		}
		if err := poll.Sleep(ctx, c.clock, durationOr(in.PollInterval, defaultPollInterval)); err != nil {
			return last, c.timeoutError(ctx, in, timeout, last, lastRes)
		}
	}
}

// diagnose inspects the runner pod when the client has a Kubernetes client.
func (c *Client) diagnose(ctx context.Context, ref SessionRef) PodDiagnosis {
	if c.kube == nil {
		return PodDiagnosis{}
	}
	// A fresh context: the wait's own may be at its deadline.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	d, err := DiagnoseRunnerPod(dctx, c.kube, ref)
	if err != nil {
		d.Events = append(d.Events, "(could not read the pod: "+err.Error()+")")
	}
	return d
}

func (c *Client) timeoutError(ctx context.Context, in WaitForSessionPhaseInput, timeout time.Duration, last Session, lastRes APIResult) error {
	msg := fmt.Sprintf("session %s did not reach phase %s within %s: last phase %q, Ready condition %s, last answer %s",
		in.Session, strings.Join(in.Phases, " or "), timeout, last.Phase, readyString(last), describe(lastRes))
	if c.kube != nil {
		msg += "; " + c.diagnose(ctx, in.Session).String()
	}
	return errors.New(msg)
}

func readyString(s Session) string {
	if c, ok := s.Condition("Ready"); ok {
		return fmt.Sprintf("%s %s %q", c.Status, c.Reason, c.Message)
	}
	return "none"
}

func describe(r APIResult) string {
	if r.Route == "" {
		return "none"
	}
	if r.Err != nil {
		return fmt.Sprintf("%s error: %v", r.Route, r.Err)
	}
	return fmt.Sprintf("%s HTTP %d (%s) %s", r.Route, r.Status, r.Class, r.Body)
}

func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
