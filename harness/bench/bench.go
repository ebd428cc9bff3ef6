// Package bench measures, in one run on one machine, how long each phase of a
// cell takes and how close it is to its floor (the same work done the plainest
// way: kubectl apply + rollout status, a bare pod, kind's own create), how the
// cost grows with the matrix, and the memory the harness and cluster use.
// The cell runs as the matrix runs each of its cells, and its phases are the
// ones its pipeline recorded: bench wires no stage of its own.
// Figures are reported, never asserted; a phase that errors fails the run.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
	"github.com/ambient-e2e/upgrade-harness/harness/env/nodeimage"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Phase is one measured phase, with its floor when one exists.
type Phase struct {
	Name    string        `json:"name"`
	Took    time.Duration `json:"tookNs"`
	Floor   time.Duration `json:"floorNs,omitempty"`
	FloorOf string        `json:"floorOf,omitempty"`
	Ratio   float64       `json:"ratio,omitempty"`
	Note    string        `json:"note,omitempty"`
}

// Scale is the cost of a matrix of N cells.
type Scale struct {
	Cells       int           `json:"cells"`
	Mode        string        `json:"mode"` // "reused" or "fresh"
	Total       time.Duration `json:"totalNs"`
	PerCell     time.Duration `json:"perCellNs"`
	Measured    bool          `json:"measured"`
	Explanation string        `json:"explanation,omitempty"`
}

// Report is bench.json.
type Report struct {
	When             time.Time     `json:"when"`
	NodeImage        string        `json:"nodeImage"`
	Cell             string        `json:"cell"`
	Phases           []Phase       `json:"phases"`
	DetectionP50     time.Duration `json:"detectionP50Ns"`
	DetectionMax     time.Duration `json:"detectionMaxNs"`
	Detections       int           `json:"detections"`
	Scaling          []Scale       `json:"scaling"`
	HarnessPeakRSSMB float64       `json:"harnessPeakRssMiB"`
	ClusterPeakMB    float64       `json:"clusterPeakMiB"`

	// Parallel is the default matrix's wall time per -parallel value.
	Parallel []ParallelRun `json:"parallel,omitempty"`

	// CellPhases are the measured cell's phases as its pipeline recorded
	// them (the phases of its results.json), which the cell's rows come from.
	CellPhases []progress.Phase `json:"cellPhases,omitempty"`
}

// Input configures a run.
type Input struct {
	Catalog    *catalog.Catalog
	NodeImage  string
	NodeImageT time.Duration // time to resolve the (warm) node image
	From, To   string
	// ScaleCells are the matrix sizes measured on one reused cluster.
	ScaleCells []int
	// FreshCells are the matrix sizes measured with a fresh cluster per cell.
	FreshCells []int
	Artifacts  string
	Log        io.Writer
	Timing     cell.Timing

	// Parallel are the -parallel values the catalog's whole matrix is timed
	// with (empty: not measured).
	Parallel []int
	// ExitCode is how the command maps a matrix run's outcome to its exit
	// code (each -parallel run records it; nil records 0).
	ExitCode func(error) int
}

