package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// MeasuredCell is the cell bench measures for from → to: the catalog's plain
// all-at-once cell (no rollback, which would add a second rollout and its
// window to every figure). Its error is bad input naming the flags.
func MeasuredCell(cat *catalog.Catalog, from, to string) (upgrade.Cell, error) {
	cells, err := cat.Cells(catalog.Filter{From: []string{from}, To: []string{to}})
	if err != nil {
		return upgrade.Cell{}, err
	}
	return measuredAmong(cat.Name, from, to, cells)
}

func measuredAmong(catalogName, from, to string, cells []upgrade.Cell) (upgrade.Cell, error) {
	for _, c := range cells {
		if !c.Rollback && c.Order.IsDefault() {
			return c, nil
		}
	}
	return upgrade.Cell{}, fault.BadInputErr(fmt.Errorf("-from %s -to %s: catalog %s has no all-at-once cell %s→%s without rollback to measure (want one of its cells, e.g. -from v0.2.0 -to v0.2.2)",
		from, to, catalogName, from, to))
}

// measured is what one bench run measured, before it becomes report rows.
type measured struct {
	NodeImage                  time.Duration
	ClusterReady, ClusterFloor time.Duration
	// Cell is the measured cell's result: its phases as its pipeline recorded them.
	Cell cell.Result
	// The floors: kubectl apply + rollout status of from, then of to over
	// it, and a bare pod with the runner image.
	DeployFloor, UpgradeFloor, PodFloor time.Duration
	// ResetAfterCell is the pipeline's reset stage right after the cell,
	// with the Runners pods it left and their longest Grace period.
	ResetAfterCell time.Duration
	Runners        int
	Grace          time.Duration
	// ResetNoSessions is the reset stage of a platform without sessions.
	ResetNoSessions time.Duration
	Verdict         time.Duration
}

// cellRows names the rows of the cell's phases by their step keys; a step
// not listed here keeps the name its pipeline printed.
var cellRows = map[string]Phase{
	cell.StepReset:        {Name: "reset before the cell", Note: "(the cell's own first stage)"},
	cell.StepPreload:      {Name: "image preload"},
	cell.StepDeploy:       {Name: "deploy", FloorOf: "kubectl apply + rollout status"},
	cell.StepDetectors:    {Name: "start detectors"},
	cell.StepPreSessions:  {Name: "pre-upgrade sessions", Note: "(project ready + API session + CR session, each to Running)"},
	cell.StepUpgrade:      {Name: "upgrade rollout", FloorOf: "kubectl apply + rollout status"},
	cell.StepPostSessions: {Name: "post-upgrade sessions"},
	cell.StepRestart:      {Name: "restart of a pre-upgrade session", Note: "(beside the post-upgrade window)"},
	cell.StepRollback:     {Name: "rollback"},
}

