package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestCreateSessionCR(t *testing.T) {
	scheme := runtime.NewScheme()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{platform.AgenticSessionGVR: "AgenticSessionList"})
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
	got, err := dyn.Resource(platform.AgenticSessionGVR).Namespace("proj-a").Get(context.Background(), "kubectl-session", metav1.GetOptions{})
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
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{platform.AgenticSessionGVR: "AgenticSessionList"})
	obj, err := CreateSessionCR(context.Background(), dyn, "proj-a", "s1", SessionSpec{InitialPrompt: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	ref := SessionRef{Project: "proj-a", Name: "s1"}
	err = WaitForReconciledRepo(context.Background(), WaitForReconciledRepoInput{Dynamic: dyn, Session: ref, Repo: "harness-example-repo", Timeout: 400 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `repo "harness-example-repo" not in status.reconciledRepos`) {
		t.Fatalf("err = %v, want a timeout naming the repo", err)
	}
	// The operator records the repo (docs/platform.md §5) by the second read: the wait ends there.
	recorded := obj.DeepCopy()
	_ = unstructured.SetNestedSlice(recorded.Object, []any{map[string]any{"name": "other"}, map[string]any{"name": "harness-example-repo", "status": "Ready"}}, "status", "reconciledRepos")
	gets := 0
	dyn.PrependReactor("get", "agenticsessions", func(k8stesting.Action) (bool, runtime.Object, error) {
		if gets++; gets >= 2 {
			return true, recorded, nil
		}
		return false, nil, nil
	})
	if err := WaitForReconciledRepo(context.Background(), WaitForReconciledRepoInput{Dynamic: dyn, Session: ref, Repo: "harness-example-repo", Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if gets != 2 {
		t.Errorf("%d reads, want 2 (the wait ends at the first that lists the repo)", gets)
	}
}
