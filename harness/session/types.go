package session

import (
	"crypto/rand"
	"fmt"
	"path"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// SessionRef names one AgenticSession: the project is its namespace.
type SessionRef struct {
	Project string
	Name    string
}

func (r SessionRef) String() string { return r.Project + "/" + r.Name }

// LLMSettings is spec.llmSettings (docs/platform.md §4).
type LLMSettings struct {
	Model       string  `json:"model,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
	MaxTokens   int     `json:"maxTokens,omitempty"`
}

// Repo is one entry of spec.repos and the body of POST …/repos.
type Repo struct {
	URL      string `json:"url"`
	Branch   string `json:"branch,omitempty"`
	AutoPush bool   `json:"autoPush,omitempty"`
}

// Name is the repo name the backend derives from its URL (last path element
// without ".git"); DELETE …/repos/:repoName takes it.
func (r Repo) Name() string {
	u := strings.TrimRight(r.URL, "/")
	return strings.TrimSuffix(path.Base(u), ".git")
}

// Workflow is spec.activeWorkflow and the body of POST …/workflow.
type Workflow struct {
	GitURL string `json:"gitUrl"`
	Branch string `json:"branch,omitempty"`
	Path   string `json:"path,omitempty"`
}

// SessionSpec is what the harness asks for when creating a session, through the
// API (POST …/agentic-sessions) or directly as a CR (CreateSessionCR).
type SessionSpec struct {
	InitialPrompt        string            `json:"initialPrompt,omitempty"`
	DisplayName          string            `json:"displayName,omitempty"`
	LLMSettings          *LLMSettings      `json:"llmSettings,omitempty"`
	Timeout              int               `json:"timeout,omitempty"`
	Repos                []Repo            `json:"repos,omitempty"`
	ActiveWorkflow       *Workflow         `json:"activeWorkflow,omitempty"`
	EnvironmentVariables map[string]string `json:"environmentVariables,omitempty"`
}

// Example data for spec changes: nothing is cloned for real by the simulated runner.
const (
	ExampleWorkflowURL = "https://github.com/ambient-code/example-workflows"
	ExampleRepoURL     = "https://github.com/ambient-code/example-repo"
)

// Session phases (docs/platform.md §4).
const (
	PhasePending   = "Pending"
	PhaseCreating  = "Creating"
	PhaseRunning   = "Running"
	PhaseStopping  = "Stopping"
	PhaseStopped   = "Stopped"
	PhaseCompleted = "Completed"
	PhaseFailed    = "Failed"
)

// Session is what GET …/agentic-sessions/{s} tells about a session.
type Session struct {
	Name               string
	Project            string
	Generation         int64
	Phase              string
	ObservedGeneration int64
	StartTime          string
	// AgentStatus is computed by the backend from the event log: working | idle | waiting_input.
	AgentStatus string
	Conditions  []platform.Condition
}

// Condition returns the condition of type t.
func (s Session) Condition(t string) (platform.Condition, bool) {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return platform.Condition{}, false
}

// sessionJSON is the backend's session document; agentStatus is accepted both
// top-level and inside status because the contract does not pin its place.
type sessionJSON struct {
	Metadata struct {
		Name       string `json:"name"`
		Namespace  string `json:"namespace"`
		Generation int64  `json:"generation"`
	} `json:"metadata"`
	Status *struct {
		Phase              string               `json:"phase"`
		ObservedGeneration int64                `json:"observedGeneration"`
		StartTime          string               `json:"startTime"`
		AgentStatus        string               `json:"agentStatus"`
		Conditions         []platform.Condition `json:"conditions"`
	} `json:"status"`
	AgentStatus string `json:"agentStatus"`
}

func (j sessionJSON) toSession(ref SessionRef) Session {
	s := Session{Name: j.Metadata.Name, Project: j.Metadata.Namespace, Generation: j.Metadata.Generation, AgentStatus: j.AgentStatus}
	if s.Name == "" {
		s.Name = ref.Name
	}
	if s.Project == "" {
		s.Project = ref.Project
	}
	if j.Status != nil {
		s.Phase = j.Status.Phase
		s.ObservedGeneration = j.Status.ObservedGeneration
		s.StartTime = j.Status.StartTime
		s.Conditions = j.Status.Conditions
		if s.AgentStatus == "" {
			s.AgentStatus = j.Status.AgentStatus
		}
	}
	return s
}

// RunResult is the immediate answer of POST …/agui/run.
type RunResult struct {
	RunID    string `json:"runId"`
	ThreadID string `json:"threadId"`
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
