package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// TestMeasuredCellIsThePlainAllAtOnceCell: the simulated catalog lists a
// rollback cell beside the plain one for v0.2.0→v0.2.2 (after it) and for
// v0.2.2→v0.2.3 (before it); bench measures the plain one either way.
func TestMeasuredCellIsThePlainAllAtOnceCell(t *testing.T) {
	cat, err := catalog.Load("../../fixtures/releases/simulated.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"v0.2.0", "v0.2.2"}, {"v0.2.2", "v0.2.3"}} {
		all, err := cat.Cells(catalog.Filter{From: []string{pair[0]}, To: []string{pair[1]}})
		if err != nil {
			t.Fatal(err)
		}
		rollbacks := 0
		for _, c := range all {
			if c.Rollback {
				rollbacks++
			}
		}
		if rollbacks == 0 {
			t.Fatalf("%s→%s: the catalog no longer has a rollback cell beside the plain one; the test shows nothing", pair[0], pair[1])
		}
		c, err := MeasuredCell(cat, pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		if c.Rollback || !c.Order.IsDefault() || c.Name() != pair[0]+"-"+pair[1] {
			t.Errorf("%s→%s: measures %s (rollback %v, order %q), want the plain all-at-once cell %s-%s", pair[0], pair[1], c.Name(), c.Rollback, c.Order.Text, pair[0], pair[1])
		}
	}
	// Only a rollback cell or only an ordered one: nothing to measure, said as bad input.
	_, err = measuredAmong("k", "v1", "v2", []upgrade.Cell{{From: "v1", To: "v2", Rollback: true}, {From: "v1", To: "v2", Order: upgrade.Order{Text: "operator,runner"}}})
	if err == nil || fault.KindOf(err) != fault.KindBadInput || !strings.Contains(err.Error(), "-from v1 -to v2") {
		t.Errorf("err = %v, want bad input naming -from v1 -to v2", err)
	}
}

// TestPhasesOfTakesEachPhaseFromThePipelineOnce: every row of the cell is
// the phase its pipeline recorded (the first of a step), each row once, the
// floors beside the phases they bound, the reset after the cell with the
// runner pods it met.
func TestPhasesOfTakesEachPhaseFromThePipelineOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	ph := func(step, name string, took time.Duration) progress.Phase {
		return progress.Phase{Step: step, Name: name, Took: took}
	}
	res := cell.Result{Cell: upgrade.Cell{From: "v0.2.0", To: "v0.2.2"}, Verdict: verdict.Fail, Matched: true, Duration: 85 * time.Second,
		Phases: []progress.Phase{
			ph(cell.StepReset, "reset cluster", 300*time.Millisecond),
			ph(cell.StepPreload, "preload images", 4*time.Second),
			ph(cell.StepDeploy, "deploy v0.2.0", 13*time.Second),
			ph(cell.StepDetectors, "start detectors", 200*time.Millisecond),
			ph(cell.StepPreSessions, "create pre-upgrade sessions", 6*time.Second),
			ph(cell.StepUpgrade, "upgrade v0.2.0 → v0.2.2 (all-at-once)", 14*time.Second),
			ph(cell.StepPostSessions, "create post-upgrade sessions", 5*time.Second),
			ph(cell.StepRestart, "restart pre-upgrade session a", 9*time.Second),
			ph("wire", "wire witness", 2*time.Second),
			ph(cell.StepReset, "reset cluster", time.Hour), // a second reset is not the cell's
		},
		RestartStop: &session.RunnerStop{Measured: true, Took: 3 * time.Second, Reason: "runner stopped on SIGTERM"},
		Ledger: []ledger.Observation{
			{Time: t0, Signal: ledger.SignalAPI, Path: "POST agentic-sessions", Status: 201},
			{Time: t0.Add(2500 * time.Millisecond), Signal: ledger.SignalCondition, Detail: "phase=Running"},
			{Time: t0.Add(time.Minute), Recorded: t0.Add(time.Minute + 2*time.Millisecond), Signal: ledger.SignalRunner401},
		}}
	m := measured{NodeImage: time.Second, ClusterReady: 30 * time.Second, ClusterFloor: 12 * time.Second, Cell: res,
		DeployFloor: 10 * time.Second, UpgradeFloor: 7 * time.Second, PodFloor: time.Second,
		ResetAfterCell: 8 * time.Second, Runners: 4, Grace: time.Minute, ResetNoSessions: 5 * time.Second, Verdict: 5 * time.Millisecond}
	rows, err := phasesOf(m)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Phase{}
	var names []string
	for _, r := range rows {
		if _, dup := byName[r.Name]; dup {
			t.Errorf("row %q printed twice", r.Name)
		}
		byName[r.Name] = r
		names = append(names, r.Name)
	}
	want := []string{"node image (warm)", "cluster ready", "reset before the cell", "image preload", "deploy v0.2.0", "start detectors",
		"pre-upgrade sessions", "first session Running", "upgrade rollout", "post-upgrade sessions", "restart of a pre-upgrade session",
		"restart: old runner's stop", "wire witness", "detection latency p50", "verdict", "whole cell", "reset after a cell", "reset for next cell"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	for name, w := range map[string]Phase{
		"reset before the cell":      {Took: 300 * time.Millisecond},
		"deploy v0.2.0":              {Took: 13 * time.Second, Floor: 10 * time.Second, Ratio: 1.3},
		"upgrade rollout":            {Took: 14 * time.Second, Floor: 7 * time.Second, Ratio: 2},
		"first session Running":      {Took: 2500 * time.Millisecond, Floor: time.Second, Ratio: 2.5},
		"wire witness":               {Took: 2 * time.Second},
		"whole cell":                 {Took: 85 * time.Second},
		"reset after a cell":         {Took: 8 * time.Second},
		"restart: old runner's stop": {Took: 3 * time.Second},
	} {
		got := byName[name]
		if got.Took != w.Took || got.Floor != w.Floor || (w.Ratio != 0 && got.Ratio != w.Ratio) {
			t.Errorf("%s: took %s floor %s ratio %v, want %s %s %v", name, got.Took, got.Floor, got.Ratio, w.Took, w.Floor, w.Ratio)
		}
	}
	if n := byName["reset after a cell"].Note; n != "(4 runner pods, grace period 1m0s)" {
		t.Errorf("reset after a cell: note %q, want the runner pods and grace period it met", n)
	}
	if n := byName["whole cell"].Note; !strings.Contains(n, "verdict fail, as expected") {
		t.Errorf("whole cell: note %q, want the cell's verdict", n)
	}
	// The table is the one printout of the rows: each phase in it once.
	var table bytes.Buffer
	PrintTable(&table, &Report{Phases: rows})
	for _, name := range []string{"whole cell", "reset after a cell", "upgrade rollout"} {
		if n := strings.Count(table.String(), name); n != 1 {
			t.Errorf("table prints %q %d times, want once:\n%s", name, n, table.String())
		}
	}

	// A result without its upgrade phase cannot be measured: an error, not a 0 s row.
	res.Phases = res.Phases[:5]
	m.Cell = res
	if _, err := phasesOf(m); err == nil || !strings.Contains(err.Error(), `no "upgrade" phase`) {
		t.Errorf("err = %v, want the missing upgrade phase named", err)
	}
}

// TestBenchJSONExtendsTheFormat: bench.json keeps every key it had and adds
// the cell's phases as its pipeline recorded them.
func TestBenchJSONExtendsTheFormat(t *testing.T) {
	raw, err := json.Marshal(&Report{Phases: []Phase{{Name: "upgrade rollout", Took: time.Second}},
		CellPhases: []progress.Phase{{Step: cell.StepUpgrade, Name: "upgrade v0.2.0 → v0.2.2 (all-at-once)", Took: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"when"`, `"nodeImage"`, `"cell"`, `"phases":[{"name":"upgrade rollout","tookNs":1000000000}]`, `"detectionP50Ns"`,
		`"detectionMaxNs"`, `"detections"`, `"scaling"`, `"harnessPeakRssMiB"`, `"clusterPeakMiB"`, `"cellPhases":[{"step":"upgrade"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("bench.json lacks %s:\n%s", key, raw)
		}
	}
}
