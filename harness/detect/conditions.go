package detect

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// SessionConditions records every change of a session's phase or of one of its
// status conditions (docs/platform.md §4, §8.5, §8.8).
type SessionConditions struct {
	watches *Watches
	ledger  *ledger.Ledger
	opts    options

	mu    sync.Mutex
	known map[string]sessionStatus // namespace/name -> last recorded status

	sub *subscription
}

// sessionStatus is the part of a session status whose changes are recorded.
type sessionStatus struct {
	phase      string
	conditions map[string]platform.Condition // LastTransitionTime left empty: a relist that only re-delivers it is not a change
}

// NewSessionConditions returns the detector fed by w, whose dynamic client
// must serve platform.AgenticSessionGVR.
func NewSessionConditions(w *Watches, l *ledger.Ledger, opts ...Option) *SessionConditions {
	return &SessionConditions{watches: w, ledger: l, opts: buildOptions(opts), known: map[string]sessionStatus{}}
}

// Name implements Detector.
func (d *SessionConditions) Name() string { return "session-conditions" }

// Start lists and watches sessions in all namespaces. The informer re-lists on
// watch expiry; unchanged conditions are not recorded again.
func (d *SessionConditions) Start(ctx context.Context) error {
	if d.watches == nil || d.ledger == nil {
		return fmt.Errorf("session conditions: need watches and a ledger")
	}
	sub, err := d.watches.subscribe(ctx, "session conditions",
		handlerOn{platform.AgenticSessionGVR.String(), d.watches.agenticSessions, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { d.Observe(obj) },
			UpdateFunc: func(_, obj any) { d.Observe(obj) },
			DeleteFunc: func(obj any) { d.forget(obj) },
		}})
	d.sub = sub
	return err
}

// Stop ends its handlers.
func (d *SessionConditions) Stop() { d.sub.cancel() }

func unstructuredFrom(obj any) *unstructured.Unstructured {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	u, _ := obj.(*unstructured.Unstructured)
	return u
}

func (d *SessionConditions) forget(obj any) {
	if u := unstructuredFrom(obj); u != nil {
		d.mu.Lock()
		delete(d.known, u.GetNamespace()+"/"+u.GetName())
		d.mu.Unlock()
	}
}

// ReadSessionStatus extracts phase and conditions from a session object.
func ReadSessionStatus(u *unstructured.Unstructured) (phase string, conditions []platform.Condition) {
	phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		if str("type") == "" {
			continue
		}
		conditions = append(conditions, platform.Condition{Type: str("type"), Status: str("status"), Reason: str("reason"), Message: str("message")})
	}
	return phase, conditions
}

// Observe records what changed in obj since the last time this session was
// seen. Exported so a one-shot GET can feed the same change detection.
func (d *SessionConditions) Observe(obj any) {
	u := unstructuredFrom(obj)
	if u == nil {
		return
	}
	phase, conds := ReadSessionStatus(u)
	key := u.GetNamespace() + "/" + u.GetName()
	now := d.opts.clock.Now()

	d.mu.Lock()
	prev, seen := d.known[key]
	next := sessionStatus{phase: phase, conditions: map[string]platform.Condition{}}
	for _, c := range conds {
		next.conditions[c.Type] = c
	}
	d.known[key] = next
	d.mu.Unlock()

	var details []string
	if phase != "" && (!seen || prev.phase != phase) {
		details = append(details, "phase="+phase)
	}
	types := make([]string, 0, len(next.conditions))
	for t := range next.conditions {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		if old, ok := prev.conditions[t]; !ok || old != next.conditions[t] {
			details = append(details, next.conditions[t].Detail())
		}
	}
	for _, detail := range details {
		d.ledger.Add(ledger.Observation{
			Time:      now,
			Signal:    ledger.SignalCondition,
			Source:    "session-status:" + key,
			Namespace: u.GetNamespace(),
			Session:   u.GetName(),
			Detail:    Redact(strings.TrimSpace(detail)),
		})
	}
}
