package deploy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
)

// Components an upgrade step can name.
const (
	ComponentOperator = "operator"
	ComponentBackend  = "backend"
	// ComponentRunner switches the runner and state-sync pins of the agent registry.
	ComponentRunner = "runner"
)

// Components lists the upgradable components in canonical order.
var Components = []string{ComponentOperator, ComponentBackend, ComponentRunner}

var componentDeployment = map[string]string{ComponentOperator: OperatorDeployment, ComponentBackend: BackendDeployment}

// ValidateUpgradeSteps checks that every step is non-empty and names known
// components, each at most once across all steps.
func ValidateUpgradeSteps(steps [][]string) error {
	seen := map[string]int{}
	for i, step := range steps {
		if len(step) == 0 {
			return fmt.Errorf("upgrade step %d is empty: want one or more of %s", i+1, strings.Join(Components, ", "))
		}
		for _, c := range step {
			if componentDeployment[c] == "" && c != ComponentRunner {
				return fmt.Errorf("upgrade step %d names %q: valid components are %s", i+1, c, strings.Join(Components, ", "))
			}
			if prev, ok := seen[c]; ok {
				return fmt.Errorf("component %s is upgraded twice (steps %d and %d)", c, prev+1, i+1)
			}
			seen[c] = i
		}
	}
	return nil
}

// Step is one apply of an upgrade plan.
type Step struct {
	// Components are upgraded by this step; Upgraded is every component upgraded
	// after it (canonical order). The rest keep their from state.
	Components []string
	Upgraded   []string
	// Objects is the full object set to apply in this step.
	Objects *Rendered
	// Namespace and Rollouts: the Deployments this step changes and the image each must run.
	Namespace string
	Rollouts  map[string]string
	// RunnerPinsChanged is set when this step switches the registry's runner and
	// state-sync images. OperatorRestarted says whether the operator's pod
	// template changes in the same step (a new pod rereads the registry at once).
	RunnerPinsChanged bool
	OperatorRestarted bool
}

func (s Step) String() string {
	return fmt.Sprintf("upgrade %s (upgraded so far: %s)", strings.Join(s.Components, "+"), strings.Join(s.Upgraded, ","))
}

// PlanUpgrade turns from → to into apply steps. No steps means all-at-once: one
// step applying the whole to render. Otherwise each step applies to's shared
// objects (CRDs, RBAC, ConfigMaps, …) with from's Deployment (operator,
// backend) and from's registry runner pins for every component not yet
// upgraded; a component no step names stays on from for good. Steps must pass
// ValidateUpgradeSteps; an unknown name upgrades nothing.
func PlanUpgrade(from, to *Rendered, steps [][]string) []Step {
	if from == nil || to == nil {
		return nil
	}
	if len(steps) == 0 {
		steps = [][]string{append([]string(nil), Components...)}
	}
	upgraded := map[string]bool{}
	previous := from
	var plan []Step
	for i, group := range steps {
		for _, c := range group {
			upgraded[c] = true
		}
		objs := to.DeepCopy()
		effective := to.Images
		for _, c := range []string{ComponentOperator, ComponentBackend} {
			if upgraded[c] {
				continue
			}
			substituteDeployment(objs, from, componentDeployment[c])
			if c == ComponentOperator {
				effective.Operator = from.Images.Operator
			} else {
				effective.Backend = from.Images.Backend
			}
		}
		if !upgraded[ComponentRunner] {
			if reg := objs.findByName(configMapKind, RegistryConfigMap); reg != nil {
				// The registry content is to's; only its image pins stay on from.
				if err := repinRegistryImages(reg, from.Images.Runner, from.Images.StateSync); err == nil {
					effective.Runner, effective.StateSync = from.Images.Runner, from.Images.StateSync
				}
			} else {
				effective.Runner, effective.StateSync = from.Images.Runner, from.Images.StateSync
			}
		}
		objs.Images = effective
		step := Step{
			Components: canonical(group),
			Upgraded:   canonical(keys(upgraded)),
			Objects:    objs,
			Rollouts:   map[string]string{},
		}
		for _, c := range group {
			name := componentDeployment[c]
			if name == "" {
				continue
			}
			if d := objs.findByName(deploymentKind, name); d != nil {
				step.Namespace = d.GetNamespace()
				step.Rollouts[name] = imageOf(c, effective)
			}
		}
		if i == 0 {
			// Shared Deployments (neither operator nor backend) move in the first step.
			for _, d := range objs.Objects {
				if d.GetKind() != deploymentKind || d.GetName() == OperatorDeployment || d.GetName() == BackendDeployment {
					continue
				}
				if img := firstContainerImage(d); img != "" {
					step.Rollouts[d.GetName()] = img
					if step.Namespace == "" {
						step.Namespace = d.GetNamespace()
					}
				}
			}
		}
		if step.Namespace == "" {
			if d := objs.findByName(deploymentKind, OperatorDeployment); d != nil {
				step.Namespace = d.GetNamespace()
			}
		}
		step.RunnerPinsChanged = contains(group, ComponentRunner) &&
			(!SameImage(previous.Images.Runner, effective.Runner) || !SameImage(previous.Images.StateSync, effective.StateSync))
		step.OperatorRestarted = templateChanged(previous, objs, OperatorDeployment)
		plan = append(plan, step)
		previous = objs
	}
	return plan
}

