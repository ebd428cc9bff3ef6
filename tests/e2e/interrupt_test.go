package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/interrupt"
	"github.com/ambient-e2e/upgrade-harness/harness/proc"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// interruptPhase is a phase of `matrix` a signal is sent in: when a progress
// line containing Line appears, the signal goes After later (inside the phase,
// which lasts longer than that), and the interrupted cell must name Where.
type interruptPhase struct {
	Key   string // short, for cluster and directory names
	Line  string
	After time.Duration
	Where string
}

// The phases of one v0.2.0 → v0.2.1 cell, in the order the CLI runs them.
var (
	phaseClusterCreate = interruptPhase{"create", "[cluster] creating kind cluster", 8 * time.Second, "during cluster "}
	phaseDeploy        = interruptPhase{"deploy", "▶ deploy v0.2.0", 3 * time.Second, "during deploy v0.2.0"}
	phaseSessions      = interruptPhase{"sessions", "▶ create pre-upgrade sessions", time.Second, "during create pre-upgrade sessions"}
	phaseBaseline      = interruptPhase{"baseline", "… baseline on", time.Second, "during the traffic window before the upgrade"}
	phaseUpgrade       = interruptPhase{"upgrade", "▶ upgrade v0.2.0 → v0.2.1", 2 * time.Second, "during upgrade v0.2.0 → v0.2.1"}
	phaseEvidence      = interruptPhase{"evidence", "… traffic on every session after the upgrade", 4 * time.Second, "during the traffic window after the upgrade"}
)

// interruptOutcome is what one signalled run showed (the figures of the report).
type interruptOutcome struct {
	Signal       string   `json:"signal"`
	Phase        string   `json:"phase"`
	ExitCode     int      `json:"exitCode"`
	SignalToExit float64  `json:"signalToExitSeconds"`
	Interrupted  string   `json:"interrupted"`
	Leaks        []string `json:"leaks,omitempty"`
}

// interruptCase is one signal sent in one phase.
type interruptCase struct {
	Signal syscall.Signal
	Phase  interruptPhase
}

// TestInterrupt (in make test): SIGINT while the cell's cluster is being
// created and SIGTERM while its first release deploys (a platform half
// installed; the earliest phase inside the cell, 75 s sooner than the
// upgrade). Every other signal × phase is in TestInterruptEveryPhaseSlow.
func TestInterrupt(t *testing.T) {
	testInterrupts(t, []interruptCase{{syscall.SIGINT, phaseClusterCreate}, {syscall.SIGTERM, phaseDeploy}})
}

// TestInterruptEveryPhaseSlow: SIGINT and SIGTERM in each phase of a cell
// (about 20 minutes; make test leaves it out with E2E_SKIP).
func TestInterruptEveryPhaseSlow(t *testing.T) {
	var cases []interruptCase
	for _, ph := range []interruptPhase{phaseClusterCreate, phaseDeploy, phaseSessions, phaseBaseline, phaseUpgrade, phaseEvidence} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			cases = append(cases, interruptCase{sig, ph})
		}
	}
	testInterrupts(t, cases)
}

// testInterrupts runs `upgrade-harness matrix` once per case as a subprocess
// (its own session, so every process it starts can be found afterwards) and
// asserts that the run exits with the signal's code, leaves no cluster,
// container, process, kubeconfig or temporary file, and still writes reports
// with the cell interrupted and inconclusive.
func testInterrupts(t *testing.T, cases []interruptCase) {
	l := onOwnClusters()
	var bin string // built in the feature's setup: a filtered-out run builds nothing
	artifacts := artifactsDir()
	var outcomes []interruptOutcome
	fb := features.New("interrupts").WithLabel("area", "interrupts").
		WithSetup("build the CLI under test", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			bin = buildHarness(t)
			return ctx
		})
	for _, tc := range cases {
		sig, ph := tc.Signal, tc.Phase
		name := cluster.Name(strings.TrimPrefix(envOr("E2E_CLUSTER", "uh-e2e"), cluster.NamePrefix) + "-" + strings.ToLower(strings.TrimPrefix(interrupt.Name(sig), "SIG")) + "-" + ph.Key)
		fb = fb.Assess(fmt.Sprintf("%s during %s", interrupt.Name(sig), ph.Key), func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run := runAndSignal(ctx, t, bin, name, sig, ph, filepath.Join(artifacts, "interrupt", interrupt.Name(sig)+"-"+ph.Key))
			defer func() { outcomes = append(outcomes, run.outcome) }()
			run.check(ctx, t)
			return ctx
		})
	}
	f := fb.WithTeardown("report the figures", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		raw, _ := json.MarshalIndent(outcomes, "", "  ")
		t.Logf("interrupts (%d runs):\n%s", len(outcomes), raw)
		_ = os.MkdirAll(filepath.Join(artifacts, "interrupt"), 0o755)
		_ = os.WriteFile(filepath.Join(artifacts, "interrupt", strings.ReplaceAll(t.Name(), "/", "_")+".json"), raw, 0o644)
		return ctx
	}).Feature()
	l.Test(t, f)
}