// Run measures everything and writes $ARTIFACTS/bench.json.
func Run(ctx context.Context, in Input) (*Report, error) {
	one, err := MeasuredCell(in.Catalog, in.From, in.To)
	if err != nil {
		return nil, err
	}
	rep := &Report{When: time.Now(), NodeImage: in.NodeImage, Cell: one.Name()}
	fromRel, _ := in.Catalog.Release(in.From)
	toRel, _ := in.Catalog.Release(in.To)
	// The renders only feed the floors: the cell renders its own.
	fromR, err := deploy.RenderRelease(in.Catalog, fromRel, platform.Images{})
	if err != nil {
		return nil, err
	}
	toR, err := deploy.RenderRelease(in.Catalog, toRel, platform.Images{})
	if err != nil {
		return nil, err
	}
	// The matrix runs its cells with the probe and the wire witness; so does
	// the measured cell, and no figure below pays for building them.
	diag, err := matrix.BuildDiagnosisImages(ctx, progress.New(in.Log), in.Log)
	if err != nil {
		return nil, fmt.Errorf("bench: diagnosis images: %w", err)
	}

	mem := startClusterSampler(ctx)
	defer mem.stop()
	m := measured{NodeImage: in.NodeImageT}

	// Cluster creation: kind's own defaults (no wait) vs ours (Ready + CoreDNS).
	floorName, ourName := cluster.Name("bench-floor"), cluster.Name("bench")
	floor := cluster.New(floorName, cluster.WithImage(in.NodeImage), cluster.WithLog(io.Discard))
	t0 := time.Now()
	if err := floor.CreateNoWait(ctx); err != nil {
		return nil, fmt.Errorf("bench: kind create (floor): %w", err)
	}
	m.ClusterFloor = time.Since(t0)
	_ = floor.Destroy(context.Background())
	c := cluster.New(ourName, cluster.WithImage(in.NodeImage), cluster.WithLog(in.Log))
	t0 = time.Now()
	if _, err := c.Create(ctx); err != nil {
		return nil, fmt.Errorf("bench: cluster: %w", err)
	}
	defer c.Destroy(context.Background())
	m.ClusterReady = time.Since(t0)
	target, err := cluster.NewKindTarget(c)
	if err != nil {
		return nil, err
	}

	// The cell, run as the matrix runs each of its cells (its diagnose stage
	// included, no failure bundle: bench reports figures, not cells); its
	// phases are the ones its pipeline recorded, printed once, in the table
	// at the end.
	tm := in.Timing
	m.Cell = matrix.RunOneCell(ctx, matrix.OneCellInput{Target: target, Catalog: in.Catalog, Cell: one, From: fromRel, To: toRel,
		ProbeImage: diag.Probe, WireImage: diag.Wire, Timing: &tm, Log: in.Log}).Result
	if m.Cell.Error != "" {
		return nil, fmt.Errorf("bench: cell %s: %s", one.Name(), m.Cell.Error)
	}

	// The reset a matrix pays before its next cell: the cell left its
	// sessions running, and a runner holding a stream waits out its grace
	// period on SIGTERM (docs/platform.md §11 item 4). It is the pipeline's
	// reset stage, the one each cell starts with.
	if m.Runners, m.Grace, err = sessionPods(ctx, target.Kube); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	plat := pipeline.New(target)
	if m.ResetAfterCell, err = timedReset(ctx, plat); err != nil {
		return nil, fmt.Errorf("bench: reset after the cell: %w", err)
	}

	// The floors, on the images the cell loaded: the same work done the
	// plainest way, outside the pipeline.
	kc := kubectlFloor{Kubeconfig: c.GetKubeconfig(), Context: c.GetKubectlContext()}
	if m.DeployFloor, err = kc.applyAndRollOut(ctx, fromR); err != nil {
		return nil, fmt.Errorf("bench: kubectl floor for deploy: %w", err)
	}
	if m.PodFloor, err = barePodStart(ctx, target.Kube, fromR); err != nil {
		return nil, fmt.Errorf("bench: bare pod floor: %w", err)
	}
	if m.UpgradeFloor, err = kc.applyAndRollOut(ctx, toR); err != nil {
		return nil, fmt.Errorf("bench: kubectl floor for upgrade: %w", err)
	}
	// The platform without sessions, as the floors left it.
	if m.ResetNoSessions, err = timedReset(ctx, plat); err != nil {
		return nil, fmt.Errorf("bench: reset after the floors: %w", err)
	}
	_ = c.Destroy(context.Background())

	t0 = time.Now()
	_ = verdict.Combine(verdict.Evaluate(verdict.EvaluateInput{Observations: m.Cell.Ledger}))
	m.Verdict = time.Since(t0)
	rep.CellPhases = m.Cell.Phases
	if rep.Phases, err = phasesOf(m); err != nil {
		return nil, fmt.Errorf("bench: cell %s: %w", one.Name(), err)
	}
	rep.DetectionP50, rep.DetectionMax, rep.Detections = detectionLatency(m.Cell.Ledger)

	// Scaling: N cells on one reused cluster vs a fresh cluster per cell.
	all, err := in.Catalog.Cells(catalog.Filter{})
	if err != nil {
		return nil, err
	}
	for _, n := range in.ScaleCells {
		s, err := runScale(ctx, in, all, n, false)
		if err != nil {
			return nil, err
		}
		rep.Scaling = append(rep.Scaling, s)
	}
	for _, n := range in.FreshCells {
		s, err := runScale(ctx, in, all, n, true)
		if err != nil {
			return nil, err
		}
		rep.Scaling = append(rep.Scaling, s)
	}

	rep.HarnessPeakRSSMB = peakRSSMiB()
	rep.ClusterPeakMB = mem.peakMiB()
	// Last, and outside the peaks above: its runs hold several clusters at once.
	if rep.Parallel, err = runParallel(ctx, in); err != nil {
		return nil, err
	}
	return rep, write(in, rep)
}

