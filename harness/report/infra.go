package report

import (
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
)

// InfraFailure says where a cell that could not run stopped and what to try
// next. It is its own outcome, never a verdict.
type InfraFailure struct {
	// Step is the phase that failed as the run printed it ("cluster
	// uh-matrix", "deploy v0.2.0"), or what the error names when the cell
	// recorded no failed phase.
	Step  string `json:"step"`
	Error string `json:"error"`
	// Try is the next thing to do, in one or two sentences.
	Try string `json:"try"`
}

// InfraFailureOf returns the infrastructure failure of r; nil unless its
// outcome is OutcomeInfrastructure.
func InfraFailureOf(r cellrun.Report) *InfraFailure {
	if OutcomeOf(r) != OutcomeInfrastructure {
		return nil
	}
	f := &InfraFailure{Error: OneLine(r.Error)}
	key := ""
	if ph, ok := failedPhase(r); ok {
		f.Step, key = ph.Name, ph.Step
	} else {
		f.Step, key = stepNamedBy(r.Error)
	}
	f.Try = tryFor(key, r.Error)
	return f
}

// failedPhase is the innermost phase whose error is the cell's: phases are
// listed in the order they ended, so the first match is the innermost.
func failedPhase(r cellrun.Report) (progress.Phase, bool) {
	var last progress.Phase
	found := false
	for _, ph := range r.Phases {
		if ph.Error == "" {
			continue
		}
		if strings.Contains(r.Error, ph.Error) {
			return ph, true
		}
		last, found = ph, true
	}
	return last, found
}

// stepNamedBy names the step of a cell that recorded no phase (the matrix
// could not make its cluster) from the error's own words.
func stepNamedBy(err string) (name, key string) {
	switch {
	case strings.Contains(err, "kind create cluster"), strings.Contains(err, "waiting for node Ready"):
		return "create the kind cluster", stepCluster
	case strings.Contains(err, "container engine"):
		return "the container engine", stepEngine
	}
	return "before the cell's first phase", ""
}

// Step keys of the phases the cell package does not name: the matrix's
// cluster phase ("cluster <name>") and the engine watch.
const (
	stepCluster = "cluster"
	stepEngine  = "engine"
)

// tryFor is what to try after a failure in step (a cell.Step* key).
func tryFor(step, err string) string {
	if strings.Contains(err, "container engine") && strings.Contains(err, "stopped answering") {
		step = stepEngine
	}
	if strings.HasPrefix(step, stepCluster+" ") {
		step = stepCluster
	}
	switch step {
	case stepEngine:
		return "the container engine stopped: check `docker info` (and `bin/upgrade-harness engine`), then rerun the repro line."
	case stepCluster:
		return "check `docker info`, free disk and memory, and `bin/upgrade-harness cluster list` for a cluster left behind; then rerun the repro line."
	case cell.StepReset:
		return "the cluster the previous cell left could not be reset: rerun this cell alone with its repro line (a fresh cluster); the previous cell's bundle shows what it left."
	case cell.StepPreload:
		return "the release images could not be loaded into the node: `make images` for simulated releases, or check the catalog's image references and `docker images`; then rerun the repro line."
	case cell.StepDeploy:
		return "the from release did not roll out: the bundle's events.yaml and pod logs say why (image pull, crash loop, probe); then rerun the repro line."
	case cell.StepUpgrade, cell.StepRollback:
		return "the rollout did not finish: the bundle's events.yaml, the Rollouts table and the new pods' logs say why; then rerun the repro line."
	case cell.StepDetectors:
		return "log streams or watches could not start: check the API server (`kubectl get --raw /readyz` on the kept cluster); then rerun the repro line."
	case cell.StepPreSessions, cell.StepPostSessions, cell.StepRestart:
		return "the backend did not create or run a session: the backend and operator logs in the bundle say why; then rerun the repro line."
	}
	return "read the error and the cell's log, then rerun the cell alone with its repro line."
}
