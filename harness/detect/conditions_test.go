package detect

import (
	"context"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/tests/support/testsupport"
)

func session(ns, name, phase string, conds ...map[string]any) *unstructured.Unstructured {
	list := make([]any, len(conds))
	for i, c := range conds {
		list[i] = c
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "vteam.ambient-code/v1alpha1",
		"kind":       "AgenticSession",
		"metadata":   map[string]any{"namespace": ns, "name": name},
		"status":     map[string]any{"phase": phase, "conditions": list},
	}}
}

func cond(typ, status, reason, msg, ltt string) map[string]any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg, "lastTransitionTime": ltt}
}

func details(l *ledger.Ledger) []string {
	var out []string
	for _, o := range l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalCondition }) {
		out = append(out, o.Detail)
	}
	return out
}

func TestSessionConditionsChangeDetection(t *testing.T) {
	l := ledger.New()
	d := NewSessionConditions(nil, l)
	steps := []struct {
		name string
		obj  *unstructured.Unstructured
		want []string
	}{
		{"first sight", session("proj-a", "session-b", "Running",
			cond("Ready", "True", "Running", "Session is running", "2026-11-28T21:00:00Z"),
			cond("WorkflowReconciled", "False", "UpdateFailed", `Failed to notify runner: Post "http://session-b:8001/workflow": dial tcp: lookup session-b: no such host`, "2026-11-28T21:00:00Z")),
			[]string{"phase=Running", "Ready=True Running: Session is running", `WorkflowReconciled=False UpdateFailed: Failed to notify runner: Post "http://session-b:8001/workflow": dial tcp: lookup session-b: no such host`}},
		{"relist, nothing changed", session("proj-a", "session-b", "Running",
			cond("Ready", "True", "Running", "Session is running", "2026-11-28T21:00:00Z"),
			cond("WorkflowReconciled", "False", "UpdateFailed", `Failed to notify runner: Post "http://session-b:8001/workflow": dial tcp: lookup session-b: no such host`, "2026-11-28T21:00:00Z")),
			nil},
		{"message changes without transition", session("proj-a", "session-b", "Running",
			cond("Ready", "True", "Running", "Session is running", "2026-11-28T21:00:00Z"),
			cond("WorkflowReconciled", "False", "UpdateFailed", "Runner returned 401", "2026-11-28T21:00:00Z"),
			cond("Reconciled", "False", "WorkflowReconciliationFailed", "Failed to reconcile workflow: runner workflow update failed: 401", "2026-11-28T21:05:00Z")),
			[]string{"Reconciled=False WorkflowReconciliationFailed: Failed to reconcile workflow: runner workflow update failed: 401", "WorkflowReconciled=False UpdateFailed: Runner returned 401"}},
		{"restart fails", session("proj-a", "session-b", "Failed",
			cond("Ready", "False", "CreateContainerConfigError", "Runner waiting: CreateContainerConfigError - couldn't find key agui-token in Secret proj-a/ambient-runner-token-session-b", "2026-11-28T21:10:00Z"),
			cond("WorkflowReconciled", "False", "UpdateFailed", "Runner returned 401", "2026-11-28T21:00:00Z"),
			cond("Reconciled", "False", "WorkflowReconciliationFailed", "Failed to reconcile workflow: runner workflow update failed: 401", "2026-11-28T21:05:00Z")),
			[]string{"phase=Failed", "Ready=False CreateContainerConfigError: Runner waiting: CreateContainerConfigError - couldn't find key agui-token in Secret proj-a/ambient-runner-token-session-b"}},
		{"other session is independent", session("proj-a", "session-c", "Pending"), []string{"phase=Pending"}},
	}
	before := 0
	for _, st := range steps {
		d.Observe(st.obj)
		all := details(l)
		got := all[before:]
		before = len(all)
		if strings.Join(got, "|") != strings.Join(st.want, "|") {
			t.Errorf("%s:\n got  %q\n want %q", st.name, got, st.want)
		}
	}
	for _, o := range l.All() {
		if o.Namespace != "proj-a" || !strings.HasPrefix(o.Source, "session-status:proj-a/") || o.Session == "" {
			t.Errorf("observation fields: %+v", o)
		}
	}
}

func TestSessionConditionsWatch(t *testing.T) {
	scheme := runtime.NewScheme()
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme,
		map[schema.GroupVersionResource]string{platform.AgenticSessionGVR: "AgenticSessionList"},
		session("proj-a", "session-a", "Running", cond("Ready", "True", "Running", "Session is running", "2026-11-28T21:00:00Z")))
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := NewSessionConditions(newWatches(t, nil, client), l)
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	testsupport.Eventually(t, "listed session", func() bool { return len(details(l)) == 2 })
	stopped := session("proj-a", "session-a", "Stopped", cond("Ready", "False", "UserStopped", "", "2026-11-28T21:20:00Z"))
	if _, err := client.Resource(platform.AgenticSessionGVR).Namespace("proj-a").Update(ctx, stopped, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "stop recorded", func() bool { return len(details(l)) == 4 })
	got := details(l)
	if got[2] != "phase=Stopped" || got[3] != "Ready=False UserStopped" {
		t.Errorf("details = %q", got)
	}
	// Redelivered without a status change (a label), then a second session:
	// once its two observations are in, a duplicate would have been recorded.
	relabelled := stopped.DeepCopy()
	relabelled.SetLabels(map[string]string{"touched": "yes"})
	if _, err := client.Resource(platform.AgenticSessionGVR).Namespace("proj-a").Update(ctx, relabelled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := session("proj-a", "session-z", "Running", cond("Ready", "True", "Running", "Session is running", "2026-11-28T21:30:00Z"))
	if _, err := client.Resource(platform.AgenticSessionGVR).Namespace("proj-a").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "second session recorded", func() bool { return len(details(l)) >= 6 })
	if n := len(details(l)); n != 6 {
		t.Errorf("duplicate condition observations: %q", details(l))
	}
}