func runScale(ctx context.Context, in Input, all []upgrade.Cell, n int, fresh bool) (Scale, error) {
	if n > len(all) {
		n = len(all)
	}
	var names []string
	for _, c := range all[:n] {
		names = append(names, c.Name())
	}
	mode := "reused"
	if fresh {
		mode = "fresh"
	}
	t0 := time.Now()
	tm := in.Timing
	var total time.Duration
	if !fresh {
		_, err := matrix.Run(ctx, matrix.Input{Catalog: in.Catalog.File,
			NodeImage: in.NodeImage, ClusterName: cluster.Name(fmt.Sprintf("bench-scale-%d", n)), Keep: matrix.KeepNever,
			Artifacts: filepath.Join(in.Artifacts, "bench", mode, strconv.Itoa(n)), Log: io.Discard, Timing: &tm, CellNames: names})
		if err != nil && ctx.Err() != nil {
			return Scale{}, err
		}
		total = time.Since(t0)
	} else {
		for i, name := range names {
			_, err := matrix.Run(ctx, matrix.Input{Catalog: in.Catalog.File, NodeImage: in.NodeImage,
				ClusterName: cluster.Name(fmt.Sprintf("bench-fresh-%d", i)), Keep: matrix.KeepNever,
				Artifacts: filepath.Join(in.Artifacts, "bench", mode, strconv.Itoa(n)), Log: io.Discard, Timing: &tm, CellNames: []string{name}})
			if err != nil && ctx.Err() != nil {
				return Scale{}, err
			}
		}
		total = time.Since(t0)
	}
	s := Scale{Cells: n, Mode: mode, Total: total, PerCell: total / time.Duration(n), Measured: true}
	fmt.Fprintf(in.Log, "[bench] scale %-6s %d cells: %s (%s per cell)\n", mode, n, total.Round(time.Second), s.PerCell.Round(time.Second))
	return s, nil
}

// sessionPods counts the runner pods of every namespace and returns the
// longest grace period among them.
func sessionPods(ctx context.Context, cs kubernetes.Interface) (int, time.Duration, error) {
	pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: platform.SessionLabel})
	if err != nil {
		return 0, 0, fmt.Errorf("list runner pods (label %s): %w", platform.SessionLabel, err)
	}
	var grace time.Duration
	for _, p := range pods.Items {
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil && time.Duration(*g)*time.Second > grace {
			grace = time.Duration(*g) * time.Second
		}
	}
	return len(pods.Items), grace, nil
}

// kubectlBinary is kubectl from PATH, else the one the node image build compiled.
func kubectlBinary() string {
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	if p, ok := nodeimage.BuiltKubectl(); ok {
		return p
	}
	return "kubectl"
}

// barePodStart is the floor of a session start: one pod with the runner image.
func barePodStart(ctx context.Context, cs kubernetes.Interface, r *deploy.Rendered) (time.Duration, error) {
	runners, _, err := deploy.RegistryImages(r)
	if err != nil || len(runners) == 0 {
		return 0, fmt.Errorf("no runner image in the render: %v", err)
	}
	ns := "uh-bench-pod"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	defer cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	t0 := time.Now()
	_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "floor"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "runner", Image: runners[0], ImagePullPolicy: corev1.PullIfNotPresent}}}}, metav1.CreateOptions{})
	if err != nil {
		return 0, err
	}
	for time.Since(t0) < 2*time.Minute {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "floor", metav1.GetOptions{})
		if err == nil && cluster.PodReady(*p) {
			return time.Since(t0), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("bare runner pod not Ready within 2m")
}

// firstSessionRunning is the time from the answer of the first session
// create call to the first phase=Running condition after it: backend, CR,
// operator, Secret, runner pod and status, against a bare pod's start.
func firstSessionRunning(obs []ledger.Observation) (time.Duration, bool) {
	var created time.Time
	for _, o := range obs {
		if created.IsZero() {
			if o.Signal == ledger.SignalAPI && o.Path == "POST agentic-sessions" && o.Status/100 == 2 {
				created = o.Time
			}
			continue
		}
		if o.Signal == ledger.SignalCondition && o.Detail == "phase=Running" && o.Time.After(created) {
			return o.Time.Sub(created), true
		}
	}
	return 0, false
}

func detectionLatency(obs []ledger.Observation) (p50, max time.Duration, n int) {
	var ds []time.Duration
	for _, o := range obs {
		if o.Signal == ledger.SignalRunner401 && !o.Time.IsZero() {
			ds = append(ds, o.Recorded.Sub(o.Time))
		}
	}
	if len(ds) == 0 {
		return 0, 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[len(ds)-1], len(ds)
}

func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

// clusterSampler polls the memory of every harness kind node container.
type clusterSampler struct {
	mu   sync.Mutex
	peak float64
	done chan struct{}
}

func startClusterSampler(ctx context.Context) *clusterSampler {
	s := &clusterSampler{done: make(chan struct{})}
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				s.sample(ctx)
			}
		}
	}()
	return s
}

