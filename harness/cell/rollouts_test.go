package cell

import (
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

func TestRolloutsOfAnOrderedUpgrade(t *testing.T) {
	t0 := time.Date(2026, 5, 11, 10, 0, 0, 0, time.UTC)
	from := platform.Images{Operator: "op:v1", Backend: "be:v1", Runner: "run:v1", StateSync: "ss:v1"}
	afterOp := platform.Images{Operator: "op:v2", Backend: "be:v1", Runner: "run:v1", StateSync: "ss:v1"}
	all := platform.Images{Operator: "op:v2", Backend: "be:v1", Runner: "run:v2", StateSync: "ss:v2"}
	steps := []deploy.StepResult{
		{Step: deploy.UpgradeStep{Components: []platform.Component{platform.Operator}, Objects: &deploy.Rendered{Images: afterOp}},
			Started: t0, Duration: 12 * time.Second,
			Rollouts: []deploy.RolloutStatus{{Deployment: platform.OperatorDeployment, Image: "op:v2", DoneAt: t0.Add(11 * time.Second),
				Pods:     []deploy.RolloutPod{{Name: "agentic-operator-new", Image: "op:v2"}},
				Replaced: []deploy.RolloutPod{{Name: "agentic-operator-old", Image: "op:v1"}}}}},
		{Step: deploy.UpgradeStep{Components: []platform.Component{platform.Runner}, Objects: &deploy.Rendered{Images: all}},
			Started: t0.Add(12 * time.Second), Duration: 100 * time.Second},
	}
	got := RolloutsOf(steps, from)
	if len(got) != 2 {
		t.Fatalf("rollouts = %+v, want the operator's and the runner pin switch", got)
	}
	op, run := got[0], got[1]
	if op.Step != 1 || op.Component != platform.Operator || op.FromImage != "op:v1" || op.ToImage != "op:v2" ||
		!op.Done.Equal(t0.Add(11*time.Second)) || len(op.Replaced) != 1 || op.Replaced[0].Name != "agentic-operator-old" || op.Pods[0].Name != "agentic-operator-new" {
		t.Errorf("operator rollout = %+v", op)
	}
	if run.Step != 2 || run.Component != platform.Runner || run.Deployment != "" || run.FromImage != "run:v1" || run.ToImage != "run:v2" ||
		!run.Started.Equal(t0.Add(12*time.Second)) || !run.Done.Equal(t0.Add(112*time.Second)) {
		t.Errorf("runner pin switch = %+v", run)
	}
}