func imageOf(component string, images Images) string {
	switch component {
	case ComponentOperator:
		return images.Operator
	case ComponentBackend:
		return images.Backend
	}
	return ""
}

// substituteDeployment replaces Deployment name of dst by from's copy, or keeps
// dst's when from has none (the component is new in to).
func substituteDeployment(dst, from *Rendered, name string) {
	old := from.findByName(deploymentKind, name)
	if old == nil {
		return
	}
	for i, o := range dst.Objects {
		if o.GetKind() == deploymentKind && o.GetName() == name {
			dst.Objects[i] = old.DeepCopy()
			return
		}
	}
	dst.Objects = append(dst.Objects, old.DeepCopy())
}

// repinRegistryImages sets only the images of the registry, keeping its other content.
func repinRegistryImages(cm *unstructured.Unstructured, runner, stateSync string) error {
	return pinRegistry(cm, runner, stateSync, Resources{})
}

func templateChanged(a, b *Rendered, deployment string) bool {
	da, db := a.findByName(deploymentKind, deployment), b.findByName(deploymentKind, deployment)
	if da == nil || db == nil {
		return da != db
	}
	ta, _, _ := unstructured.NestedMap(da.Object, "spec", "template")
	tb, _, _ := unstructured.NestedMap(db.Object, "spec", "template")
	return !reflect.DeepEqual(ta, tb)
}

func firstContainerImage(d *unstructured.Unstructured) string {
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		return ""
	}
	c, _ := cs[0].(map[string]any)
	img, _ := c["image"].(string)
	return img
}

func canonical(cs []string) []string {
	rank := map[string]int{}
	for i, c := range Components {
		rank[c] = i
	}
	out := append([]string(nil), cs...)
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i]] < rank[out[j]] })
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// UpgradeInput says how to run an upgrade plan.
type UpgradeInput struct {
	Config       *rest.Config
	Client       kubernetes.Interface
	Plan         []Step
	FieldManager string
	// RolloutTimeout bounds each step's rollout wait (default 3m).
	RolloutTimeout time.Duration
	// RunnerSettle is waited after a step that switches the runner pins without
	// restarting the operator: the operator caches the registry for 60 s (§3.4)
	// and the kubelet refreshes a mounted ConfigMap within about a minute.
	RunnerSettle time.Duration
	// OnStep is called before each step is applied.
	OnStep func(i int, s Step)
	Logf   func(format string, args ...any)
}

// StepResult reports one applied step.
type StepResult struct {
	Step     Step
	Applied  *ApplyResult
	Rollouts []RolloutStatus
	Duration time.Duration
}

// Upgrade applies the plan step by step and waits for each step's rollouts.
func Upgrade(ctx context.Context, in UpgradeInput) ([]StepResult, error) {
	if len(in.Plan) == 0 {
		return nil, exitcode.BadInputErr(errors.New("UpgradeInput.Plan is empty: build it with PlanUpgrade"))
	}
	if in.Client == nil {
		return nil, exitcode.BadInputErr(errors.New("UpgradeInput.Client is nil"))
	}
	for i, s := range in.Plan {
		if s.Objects == nil {
			return nil, exitcode.BadInputErr(fmt.Errorf("UpgradeInput.Plan[%d] has no objects", i))
		}
		if err := s.Objects.Images.Validate(); err != nil {
			return nil, exitcode.BadInputErr(fmt.Errorf("UpgradeInput.Plan[%d]: %w", i, err))
		}
	}
	c, err := newClusterClients(in.Config)
	if err != nil {
		return nil, err
	}
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var results []StepResult
	for i, s := range in.Plan {
		start := time.Now()
		if in.OnStep != nil {
			in.OnStep(i, s)
		}
		logf("step %d/%d: %s", i+1, len(in.Plan), s)
		applied, err := applyWith(ctx, c, ApplyInput{Rendered: s.Objects, FieldManager: in.FieldManager, Logf: in.Logf})
		res := StepResult{Step: s, Applied: applied}
		if err != nil {
			return append(results, res), fmt.Errorf("upgrade step %d (%s): %w", i+1, strings.Join(s.Components, "+"), err)
		}
		if len(s.Rollouts) > 0 {
			res.Rollouts, err = WaitForRollout(ctx, WaitForRolloutInput{
				Client: in.Client, Namespace: s.Namespace, Deployments: s.Rollouts, Timeout: in.RolloutTimeout, Logf: in.Logf,
			})
			if err != nil {
				return append(results, res), fmt.Errorf("upgrade step %d (%s): %w", i+1, strings.Join(s.Components, "+"), err)
			}
		}
		if s.RunnerPinsChanged && !s.OperatorRestarted && in.RunnerSettle > 0 {
			logf("step %d: waiting %s for the operator to pick up the new runner pins", i+1, in.RunnerSettle)
			select {
			case <-ctx.Done():
				return append(results, res), exitcode.InfraErr(ctx.Err())
			case <-time.After(in.RunnerSettle):
			}
		}
		res.Duration = time.Since(start)
		results = append(results, res)
	}
	return results, nil
}