// buildHarness builds the CLI under test from the tree as it is, where and as
// `make bin` builds it (its flags and CGO_ENABLED=0), so that after `make bin`
// (make test runs it first) go build finds it up to date instead of linking
// it again for every test (about a minute on 2 cores under load).
func buildHarness(t *testing.T) string {
	t.Helper()
	out := filepath.Join(repoRoot, "bin", "upgrade-harness")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", out, "./harness/cmd/upgrade-harness")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the CLI: %v\n%s", err, b)
	}
	t.Logf("CLI %s up to date in %s", out, time.Since(start).Round(100*time.Millisecond))
	return out
}

// signalledRun is one matrix run and what it left.
type signalledRun struct {
	name, dir, tmp string
	sig            syscall.Signal
	phase          interruptPhase
	pid            int
	sent           bool
	exitErr        error
	output         string
	outcome        interruptOutcome
}

func runAndSignal(ctx context.Context, t *testing.T, bin, name string, sig syscall.Signal, ph interruptPhase, dir string) *signalledRun {
	t.Helper()
	g := NewWithT(t)
	r := &signalledRun{name: name, dir: dir, sig: sig, phase: ph, tmp: t.TempDir()}
	r.outcome = interruptOutcome{Signal: interrupt.Name(sig), Phase: ph.Key, ExitCode: -1}
	g.Expect(os.RemoveAll(dir)).To(Succeed())
	g.Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	// Whatever happens below, nothing of this run stays on the machine.
	t.Cleanup(func() { r.removeLeftovers(t) })

	cmd := exec.Command(bin, "matrix", "-from", "v0.2.0", "-to", "v0.2.1", "-cluster", name, "-keep", "on-failure",
		"-artifacts", filepath.Join(dir, "artifacts"))
	cmd.Dir = repoRoot
	// TMPDIR of its own, to find any temporary file it leaves.
	cmd.Env = append(os.Environ(), "TMPDIR="+r.tmp, "NODE_IMAGE="+suite.NodeImage)
	// A session of its own: every process it starts stays in it, even those
	// in process groups of their own, and can be listed after it exited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logFile, err := os.Create(filepath.Join(dir, "output.log"))
	g.Expect(err).NotTo(HaveOccurred())
	defer logFile.Close()
	run, err := startCLI(cmd, ph.Line, logFile)
	g.Expect(err).NotTo(HaveOccurred())
	r.pid = cmd.Process.Pid

	var sentAt time.Time
	select {
	case <-run.Seen:
		select {
		case <-time.After(ph.After):
		case err := <-run.Exited:
			r.exitErr, r.output = err, run.Output()
			t.Fatalf("the run ended (%v) before the signal was due, %s after %q:\n%s", err, ph.After, ph.Line, tail(r.output, 40))
		}
		sentAt = time.Now()
		// SIGINT to the whole process group, as a terminal's Ctrl-C; SIGTERM
		// to the process alone, as kill and CI runners send it.
		target := r.pid
		if sig == syscall.SIGINT {
			target = -r.pid
		}
		g.Expect(syscall.Kill(target, sig)).To(Succeed())
		r.sent = true
	case err := <-run.Exited:
		r.output = run.Output()
		t.Fatalf("the run ended (%v) before its output showed %q:\n%s", err, ph.Line, tail(r.output, 40))
	case <-time.After(8 * time.Minute):
		t.Fatalf("no %q in the output within 8 minutes", ph.Line)
	}
	select {
	case r.exitErr = <-run.Exited:
	case <-time.After(4 * time.Minute):
		t.Fatalf("still running 4 minutes after %s", interrupt.Name(sig))
	}
	r.outcome.SignalToExit = time.Since(sentAt).Round(100 * time.Millisecond).Seconds()
	r.outcome.ExitCode = cmd.ProcessState.ExitCode()
	r.output = run.Output()
	t.Logf("%s during %s: exit %d, %.1f s after the signal (log %s)", interrupt.Name(sig), ph.Key, r.outcome.ExitCode, r.outcome.SignalToExit, filepath.Join(dir, "output.log"))
	return r
}