// phasesOf turns a run's measurements into the report's rows, each phase
// once: the cell's from its recorded phases (the first of each step), the
// floors beside the phases they bound.
func phasesOf(m measured) ([]Phase, error) {
	res := m.Cell
	var rows []Phase
	add := func(p Phase) {
		if p.Floor > 0 {
			p.Ratio = float64(p.Took) / float64(p.Floor)
		}
		rows = append(rows, p)
	}
	add(Phase{Name: "node image (warm)", Took: m.NodeImage})
	add(Phase{Name: "cluster ready", Took: m.ClusterReady, Floor: m.ClusterFloor, FloorOf: "kind create with kind's defaults (no readiness wait)"})
	for _, step := range []string{cell.StepDeploy, cell.StepUpgrade} {
		if _, ok := res.Phase(step); !ok {
			return nil, fmt.Errorf("its pipeline recorded no %q phase (recorded: %s)", step, stepsText(res))
		}
	}
	seen := map[string]bool{}
	for _, t := range res.Phases {
		if seen[t.Step] {
			continue
		}
		seen[t.Step] = true
		row, ok := cellRows[t.Step]
		if !ok {
			row = Phase{Name: t.Name}
		}
		row.Took = t.Took
		switch t.Step {
		case cell.StepDeploy:
			row.Name, row.Floor = row.Name+" "+res.Cell.From, m.DeployFloor
		case cell.StepUpgrade:
			row.Floor = m.UpgradeFloor
		}
		add(row)
		switch t.Step {
		case cell.StepPreSessions:
			first, ok := firstSessionRunning(res.Ledger)
			if !ok {
				return nil, fmt.Errorf("the ledger has no API-created session reaching phase=Running")
			}
			add(Phase{Name: "first session Running", Took: first, Floor: m.PodFloor, FloorOf: "bare pod with the runner image", Note: "(create call answered → phase=Running)"})
		case cell.StepRestart:
			if st := res.RestartStop; st != nil {
				row := Phase{Name: "restart: old runner's stop", Took: st.Took, Note: "(" + st.Reason + ")"}
				if !st.Measured {
					row = Phase{Name: row.Name, Note: "(not measured: " + st.Reason + ")"}
				}
				add(row)
			}
		}
	}
	p50, maxD, n := detectionLatency(res.Ledger)
	add(Phase{Name: "detection latency p50", Took: p50, Note: fmt.Sprintf("(max %s over %d runner 401s)", maxD.Round(time.Millisecond), n)})
	add(Phase{Name: "verdict", Took: m.Verdict, Note: fmt.Sprintf("(%d ledger entries)", len(res.Ledger))})
	add(Phase{Name: "whole cell", Took: res.Duration, Note: fmt.Sprintf("(%s: verdict %s, %s)", res.Cell.Name(), res.Verdict, expectedText(res))})
	add(Phase{Name: "reset after a cell", Took: m.ResetAfterCell, Note: fmt.Sprintf("(%d runner pods, grace period %s)", m.Runners, m.Grace)})
	add(Phase{Name: "reset for next cell", Took: m.ResetNoSessions, Note: "(a platform without sessions)"})
	return rows, nil
}

func expectedText(res cell.Result) string {
	if res.Matched {
		return "as expected"
	}
	return "not as expected: " + res.Mismatch
}

func stepsText(res cell.Result) string {
	var steps []string
	for _, t := range res.Phases {
		steps = append(steps, t.Step)
	}
	if len(steps) == 0 {
		return "none"
	}
	return strings.Join(steps, ", ")
}

// timedReset runs the pipeline's reset stage — the one each cell starts
// with — and returns how long the pipeline recorded it took.
func timedReset(ctx context.Context, plat *pipeline.Platform) (time.Duration, error) {
	run, err := plat.RunStages(ctx, pipeline.ResetStage())
	run.Close()
	if err != nil {
		return 0, err
	}
	var took time.Duration
	for _, t := range plat.Progress.Phases() {
		if t.Step == pipeline.StepReset {
			took = t.Took
		}
	}
	return took, nil
}

// kubectlFloor is the plainest deploy: kubectl against the bench cluster.
type kubectlFloor struct{ Kubeconfig, Context string }

func (k kubectlFloor) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, kubectlBinary(), append([]string{"--kubeconfig", k.Kubeconfig, "--context", k.Context}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// applyAndRollOut applies a render with kubectl and waits for the operator's
// and the backend's rollouts: the floor of an install or an upgrade.
func (k kubectlFloor) applyAndRollOut(ctx context.Context, r *deploy.Rendered) (time.Duration, error) {
	y, err := r.ApplyableYAML()
	if err != nil {
		return 0, err
	}
	f := filepath.Join(os.TempDir(), fmt.Sprintf("uh-bench-%d.yaml", time.Now().UnixNano()))
	defer os.Remove(f)
	if err := os.WriteFile(f, y, 0o600); err != nil {
		return 0, err
	}
	apply := []string{"apply", "--server-side", "--force-conflicts", "--field-manager", "upgrade-harness", "-f", f}
	t := time.Now()
	if err := k.run(ctx, apply...); err != nil {
		// CRDs must be established before the objects that use them: apply once more.
		if err := k.run(ctx, apply...); err != nil {
			return 0, err
		}
	}
	for _, d := range []string{platform.OperatorDeployment, platform.BackendDeployment} {
		if err := k.run(ctx, "-n", platform.Namespace, "rollout", "status", "deploy/"+d, "--timeout=180s"); err != nil {
			return 0, err
		}
	}
	return time.Since(t), nil
}