func (s *clusterSampler) sample(ctx context.Context) {
	out, err := docker.Default.Run(ctx, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}")
	if err != nil {
		return
	}
	total := 0.0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], cluster.NamePrefix) {
			continue
		}
		total += parseMiB(f[1])
	}
	s.mu.Lock()
	if total > s.peak {
		s.peak = total
	}
	s.mu.Unlock()
}

func parseMiB(s string) float64 {
	units := map[string]float64{"KiB": 1.0 / 1024, "MiB": 1, "GiB": 1024, "kB": 1.0 / 1024, "MB": 1, "GB": 1024, "B": 1.0 / (1 << 20)}
	for _, u := range []string{"KiB", "MiB", "GiB", "kB", "MB", "GB", "B"} {
		if strings.HasSuffix(s, u) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u), 64)
			if err == nil {
				return v * units[u]
			}
		}
	}
	return 0
}

func (s *clusterSampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

func (s *clusterSampler) peakMiB() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func write(in Input, rep *Report) error {
	if err := os.MkdirAll(in.Artifacts, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(in.Artifacts, "bench.json"), raw, 0o644); err != nil {
		return err
	}
	var md strings.Builder
	WriteMarkdown(&md, rep)
	if err := os.WriteFile(filepath.Join(in.Artifacts, "bench.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	PrintTable(in.Log, rep)
	return nil
}

// WriteMarkdown writes the report as the dated section docs/benchmarks.md
// publishes: the figures come from bench.json, never typed in by hand.
func WriteMarkdown(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "### %s — cell %s, node image %s\n\n", rep.When.UTC().Format("2006-01-02 15:04 MST"), rep.Cell, rep.NodeImage)
	fmt.Fprintf(w, "| phase | took | floor | ratio | floor is |\n|---|---|---|---|---|\n")
	for _, p := range rep.Phases {
		floor, ratio := "", ""
		if p.Floor > 0 {
			floor, ratio = p.Floor.Round(10*time.Millisecond).String(), fmt.Sprintf("%.2f", p.Ratio)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", p.Name, shown(p.Took), floor, ratio, strings.TrimSpace(p.FloorOf+" "+p.Note))
	}
	if rep.Detections > 0 {
		fmt.Fprintf(w, "\nDetection latency (runner 401 line → ledger): p50 %s, max %s over %d runner 401s.\n", shown(rep.DetectionP50), shown(rep.DetectionMax), rep.Detections)
	}
	if len(rep.Scaling) > 0 {
		fmt.Fprintf(w, "\n| cells | mode | total | per cell |\n|---|---|---|---|\n")
		for _, s := range rep.Scaling {
			fmt.Fprintf(w, "| %d | %s | %s | %s |\n", s.Cells, s.Mode, s.Total.Round(time.Second), s.PerCell.Round(time.Second))
		}
	}
	writeParallelMarkdown(w, rep.Parallel)
	fmt.Fprintf(w, "\nPeak memory: harness %.0f MiB, cluster %.0f MiB.\n", rep.HarnessPeakRSSMB, rep.ClusterPeakMB)
}

// PrintTable prints the report as the table the issue notes quote.
func PrintTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "phase\ttook\tfloor\tratio\tfloor is\n")
	for _, p := range rep.Phases {
		floor, ratio := "-", "-"
		if p.Floor > 0 {
			floor, ratio = p.Floor.Round(10*time.Millisecond).String(), fmt.Sprintf("%.2f", p.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\n", p.Name, shown(p.Took), floor, ratio, p.FloorOf, p.Note)
	}
	if len(rep.Scaling) > 0 {
		fmt.Fprintf(tw, "\ncells\tmode\ttotal\tper cell\t\n")
	}
	for _, s := range rep.Scaling {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t\n", s.Cells, s.Mode, s.Total.Round(time.Second), s.PerCell.Round(time.Second))
	}
	printParallel(tw, rep.Parallel)
	fmt.Fprintf(tw, "\nharness peak RSS\t%.0f MiB\t\t\t\ncluster peak memory\t%.0f MiB\t\t\t\n", rep.HarnessPeakRSSMB, rep.ClusterPeakMB)
	tw.Flush()
}

// shown rounds a figure for the table: to 10 ms, but sub-second figures such
// as detection latency keep a tenth of a millisecond.
func shown(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(10 * time.Millisecond)
}
