package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/poll"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// UpgradeStep is one apply of an upgrade plan.
type UpgradeStep struct {
	// Components are upgraded by this step; Upgraded is every component upgraded
	// after it (canonical order). The rest keep their from state.
	Components []platform.Component
	Upgraded   []platform.Component
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

func (s UpgradeStep) String() string {
	return fmt.Sprintf("upgrade %s (upgraded so far: %s)", join(s.Components, "+"), join(s.Upgraded, ","))
}

// PlanUpgrade turns from → to into apply steps. No steps means all-at-once: one
// step applying the whole to render. Otherwise each step applies to's shared
// objects (CRDs, RBAC, ConfigMaps, …) with from's Deployment (operator,
// backend) and from's registry runner pins for every component not yet
// upgraded; a component no step names stays on from for good. Steps
// come from a parsed upgrade.Order.
func PlanUpgrade(from, to *Rendered, steps []upgrade.Step) []UpgradeStep {
	if from == nil || to == nil {
		return nil
	}
	if len(steps) == 0 {
		steps = []upgrade.Step{append(upgrade.Step(nil), platform.UpgradeComponents...)}
	}
	upgraded := map[platform.Component]bool{}
	previous := from
	var plan []UpgradeStep
	for i, group := range steps {
		for _, c := range group {
			upgraded[c] = true
		}
		objs := to.DeepCopy()
		effective := to.Images
		for _, c := range []platform.Component{platform.Operator, platform.Backend} {
			if upgraded[c] {
				continue
			}
			substituteDeployment(objs, from, c.Deployment())
			effective.Set(c, from.Images.Get(c))
		}
		if !upgraded[platform.Runner] {
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
		step := UpgradeStep{
			Components: canonical(group),
			Upgraded:   canonical(slices.Collect(maps.Keys(upgraded))),
			Objects:    objs,
			Rollouts:   map[string]string{},
		}
		for _, c := range group {
			name := c.Deployment()
			if name == "" {
				continue
			}
			if d := objs.findByName(deploymentKind, name); d != nil {
				step.Namespace = d.GetNamespace()
				step.Rollouts[name] = effective.Get(c)
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
		step.RunnerPinsChanged = slices.Contains(group, platform.Runner) &&
			(!SameImage(previous.Images.Runner, effective.Runner) || !SameImage(previous.Images.StateSync, effective.StateSync))
		step.OperatorRestarted = templateChanged(previous, objs, OperatorDeployment)
		plan = append(plan, step)
		previous = objs
	}
	return plan
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

// canonical sorts components in platform.UpgradeComponents order.
func canonical(cs []platform.Component) []platform.Component {
	out := slices.Clone(cs)
	slices.SortStableFunc(out, func(a, b platform.Component) int {
		return slices.Index(platform.UpgradeComponents, a) - slices.Index(platform.UpgradeComponents, b)
	})
	return out
}

func join(cs []platform.Component, sep string) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = string(c)
	}
	return strings.Join(names, sep)
}

// UpgradeInput says how to run an upgrade plan.
type UpgradeInput struct {
	Config       *rest.Config
	Client       kubernetes.Interface
	Plan         []UpgradeStep
	FieldManager string
	// RolloutTimeout bounds each step's rollout wait (default 3m).
	RolloutTimeout time.Duration
	// RunnerSettle is waited after a step that switches the runner pins without
	// restarting the operator: the operator caches the registry for 60 s (§3.4)
	// and the kubelet refreshes a mounted ConfigMap within about a minute.
	RunnerSettle time.Duration
	// OnStep is called before each step is applied.
	OnStep func(i int, s UpgradeStep)
	Logf   func(format string, args ...any)
}

// StepResult reports one applied step.
type StepResult struct {
	Step    UpgradeStep
	Applied *ApplyResult
	// Rollouts are the final status of each Deployment the step changed, with
	// when it was done and the pods it replaced.
	Rollouts []RolloutStatus
	// Started is when the step began (before its apply); Duration includes the
	// rollout wait and any RunnerSettle.
	Started  time.Time
	Duration time.Duration
}

// Upgrade applies the plan step by step and waits for each step's rollouts.
func Upgrade(ctx context.Context, in UpgradeInput) ([]StepResult, error) {
	if len(in.Plan) == 0 {
		return nil, fault.BadInputErr(errors.New("UpgradeInput.Plan is empty: build it with PlanUpgrade"))
	}
	if in.Client == nil {
		return nil, fault.BadInputErr(errors.New("UpgradeInput.Client is nil"))
	}
	for i, s := range in.Plan {
		if s.Objects == nil {
			return nil, fault.BadInputErr(fmt.Errorf("UpgradeInput.Plan[%d] has no objects", i))
		}
		if err := validateImages(s.Objects.Images); err != nil {
			return nil, fault.BadInputErr(fmt.Errorf("UpgradeInput.Plan[%d]: %w", i, err))
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
		// The pods each Deployment runs now, to tell afterwards which ones the step replaced.
		before := map[string][]RolloutPod{}
		for name := range s.Rollouts {
			pods, err := ListDeploymentPods(ctx, in.Client, s.Namespace, name)
			if err != nil {
				logf("step %d: listing the pods of %s before the change: %v (replaced pods will not be reported)", i+1, name, err)
			}
			before[name] = pods
		}
		applied, err := applyWith(ctx, c, ApplyInput{Rendered: s.Objects, FieldManager: in.FieldManager, Logf: in.Logf})
		res := StepResult{Step: s, Applied: applied, Started: start}
		if err != nil {
			return append(results, res), fmt.Errorf("upgrade step %d (%s): %w", i+1, join(s.Components, "+"), err)
		}
		if len(s.Rollouts) > 0 {
			res.Rollouts, err = WaitForRollout(ctx, WaitForRolloutInput{
				Client: in.Client, Namespace: s.Namespace, Deployments: s.Rollouts, Timeout: in.RolloutTimeout, Logf: in.Logf,
			})
			for j := range res.Rollouts {
				res.Rollouts[j].Replaced = replacedPods(before[res.Rollouts[j].Deployment], res.Rollouts[j].Pods)
			}
			if err != nil {
				return append(results, res), fmt.Errorf("upgrade step %d (%s): %w", i+1, join(s.Components, "+"), err)
			}
		}
		if s.RunnerPinsChanged && !s.OperatorRestarted && in.RunnerSettle > 0 {
			logf("step %d: waiting %s for the operator to pick up the new runner pins", i+1, in.RunnerSettle)
			if err := poll.Sleep(ctx, clock.RealClock{}, in.RunnerSettle); err != nil {
				return append(results, res), fault.InfraErr(err)
			}
		}
		res.Duration = time.Since(start)
		results = append(results, res)
	}
	return results, nil
}
