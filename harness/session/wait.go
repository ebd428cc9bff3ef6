package session

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last APIResult
	for {
		res := c.GetProject(ctx, in.Project)
		if res.OK() {
			return nil
		}
		// An answer cut by our own deadline says nothing; report the one before.
		if ctx.Err() == nil || last.Route == "" {
			last = res
		}
		if err := sleepCtx(ctx, durationOr(in.PollInterval, defaultPollInterval)); err != nil {
			return fmt.Errorf("project %q not ready after %s: last answer %s", in.Project, timeout, describe(last))
		}
	}
}

// WaitForSessionPhaseInput is the input for WaitForSessionPhase.
type WaitForSessionPhaseInput struct {
	Session SessionRef
	// Phases are the acceptable phases; the wait ends at the first one seen.
	Phases       []string
	Timeout      time.Duration // default 3 min
	PollInterval time.Duration // default 1 s
}

// WaitForSessionPhase polls the session until its phase is one of in.Phases and
// returns the session as last seen. On timeout the error names the phase and
// Ready condition last seen.
func (c *Client) WaitForSessionPhase(ctx context.Context, in WaitForSessionPhaseInput) (Session, error) {
	if in.Session.Project == "" || in.Session.Name == "" {
		return Session{}, fmt.Errorf("WaitForSessionPhaseInput.Session %q is incomplete; give both Project and Name", in.Session.String())
	}
	if len(in.Phases) == 0 {
		return Session{}, fmt.Errorf("WaitForSessionPhaseInput.Phases is empty; give at least one of %s, %s, %s, %s, %s, %s, %s",
			PhasePending, PhaseCreating, PhaseRunning, PhaseStopping, PhaseStopped, PhaseCompleted, PhaseFailed)
	}
	timeout := durationOr(in.Timeout, 3*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		last    Session
		lastRes APIResult
	)
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
		}
		if err := sleepCtx(ctx, durationOr(in.PollInterval, defaultPollInterval)); err != nil {
			ready := "none"
			if c, ok := last.Condition("Ready"); ok {
				ready = fmt.Sprintf("%s %s %q", c.Status, c.Reason, c.Message)
			}
			return last, fmt.Errorf("session %s did not reach phase %s within %s: last phase %q, Ready condition %s, last answer %s",
				in.Session, strings.Join(in.Phases, " or "), timeout, last.Phase, ready, describe(lastRes))
		}
	}
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