// check asserts the exit code, that nothing was left and what the reports say.
func (r *signalledRun) check(ctx context.Context, t *testing.T) {
	g := NewWithT(t)
	want := 128 + int(r.sig)
	g.Expect(r.outcome.ExitCode).To(Equal(want), "exit code after %s (0–3 are verdicts and failures)\n%s", interrupt.Name(r.sig), tail(r.output, 40))
	g.Expect(r.outcome.ExitCode).NotTo(BeNumerically("<=", exitcode.Infrastructure))
	g.Expect(r.output).To(ContainSubstring(fmt.Sprintf("interrupted by %s (exit %d)", interrupt.Name(r.sig), want)))

	r.outcome.Leaks = r.leaks(ctx)
	g.Expect(r.outcome.Leaks).To(BeEmpty(), "what the interrupted run left behind")

	raw, err := os.ReadFile(filepath.Join(r.dir, "artifacts", "results.json"))
	g.Expect(err).NotTo(HaveOccurred(), "results.json is written after an interrupt")
	var doc report.ResultsDocument
	g.Expect(json.Unmarshal(raw, &doc)).To(Succeed())
	g.Expect(doc.Results).To(HaveLen(1), "the interrupted cell is in results.json")
	g.Expect(doc.Summary).NotTo(BeNil(), "results.json has the run's summary")
	g.Expect(doc.Summary.ExitCode).To(HaveValue(Equal(want)), "the reports state the code the process exits with: %s", doc.Summary.Headline)
	res := doc.Results[0]
	r.outcome.Interrupted = res.Interrupted
	g.Expect(res.Interrupted).To(HavePrefix(interrupt.Name(r.sig)+" "), "the cell names the signal")
	g.Expect(res.Interrupted).To(ContainSubstring(r.phase.Where), "the cell names the phase it was stopped in")
	g.Expect(res.Verdict).To(Equal(verdict.Inconclusive))
	g.Expect(res.Matched).To(BeFalse(), "an interrupted cell never matches its expectation (pass)")
	g.Expect(res.Error).To(ContainSubstring("interrupted by " + interrupt.Name(r.sig)))
	g.Expect(res.KeptCluster).To(BeEmpty(), "no cluster is kept for an interrupted cell with -keep on-failure")
	junit, err := os.ReadFile(filepath.Join(r.dir, "artifacts", "junit.xml"))
	g.Expect(err).NotTo(HaveOccurred(), "junit.xml is written after an interrupt")
	g.Expect(string(junit)).To(ContainSubstring(`type="interrupted"`))
	g.Expect(filepath.Join(r.dir, "artifacts", "summary.md")).To(BeAnExistingFile())
}

// leaks lists what the run left: processes of its session, the kind cluster
// and its containers, its kubeconfig, files in its TMPDIR.
func (r *signalledRun) leaks(ctx context.Context) []string {
	var out []string
	// Processes outside the harness's control (a container's shim) are the
	// engine's children, never in this session.
	for _, pid := range proc.InSession(r.pid) {
		out = append(out, "process "+proc.Describe(pid))
	}
	names, err := cluster.ListHarnessClusters()
	if err != nil {
		out = append(out, "kind clusters could not be listed: "+err.Error())
	}
	if slices.Contains(names, r.name) {
		out = append(out, "kind cluster "+r.name)
	}
	containers, err := cluster.ContainersOf(ctx, r.name)
	if err != nil {
		out = append(out, "containers could not be listed: "+err.Error())
	}
	for _, c := range containers {
		out = append(out, "container "+c)
	}
	kc := filepath.Join(cluster.DefaultKubeconfigDir(), r.name+".yaml")
	if _, err := os.Stat(kc); err == nil {
		out = append(out, "kubeconfig "+kc)
	}
	entries, _ := os.ReadDir(r.tmp)
	for _, e := range entries {
		out = append(out, "temporary file "+filepath.Join(r.tmp, e.Name()))
	}
	return out
}

// removeLeftovers kills what the run left running and deletes its cluster, by
// name, so a failed assertion never leaves anything on the shared machine.
func (r *signalledRun) removeLeftovers(t *testing.T) {
	if r.pid == 0 {
		return
	}
	_ = syscall.Kill(-r.pid, syscall.SIGKILL) // the harness's own group, if it still runs
	for _, pid := range proc.InSession(r.pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names, _ := cluster.ListHarnessClusters()
	containers, _ := cluster.ContainersOf(ctx, r.name)
	if slices.Contains(names, r.name) || len(containers) > 0 {
		t.Logf("deleting what the run left of cluster %s", r.name)
		if err := cluster.New(r.name, cluster.WithTakeOver()).Destroy(ctx); err != nil {
			t.Logf("deleting %s: %v", r.name, err)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
