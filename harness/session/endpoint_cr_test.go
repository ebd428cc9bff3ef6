package session

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

func backendPod(name string, created time.Time, phase corev1.PodPhase, ready bool, deleting bool) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ambient-code", CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{"app": "backend-api", "role": "backend"}},
		Status: corev1.PodStatus{Phase: phase},
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	if deleting {
		now := metav1.NewTime(created.Add(time.Minute))
		p.DeletionTimestamp = &now
	}
	return p
}

func TestSelectBackendPod(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		pods    []corev1.Pod
		want    string
		wantErr []string
	}{
		{"single ready", []corev1.Pod{backendPod("backend-old", t0, corev1.PodRunning, true, false)}, "backend-old", nil},
		{"old terminating, new not ready yet (Recreate outage)", []corev1.Pod{
			backendPod("backend-old", t0, corev1.PodRunning, true, true),
			backendPod("backend-new", t0.Add(time.Minute), corev1.PodRunning, false, false),
		}, "", []string{"backend-old: terminating", "backend-new: not Ready"}},
		{"old terminating, new ready", []corev1.Pod{
			backendPod("backend-old", t0, corev1.PodRunning, true, true),
			backendPod("backend-new", t0.Add(time.Minute), corev1.PodRunning, true, false),
		}, "backend-new", nil},
		{"two ready: newest wins", []corev1.Pod{
			backendPod("backend-new", t0.Add(time.Minute), corev1.PodRunning, true, false),
			backendPod("backend-old", t0, corev1.PodRunning, true, false),
		}, "backend-new", nil},
		{"pending pod", []corev1.Pod{backendPod("backend-p", t0, corev1.PodPending, false, false)}, "", []string{"backend-p: phase Pending"}},
		{"succeeded pod with stale ready", []corev1.Pod{backendPod("backend-done", t0, corev1.PodSucceeded, true, false)}, "", []string{"phase Succeeded"}},
		{"no pods", nil, "", []string{"no backend pod exists"}},
		{"same age: deterministic by name", []corev1.Pod{
			backendPod("backend-a", t0, corev1.PodRunning, true, false),
			backendPod("backend-b", t0, corev1.PodRunning, true, false),
		}, "backend-b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectBackendPod(tt.pods)
			if tt.want != "" {
				if err != nil || got.Name != tt.want {
					t.Fatalf("got %v, %v; want %s", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %s, want an error", got.Name)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCreateSessionCR(t *testing.T) {
	scheme := runtime.NewScheme()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{AgenticSessionGVR: "AgenticSessionList"})
	spec := SessionSpec{
		InitialPrompt:  "hello",
		Repos:          []Repo{{URL: ExampleRepoURL}},
		ActiveWorkflow: &Workflow{GitURL: ExampleWorkflowURL, Path: "workflows/a"},
		LLMSettings:    &LLMSettings{Model: "claude-opus"},
	}
	obj, err := CreateSessionCR(context.Background(), dyn, "proj-a", "kubectl-session", spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dyn.Resource(AgenticSessionGVR).Namespace("proj-a").Get(context.Background(), "kubectl-session", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetKind() != "AgenticSession" || got.GetAPIVersion() != "vteam.ambient-code/v1alpha1" || obj.GetName() != "kubectl-session" {
		t.Errorf("object = %s %s", got.GetAPIVersion(), got.GetKind())
	}
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"spec", "initialPrompt"}, "hello"},
		{[]string{"spec", "project"}, "proj-a"},
		{[]string{"spec", "displayName"}, "kubectl-session"},
		{[]string{"spec", "timeout"}, int64(300)},
		{[]string{"spec", "llmSettings", "model"}, "claude-opus"},
		{[]string{"spec", "llmSettings", "maxTokens"}, int64(4000)},
		{[]string{"spec", "llmSettings", "temperature"}, 0.7},
		{[]string{"spec", "activeWorkflow", "branch"}, "main"},
		{[]string{"spec", "activeWorkflow", "path"}, "workflows/a"},
		{[]string{"spec", "userContext", "userId"}, TestUserID},
		{[]string{"spec", "environmentVariables", "RUNNER_TYPE"}, "claude-agent-sdk"},
	}
	for _, c := range checks {
		v, found, err := unstructured.NestedFieldNoCopy(got.Object, c.path...)
		if !found || err != nil || v != c.want {
			t.Errorf("%s = %v (%T), want %v", strings.Join(c.path, "."), v, v, c.want)
		}
	}
	repos, _, _ := unstructured.NestedSlice(got.Object, "spec", "repos")
	if len(repos) != 1 || repos[0].(map[string]any)["branch"] != "main" {
		t.Errorf("repos = %v", repos)
	}
}

func TestNewSessionCRRejectsBadNames(t *testing.T) {
	long := strings.Repeat("a", 56)
	if _, err := NewSessionCR("proj-a", long, SessionSpec{}); err == nil || !strings.Contains(err.Error(), "55") {
		t.Errorf("56-char name: %v", err)
	}
	if _, err := NewSessionCR("proj-a", strings.Repeat("a", 55), SessionSpec{}); err != nil {
		t.Errorf("55-char name rejected: %v", err)
	}
	if _, err := NewSessionCR("proj-a", "Bad_Name", SessionSpec{}); err == nil {
		t.Error("invalid name accepted")
	}
	if _, err := NewSessionCR("proj-a", "ok", SessionSpec{ActiveWorkflow: &Workflow{}}); err == nil || !strings.Contains(err.Error(), "gitUrl") {
		t.Errorf("empty workflow URL: %v", err)
	}
}

func TestWaitForReconciledRepo(t *testing.T) {
	scheme := runtime.NewScheme()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{AgenticSessionGVR: "AgenticSessionList"})
	obj, err := CreateSessionCR(context.Background(), dyn, "proj-a", "s1", SessionSpec{InitialPrompt: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	ref := SessionRef{Project: "proj-a", Name: "s1"}
	err = WaitForReconciledRepo(context.Background(), WaitForReconciledRepoInput{Dynamic: dyn, Session: ref, Repo: "harness-example-repo", Timeout: 400 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `repo "harness-example-repo" not in status.reconciledRepos`) {
		t.Fatalf("err = %v, want a timeout naming the repo", err)
	}
	// The operator records the repo (contract §5): the wait ends.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = unstructured.SetNestedSlice(obj.Object, []any{map[string]any{"name": "other"}, map[string]any{"name": "harness-example-repo", "status": "Ready"}}, "status", "reconciledRepos")
		_, _ = dyn.Resource(AgenticSessionGVR).Namespace("proj-a").Update(context.Background(), obj, metav1.UpdateOptions{})
	}()
	if err := WaitForReconciledRepo(context.Background(), WaitForReconciledRepoInput{Dynamic: dyn, Session: ref, Repo: "harness-example-repo", Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
}
