// Package platform holds the facts about the platform under test that the
// harness relies on: its components and their images, where it is installed,
// the names of its Deployments, containers, Secrets and labels, the custom
// resource it serves, and the runner call families. Each fact is written once
// here (source: docs/platform.md); every
// other package refers to it by name.
package platform

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Namespace is where upstream's kind overlay installs the platform (docs/platform.md §6).
const Namespace = "ambient-code"

// Component is a part of the platform that has its own image.
type Component string

const (
	Operator Component = "operator"
	Backend  Component = "backend"
	// Runner also carries the state-sync image in upgrade orders: both reach runner
	// pods through the operator's agent registry pin (docs/platform.md §3.4), so they move
	// together.
	Runner Component = "runner"
	// StateSync is only an image slot (init-hydrate and the sidecar); it is never an
	// upgrade step of its own.
	StateSync Component = "stateSync"
)

// UpgradeComponents are the components an upgrade order may name, in canonical order.
var UpgradeComponents = []Component{Operator, Backend, Runner}

// ImageComponents are the image slots of a release, in canonical order.
var ImageComponents = []Component{Operator, Backend, Runner, StateSync}

// ParseComponent accepts a component name as written in catalogs and flags.
func ParseComponent(s string) (Component, error) {
	for _, c := range ImageComponents {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown component %q (want operator, backend, runner or stateSync)", s)
}

// Deployment is the component's Deployment in Namespace ("" for runner and
// state-sync, which run in session pods the operator creates).
func (c Component) Deployment() string {
	switch c {
	case Operator:
		return OperatorDeployment
	case Backend:
		return BackendDeployment
	}
	return ""
}

// ImageRepo is the last path element of the component's upstream image
// (quay.io/ambient_code/vteam_<x>), which pins and remaps match on.
func (c Component) ImageRepo() string {
	switch c {
	case Operator:
		return "vteam_operator"
	case Backend:
		return "vteam_backend"
	case Runner:
		return "vteam_claude_runner"
	case StateSync:
		return "vteam_state_sync"
	}
	return ""
}

// Images are the image references of a release's components. An empty field is
// unset (e.g. a partial set of overrides).
type Images struct {
	Operator  string `yaml:"operator" json:"operator,omitempty"`
	Backend   string `yaml:"backend" json:"backend,omitempty"`
	Runner    string `yaml:"runner" json:"runner,omitempty"`
	StateSync string `yaml:"stateSync,omitempty" json:"stateSync,omitempty"`
}

// Get returns the image of component c ("" when unset or unknown).
func (i Images) Get(c Component) string {
	if p := i.slot(c); p != nil {
		return *p
	}
	return ""
}

// Set sets the image of component c; an unknown component is ignored.
func (i *Images) Set(c Component, image string) {
	if p := i.slot(c); p != nil {
		*p = image
	}
}

func (i *Images) slot(c Component) *string {
	switch c {
	case Operator:
		return &i.Operator
	case Backend:
		return &i.Backend
	case Runner:
		return &i.Runner
	case StateSync:
		return &i.StateSync
	}
	return nil
}

// List returns the set images in component order.
func (i Images) List() []string {
	var out []string
	for _, c := range ImageComponents {
		if img := i.Get(c); img != "" {
			out = append(out, img)
		}
	}
	return out
}

// Components returns the components whose image is set, in component order.
func (i Images) Components() []Component {
	var out []Component
	for _, c := range ImageComponents {
		if i.Get(c) != "" {
			out = append(out, c)
		}
	}
	return out
}

// IsZero reports whether no image is set.
func (i Images) IsZero() bool { return i == Images{} }

// With returns i with every image set in over replacing i's.
func (i Images) With(over Images) Images {
	for _, c := range over.Components() {
		i.Set(c, over.Get(c))
	}
	return i
}

// Missing names the components whose image is empty; an empty pin would keep
// upstream's :latest reference, which cannot be pulled offline.
func (i Images) Missing() []Component {
	var out []Component
	for _, c := range ImageComponents {
		if strings.TrimSpace(i.Get(c)) == "" {
			out = append(out, c)
		}
	}
	return out
}

// Deployments, ConfigMaps and Services of the platform (docs/platform.md §6).
const (
	OperatorDeployment = "agentic-operator"
	BackendDeployment  = "backend-api"
	// RegistryConfigMap is the agent registry whose JSON pins runner and
	// state-sync images; it wins over the operator's env (docs/platform.md §3.4, §9).
	RegistryConfigMap = "ambient-agent-registry"
	BackendService    = "backend-service"
	BackendPort       = 8080
	// OperatorRunnerImageEnv and OperatorStateSyncImageEnv are the operator's
	// fallbacks when the registry names no image.
	OperatorRunnerImageEnv    = "AMBIENT_CODE_RUNNER_IMAGE"
	OperatorStateSyncImageEnv = "STATE_SYNC_IMAGE"
)

// Pod labels (docs/platform.md §2, §3.3, §6).
const (
	AppLabel              = "app"
	RunnerAppLabelValue   = "ambient-code-runner"
	OperatorAppLabelValue = "agentic-operator"
	BackendAppLabelValue  = "backend-api"
	// SessionLabel carries the session name on its runner pod.
	SessionLabel = "agentic-session"
	// ManagedNamespaceLabel marks project namespaces the operator manages (docs/platform.md §4).
	ManagedNamespaceLabel = "ambient-code.io/managed"
)

// Runner pods (docs/platform.md §2, §3.3).
const (
	RunnerContainer    = "ambient-code-runner"
	StateSyncContainer = "state-sync"
	InitHydrate        = "init-hydrate"
	RunnerPort         = 8001
	RunnerPortName     = "agui"
	// SessionTokenHeader is the header the runner's auth middleware reads (v0.2.2+).
	SessionTokenHeader = "X-Ambient-Session-Token"
)

// RunnerPod is the name of a session's runner pod.
func RunnerPod(session string) string { return session + "-runner" }

// RunnerService is the name of a session's runner Service.
func RunnerService(session string) string { return "session-" + session }

// Session token Secret (docs/platform.md §3.1).
const (
	RunnerTokenSecretPrefix = "ambient-runner-token-"
	// AGUITokenKey holds the runner's per-session token (v0.2.2+).
	AGUITokenKey = "agui-token"
	// K8sTokenKey holds the runner's service-account token.
	K8sTokenKey = "k8s-token"
	// RunnerSecrets is the per-project Secret with the model API key (docs/platform.md §5).
	RunnerSecrets = "ambient-runner-secrets"
)

// RunnerTokenSecret is the name of a session's token Secret.
func RunnerTokenSecret(session string) string { return RunnerTokenSecretPrefix + session }

// The harness user of the kind overlay (docs/platform.md §5, §9 item 4).
const (
	TestUserSecret    = "test-user-token"
	TestUserSecretKey = "token"
	TestUser          = "test-user"
	TestUserSubject   = "system:serviceaccount:" + Namespace + ":" + TestUser
)

// Custom resources (docs/platform.md §4).
var (
	AgenticSessionGVR  = schema.GroupVersionResource{Group: "vteam.ambient-code", Version: "v1alpha1", Resource: "agenticsessions"}
	ProjectSettingsGVR = schema.GroupVersionResource{Group: "vteam.ambient-code", Version: "v1alpha1", Resource: "projectsettings"}
)

// AgenticSessionKind is the kind of AgenticSessionGVR.
const AgenticSessionKind = "AgenticSession"

// PathFamily groups runner paths the way reports and rules name them:
// /events/{thread}, /tasks/{id}/…; query strings are dropped.
func PathFamily(path string) string {
	path, _, _ = strings.Cut(path, "?")
	switch {
	case path == "/events/":
		return "/events"
	case strings.HasPrefix(path, "/events/"):
		if strings.HasSuffix(path, "/wait") {
			return "/events/{thread}/wait"
		}
		return "/events/{thread}"
	case strings.HasPrefix(path, "/tasks/"):
		id, rest, found := strings.Cut(strings.TrimPrefix(path, "/tasks/"), "/")
		if found && rest != "" && id != "" {
			return "/tasks/{id}/" + rest
		}
		return "/tasks/{id}"
	}
	return path
}

// CallFamily is one kind of call a platform component makes to a runner that
// the harness drives and must see reach a runner (docs/platform.md §1.2–§1.4).
type CallFamily struct {
	Caller Component
	Method string
	// Path is the family as PathFamily names it.
	Path string
}

func (f CallFamily) String() string { return string(f.Caller) + " " + f.Method + " " + f.Path }

// Backend websocket family (agui_proxy.go, no header at v0.2.2), backend
// handler family (sessions.go, header from v0.2.2), and the operator's drift
// calls (no header before v0.2.7).
var (
	BackendRun          = CallFamily{Backend, "POST", "/"}
	BackendEvents       = CallFamily{Backend, "GET", "/events"}
	BackendInterrupt    = CallFamily{Backend, "POST", "/interrupt"}
	BackendCapabilities = CallFamily{Backend, "GET", "/capabilities"}
	BackendFeedback     = CallFamily{Backend, "POST", "/feedback"}
	BackendMCPStatus    = CallFamily{Backend, "GET", "/mcp/status"}
	BackendWorkspace    = CallFamily{Backend, "GET", "/content/list"}
	BackendReposStatus  = CallFamily{Backend, "GET", "/repos/status"}
	BackendWorkflow     = CallFamily{Backend, "POST", "/workflow"}
	BackendRepoAdd      = CallFamily{Backend, "POST", "/repos/add"}
	BackendRepoRemove   = CallFamily{Backend, "POST", "/repos/remove"}
	OperatorWorkflow    = CallFamily{Operator, "POST", "/workflow"}
	OperatorRepoAdd     = CallFamily{Operator, "POST", "/repos/add"}
	OperatorRepoRemove  = CallFamily{Operator, "POST", "/repos/remove"}
)

// CallFamilies are every family a cell drives, in report order.
var CallFamilies = []CallFamily{BackendRun, BackendEvents, BackendInterrupt, BackendCapabilities, BackendFeedback,
	BackendMCPStatus, BackendWorkspace, BackendReposStatus, BackendWorkflow, BackendRepoAdd, BackendRepoRemove,
	OperatorWorkflow, OperatorRepoAdd, OperatorRepoRemove}

// SpecChange is a backend API call that changes a session's spec: the backend
// calls the runner itself, then the operator's drift reconcile makes its own
// call (docs/platform.md §1.4, §3.5 item 6). Route is the harness's route template.
type SpecChange struct {
	Route    string
	Backend  CallFamily
	Operator CallFamily
}

// SpecChanges are the spec changes a cell makes, in the order it makes them.
var SpecChanges = []SpecChange{
	{Route: "POST workflow", Backend: BackendWorkflow, Operator: OperatorWorkflow},
	{Route: "POST repos", Backend: BackendRepoAdd, Operator: OperatorRepoAdd},
	{Route: "DELETE repos/{repo}", Backend: BackendRepoRemove, Operator: OperatorRepoRemove},
}

// Condition is one status condition of an AgenticSession, as the backend's
// API and the custom resource's status give it.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

// Detail formats c as "Type=Status Reason: Message".
func (c Condition) Detail() string {
	s := c.Type + "=" + c.Status
	if c.Reason != "" {
		s += " " + c.Reason
	}
	if c.Message != "" {
		s += ": " + c.Message
	}
	return s
}
