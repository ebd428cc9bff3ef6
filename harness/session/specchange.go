package session

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// SpecChangeRetry bounds how often a refused spec change is tried again, the
// way a user's client does after "the object has been modified": re-read the
// session, apply the change again, a few times with a short pause.
type SpecChangeRetry struct {
	// Tries is how many times the change is applied in all (at least 1).
	Tries int
	// Backoff is the pause before the second try; it doubles after each.
	Backoff time.Duration
}

// DefaultSpecChangeRetry: three tries, 0.5 s and 1 s apart. The backend's
// conflicts come from the operator's status updates on the same object,
// which are over within a reconcile.
func DefaultSpecChangeRetry() SpecChangeRetry {
	return SpecChangeRetry{Tries: 3, Backoff: 500 * time.Millisecond}
}

// ChangeSpecInput is one spec change (select a workflow, add or remove a
// repo) of one session.
type ChangeSpecInput struct {
	Session SessionRef
	// Apply makes the change once (e.g. a call of Client.AddRepo).
	Apply func(ctx context.Context) APIResult
	// Retry bounds the tries (zero value: DefaultSpecChangeRetry).
	Retry SpecChangeRetry
}

// SpecChangeResult is how a spec change ended.
type SpecChangeResult struct {
	// Last is the answer to the last try.
	Last APIResult
	// Tries is how many times the change was applied.
	Tries int
	// Refused is true when every try was answered with a conflict: the spec
	// did not change, and the ledger holds a SignalSpecChangeRefused entry.
	Refused bool
}

// Accepted reports whether the backend took the change (a 2xx answer).
func (r SpecChangeResult) Accepted() bool { return r.Last.Err == nil && r.Last.Status/100 == 2 }

// IsConflict reports whether the backend refused a change because the
// session object changed under it: 409, or the 500 the real backend answers
// with Kubernetes' "Operation cannot be fulfilled on agenticsessions…: the
// object has been modified".
func IsConflict(res APIResult) bool {
	if res.Err != nil {
		return false
	}
	return res.Status == http.StatusConflict ||
		res.Status == http.StatusInternalServerError && strings.Contains(res.Body, "the object has been modified")
}

// ChangeSpec applies a spec change and retries it while the backend answers
// with a conflict, re-reading the session before each new try. Any other
// answer ends it at once (a runner's refusal is evidence, not contention).
// A change still refused after the last try is recorded in the ledger as
// SignalSpecChangeRefused.
func (c *Client) ChangeSpec(ctx context.Context, in ChangeSpecInput) SpecChangeResult {
	retry := in.Retry
	if retry.Tries < 1 {
		retry = DefaultSpecChangeRetry()
	}
	var out SpecChangeResult
	pause := retry.Backoff
	for out.Tries < retry.Tries {
		if out.Tries > 0 {
			select {
			case <-ctx.Done():
				return out
			case <-c.clock.After(pause):
			}
			pause *= 2
			// As a client would: load the session again before re-applying.
			c.GetSession(ctx, in.Session)
		}
		out.Last = in.Apply(ctx)
		out.Tries++
		if !IsConflict(out.Last) {
			return out
		}
	}
	out.Refused = true
	c.recordRefused(in.Session, out)
	return out
}

func (c *Client) recordRefused(ref SessionRef, res SpecChangeResult) {
	if c.ledger == nil {
		return
	}
	method, _, _ := strings.Cut(res.Last.Route, " ")
	c.ledger.Add(ledger.Observation{
		Time:      c.now(),
		Signal:    ledger.SignalSpecChangeRefused,
		Source:    "backend-api:" + ref.Project,
		Caller:    ledger.CallerHarness,
		Method:    method,
		Path:      res.Last.Route,
		Status:    res.Last.Status,
		Namespace: ref.Project,
		Session:   ref.Name,
		Detail:    fmt.Sprintf("refused %d times: %s", res.Tries, truncate(strings.TrimSpace(res.Last.Body), 200)),
	})
}
