package session

import (
	"context"
	"fmt"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// Defaults the backend fills in for API-created sessions (docs/platform.md §4 minimal spec).
const (
	DefaultModel       = "claude-sonnet-4-6"
	DefaultTemperature = 0.7
	DefaultMaxTokens   = 4000
	DefaultTimeout     = 300
	DefaultBranch      = "main"
	// TestUserID is spec.userContext.userId of sessions the backend creates for test-user.
	TestUserID = "system-serviceaccount-ambient-code-test-user"
	// MaxSessionNameLength keeps Service session-{name} within 63 characters.
	MaxSessionNameLength = 55
)

// NewSessionCR builds the AgenticSession a kubectl user would apply: the
// backend-created shape with the backend's defaults filled in.
func NewSessionCR(namespace, name string, spec SessionSpec) (*unstructured.Unstructured, error) {
	if len(name) > MaxSessionNameLength {
		return nil, fmt.Errorf("session name %q has %d characters; at most %d fit Service name session-{name} (63)", name, len(name), MaxSessionNameLength)
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return nil, fmt.Errorf("session name %q is not a DNS-1123 label: %v", name, errs)
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return nil, fmt.Errorf("project namespace %q is not a DNS-1123 label: %v", namespace, errs)
	}
	llm := LLMSettings{Model: DefaultModel, Temperature: DefaultTemperature, MaxTokens: DefaultMaxTokens}
	if spec.LLMSettings != nil {
		if spec.LLMSettings.Model != "" {
			llm.Model = spec.LLMSettings.Model
		}
		if spec.LLMSettings.Temperature != 0 {
			llm.Temperature = spec.LLMSettings.Temperature
		}
		if spec.LLMSettings.MaxTokens != 0 {
			llm.MaxTokens = spec.LLMSettings.MaxTokens
		}
	}
	timeout := spec.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	displayName := spec.DisplayName
	if displayName == "" {
		displayName = name
	}
	env := map[string]any{"RUNNER_TYPE": "claude-agent-sdk", "RUNNER_STATE_DIR": ".claude"}
	for k, v := range spec.EnvironmentVariables {
		env[k] = v
	}
	s := map[string]any{
		"initialPrompt": spec.InitialPrompt,
		"displayName":   displayName,
		"project":       namespace,
		"timeout":       int64(timeout),
		"llmSettings": map[string]any{
			"model": llm.Model, "temperature": llm.Temperature, "maxTokens": int64(llm.MaxTokens),
		},
		"environmentVariables": env,
		"userContext": map[string]any{
			"userId": TestUserID, "displayName": TestUserName, "groups": []any{},
		},
	}
	if len(spec.Repos) > 0 {
		repos := make([]any, 0, len(spec.Repos))
		for i, r := range spec.Repos {
			if r.URL == "" {
				return nil, fmt.Errorf("spec.repos[%d].url is empty; give a git URL such as %s", i, ExampleRepoURL)
			}
			repos = append(repos, map[string]any{"url": r.URL, "branch": orDefault(r.Branch, DefaultBranch), "autoPush": r.AutoPush})
		}
		s["repos"] = repos
	}
	if wf := spec.ActiveWorkflow; wf != nil {
		if wf.GitURL == "" {
			return nil, fmt.Errorf("spec.activeWorkflow.gitUrl is empty; give a git URL such as %s", ExampleWorkflowURL)
		}
		s["activeWorkflow"] = map[string]any{"gitUrl": wf.GitURL, "branch": orDefault(wf.Branch, DefaultBranch), "path": wf.Path}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": platform.AgenticSessionGVR.GroupVersion().String(),
		"kind":       "AgenticSession",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       s,
	}}
	return u, nil
}

// CreateSessionCR creates the session directly as an AgenticSession object,
// bypassing the backend (the way kubectl users do).
func CreateSessionCR(ctx context.Context, dyn dynamic.Interface, namespace, name string, spec SessionSpec) (*unstructured.Unstructured, error) {
	obj, err := NewSessionCR(namespace, name, spec)
	if err != nil {
		return nil, err
	}
	created, err := dyn.Resource(platform.AgenticSessionGVR).Namespace(namespace).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create AgenticSession %s/%s: %w", namespace, name, err)
	}
	return created, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// WaitForReconciledRepoInput configures WaitForReconciledRepo.
type WaitForReconciledRepoInput struct {
	Dynamic dynamic.Interface
	Session SessionRef
	// Repo is the repo name (Repo.Name()).
	Repo    string
	Timeout time.Duration
}

// WaitForReconciledRepo waits until the operator lists Repo in the session's
// status.reconciledRepos: it has handled the add (it records the repo even
// when the runner refused it, docs/platform.md §5). Removing the repo before that would
// leave the operator no drift to act on.
func WaitForReconciledRepo(ctx context.Context, in WaitForReconciledRepoInput) error {
	ctx, cancel := context.WithTimeout(ctx, in.Timeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		obj, err := in.Dynamic.Resource(platform.AgenticSessionGVR).Namespace(in.Session.Project).Get(ctx, in.Session.Name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		repos, _, _ := unstructured.NestedSlice(obj.Object, "status", "reconciledRepos")
		names := make([]string, 0, len(repos))
		for _, r := range repos {
			if m, ok := r.(map[string]any); ok {
				name, _ := m["name"].(string)
				if name == in.Repo {
					return true, nil
				}
				names = append(names, name)
			}
		}
		last = fmt.Sprintf("status.reconciledRepos has %q", names)
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("session %s: repo %q not in status.reconciledRepos after %s (%s)", in.Session, in.Repo, in.Timeout, last)
	}
	return nil
}
