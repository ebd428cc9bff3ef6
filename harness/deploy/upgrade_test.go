package deploy

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// stepState reads what a step's object set runs for each component.
type stepState struct{ operator, backend, runner, stateSync string }

func stateOf(t *testing.T, r *Rendered) stepState {
	t.Helper()
	runners, stateSyncs, err := RegistryImages(r)
	if err != nil || len(runners) != 1 || len(stateSyncs) != 1 {
		t.Fatalf("registry images %v %v err %v: want exactly one runner and one state-sync pin", runners, stateSyncs, err)
	}
	return stepState{
		operator:  deploymentContainer(t, r, OperatorDeployment)["image"].(string),
		backend:   deploymentContainer(t, r, BackendDeployment)["image"].(string),
		runner:    runners[0],
		stateSync: stateSyncs[0],
	}
}

func TestPlanUpgrade(t *testing.T) {
	from, to := renderUpstream(t, "v0.2.0"), renderUpstream(t, "v0.2.2")
	f, n := simImages("v0.2.0"), simImages("v0.2.2")
	type want struct {
		state      stepState
		components string
		rollouts   map[string]string
		runnerPins bool
		opRestart  bool
	}
	for _, tc := range []struct {
		order string
		want  []want
	}{
		{"all-at-once", []want{
			{stepState{n.Operator, n.Backend, n.Runner, n.StateSync}, "operator+backend+runner",
				map[string]string{OperatorDeployment: n.Operator, BackendDeployment: n.Backend}, true, true},
		}},
		{"operator-first", []want{
			{stepState{n.Operator, f.Backend, f.Runner, f.StateSync}, "operator", map[string]string{OperatorDeployment: n.Operator}, false, true},
			{stepState{n.Operator, n.Backend, n.Runner, n.StateSync}, "backend+runner", map[string]string{BackendDeployment: n.Backend}, true, false},
		}},
		{"backend-first", []want{
			{stepState{f.Operator, n.Backend, f.Runner, f.StateSync}, "backend", map[string]string{BackendDeployment: n.Backend}, false, false},
			{stepState{n.Operator, n.Backend, n.Runner, n.StateSync}, "operator+runner", map[string]string{OperatorDeployment: n.Operator}, true, true},
		}},
		{"runner-only", []want{
			{stepState{f.Operator, f.Backend, n.Runner, n.StateSync}, "runner", map[string]string{}, true, false},
		}},
		{"operator,runner", []want{
			{stepState{n.Operator, f.Backend, f.Runner, f.StateSync}, "operator", map[string]string{OperatorDeployment: n.Operator}, false, true},
			{stepState{n.Operator, f.Backend, n.Runner, n.StateSync}, "runner", map[string]string{}, true, false},
		}},
	} {
		t.Run(tc.order, func(t *testing.T) {
			order, err := upgrade.ParseOrder(tc.order)
			if err != nil {
				t.Fatal(err)
			}
			plan := PlanUpgrade(from, to, order.Steps)
			if len(plan) != len(tc.want) {
				t.Fatalf("%d steps, want %d", len(plan), len(tc.want))
			}
			for i, w := range tc.want {
				s := plan[i]
				if got := stateOf(t, s.Objects); got != w.state {
					t.Errorf("step %d runs %+v, want %+v", i+1, got, w.state)
				}
				if got := join(s.Components, "+"); got != w.components {
					t.Errorf("step %d components %s, want %s", i+1, got, w.components)
				}
				if !reflect.DeepEqual(s.Rollouts, w.rollouts) {
					t.Errorf("step %d rollouts %v, want %v", i+1, s.Rollouts, w.rollouts)
				}
				if s.Namespace != "ambient-code" {
					t.Errorf("step %d namespace %q, want ambient-code", i+1, s.Namespace)
				}
				if s.RunnerPinsChanged != w.runnerPins || s.OperatorRestarted != w.opRestart {
					t.Errorf("step %d RunnerPinsChanged=%v OperatorRestarted=%v, want %v %v", i+1, s.RunnerPinsChanged, s.OperatorRestarted, w.runnerPins, w.opRestart)
				}
				st := stateOf(t, s.Objects)
				if s.Objects.Images != (platform.Images{Operator: st.operator, Backend: st.backend, Runner: st.runner, StateSync: st.stateSync}) {
					t.Errorf("step %d Images %+v disagree with its objects %+v", i+1, s.Objects.Images, st)
				}
				// Shared objects always come from to: the v0.2.2 operator ClusterRole gains networkpolicies (§3.5).
				cr := s.Objects.findByName("ClusterRole", OperatorDeployment)
				if !strings.Contains(mustMarshal(t, cr), "networkpolicies") {
					t.Errorf("step %d: operator ClusterRole is not to's (no networkpolicies rule)", i+1)
				}
				// A component not upgraded keeps from's whole Deployment, so its pods are not touched.
				if !slices.Contains(s.Upgraded, platform.Backend) {
					if !reflect.DeepEqual(s.Objects.findByName(deploymentKind, BackendDeployment).Object, from.findByName(deploymentKind, BackendDeployment).Object) {
						t.Errorf("step %d: backend-api differs from the from render although backend is not upgraded", i+1)
					}
				}
			}
			last := plan[len(plan)-1].Objects
			if up := plan[len(plan)-1].Upgraded; slices.Equal(up, platform.UpgradeComponents) {
				if !reflect.DeepEqual(objectsByRef(last), objectsByRef(to)) {
					t.Error("after a full upgrade the last step must equal the to render")
				}
			}
		})
	}
	// PlanUpgrade must not mutate its inputs.
	if stateOf(t, from) != (stepState{f.Operator, f.Backend, f.Runner, f.StateSync}) || stateOf(t, to) != (stepState{n.Operator, n.Backend, n.Runner, n.StateSync}) {
		t.Error("PlanUpgrade changed its from or to render")
	}
}

func objectsByRef(r *Rendered) map[ObjectRef]map[string]any {
	out := map[ObjectRef]map[string]any{}
	for _, o := range r.Objects {
		out[RefOf(o)] = o.Object
	}
	return out
}

func mustMarshal(t *testing.T, o *unstructured.Unstructured) string {
	t.Helper()
	if o == nil {
		t.Fatal("object missing")
	}
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPruneDiff(t *testing.T) {
	from, to := renderUpstream(t, "v0.2.0"), renderUpstream(t, "v0.2.2")
	if got := PruneDiff(from, to); len(got) != 0 {
		t.Errorf("v0.2.0 → v0.2.2 only adds objects, PruneDiff = %v", got)
	}
	got := refStrings(PruneDiff(to, from))
	want := []string{"ClusterRole/ambient-control-plane", "ClusterRoleBinding/ambient-control-plane", "ServiceAccount/ambient-code/ambient-control-plane"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("v0.2.2 → v0.2.0 PruneDiff = %v, want %v", got, want)
	}
	diff := PruneDiff(to, &Rendered{})
	if diff[0].Kind != deploymentKind || diff[len(diff)-1].Kind != crdKind {
		t.Errorf("deletion order must start with Deployments and end with CRDs: first %s last %s", diff[0], diff[len(diff)-1])
	}
}
