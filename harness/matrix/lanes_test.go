package matrix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// fakeCells is a cell runner without clusters: it records which cluster ran
// which cell when, and how many ran at once.
type fakeCells struct {
	mu       sync.Mutex
	running  int
	peak     int
	busy     map[string]string   // cluster → the cell running on it
	overlaps []string            // a cell started on a cluster busy with another
	byTarget map[string][]string // cluster → its cells in the order they started
	opened   []string
	started  int
	// failOpen names a cluster whose creation fails.
	failOpen string
	// kind gives targets a (never created) kind cluster, so keeping and
	// deleting clusters is exercised.
	kind bool
	// hold, when set, is called by every run before it ends (with its start
	// number, 1-based): it decides how long the run takes.
	hold func(ctx context.Context, n int, c cell.Input)
	// outcome, when set, gives a run's verdict (default: its expectation).
	outcome func(c cell.Input, run int) verdict.Verdict
}

func newFakeCells() *fakeCells {
	return &fakeCells{busy: map[string]string{}, byTarget: map[string][]string{}}
}

func (f *fakeCells) runner() cellRunner {
	return cellRunner{
		open: func(ctx context.Context, in Input, name string, p *progress.Printer) (*cluster.Target, error) {
			f.mu.Lock()
			f.opened = append(f.opened, name)
			f.mu.Unlock()
			var err error
			_ = p.Phase("cluster "+name, func() error {
				if name == f.failOpen {
					err = errors.New("kind create " + name + ": no space left on device")
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			t := &cluster.Target{Name: name, NodeImage: "kindest/node:fake"}
			if f.kind {
				t.Kind = cluster.New(name, cluster.WithLog(in.Log), cluster.WithKubeconfigDir(os.TempDir()))
			}
			return t, nil
		},
		run: func(ctx context.Context, in cell.Input) cell.Result {
			name, where := in.Cell.Name(), in.Target.Name
			f.mu.Lock()
			f.started++
			n := f.started
			f.running++
			f.peak = max(f.peak, f.running)
			if other := f.busy[where]; other != "" {
				f.overlaps = append(f.overlaps, fmt.Sprintf("%s started on %s while %s ran there", name, where, other))
			}
			f.busy[where] = name
			f.byTarget[where] = append(f.byTarget[where], name)
			f.mu.Unlock()
			fmt.Fprintf(in.Log, "[cell %s] runs\n", name)
			if f.hold != nil {
				f.hold(ctx, n, in)
			}
			f.mu.Lock()
			f.running--
			f.busy[where] = ""
			f.mu.Unlock()
			if ctx.Err() != nil {
				return cell.NotStarted(in.Cell, ctx.Err(), "stopped by the test during "+name)
			}
			v := in.Cell.Expect.Verdict
			if f.outcome != nil {
				v = f.outcome(in, n)
			}
			// Fixed times: the reports of two runs compare byte for byte.
			return cell.Result{Cell: in.Cell, NodeImage: in.Target.NodeImage, Verdict: v, Matched: v == in.Cell.Expect.Verdict,
				Started: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), Duration: time.Minute}
		},
		bundle: func(ctx context.Context, target *cluster.Target, res cellrun.Report, artifacts string, red *secrets.Redactor, p *progress.Printer, log io.Writer) string {
			return report.BundleDir(res.Cell, res.Run)
		},
	}
}

// fivePlan is the plan of the simulated catalog's first five cells with
// -parallel n.
func fivePlan(t *testing.T, n, repeat int) (Input, Plan) {
	t.Helper()
	all, err := catalog.LoadByName("../../fixtures/releases", "simulated")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := all.Cells(catalog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cells[:5] {
		names = append(names, c.Name())
	}
	in := Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases", CellNames: names, Artifacts: t.TempDir(),
		ClusterName: "uh-t", Keep: KeepOnFailure, Parallel: n, Repeat: repeat, Log: io.Discard}
	plan, err := Validate(in)
	if err != nil {
		t.Fatal(err)
	}
	return in, plan
}

func resultNames(rs []cellrun.Report) []string {
	var out []string
	for _, r := range rs {
		name := r.Cell.Name()
		if r.Run > 0 {
			name += fmt.Sprintf(" #%d", r.Run)
		}
		out = append(out, name)
	}
	return out
}

func cellNamesOf(plan Plan) []string {
	var out []string
	for _, c := range plan.Cells {
		out = append(out, c.Name())
	}
	return out
}

// TestTwoLanesRunFiveCellsTwoAtATimeEachClusterInTurn: -parallel 2 over five
// cells runs two cells at once and never more, each cluster runs its cells
// one after the other, each cluster is created once, and the results come
// in the selection order although the cells end in another.
func TestTwoLanesRunFiveCellsTwoAtATimeEachClusterInTurn(t *testing.T) {
	in, plan := fivePlan(t, 2, 1)
	if plan.Parallel != 2 {
		t.Fatalf("plan.Parallel = %d, want 2", plan.Parallel)
	}
	f := newFakeCells()
	secondStarted := make(chan struct{})
	f.hold = func(ctx context.Context, n int, c cell.Input) {
		switch n {
		case 1:
			// The first cell ends only once a second one runs beside it (a
			// single lane would wait here in vain), and after it.
			select {
			case <-secondStarted:
			case <-time.After(10 * time.Second):
			}
			time.Sleep(50 * time.Millisecond)
		case 2:
			close(secondStarted)
		default:
			time.Sleep(10 * time.Millisecond)
		}
	}
	out, err := runCells(context.Background(), in, plan, DiagnosisImages{}, f.runner())
	if err != nil {
		t.Fatalf("runCells: %v", err)
	}
	if f.peak != 2 {
		t.Errorf("at most %d cells ran at once, want exactly 2", f.peak)
	}
	if len(f.overlaps) > 0 {
		t.Errorf("a cluster ran two cells at once: %v", f.overlaps)
	}
	if !slices.Equal(f.opened, []string{"uh-t", "uh-t-1"}) && !slices.Equal(f.opened, []string{"uh-t-1", "uh-t"}) {
		t.Errorf("clusters opened: %v, want uh-t and uh-t-1 once each", f.opened)
	}
	total := 0
	for name, cells := range f.byTarget {
		total += len(cells)
		// A lane takes the next cell in selection order: its own come in that order.
		idx := func(c string) int { return slices.Index(cellNamesOf(plan), c) }
		if !slices.IsSortedFunc(cells, func(a, b string) int { return idx(a) - idx(b) }) {
			t.Errorf("cluster %s ran %v, not in selection order", name, cells)
		}
	}
	if total != 5 || len(f.byTarget) != 2 {
		t.Errorf("cells per cluster %v, want 5 cells on 2 clusters", f.byTarget)
	}
	if got, want := resultNames(out.Results), cellNamesOf(plan); !slices.Equal(got, want) {
		t.Errorf("results %v, want the selection order %v", got, want)
	}
}

// TestParallelReportsAreThoseOfOneLane: the reports of -parallel 2 are byte
// for byte those of -parallel 1 when the cells give the same results.
func TestParallelReportsAreThoseOfOneLane(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	read := func(n int) map[string]string {
		in, plan := fivePlan(t, n, 1)
		f := newFakeCells()
		// The third cell ends last when lanes run side by side.
		f.hold = func(ctx context.Context, _ int, c cell.Input) {
			if c.Cell.Name() == plan.Cells[2].Name() {
				time.Sleep(100 * time.Millisecond)
			}
		}
		// One cell gives an unexpected verdict: bundle, repro and exit 1 too.
		f.outcome = func(c cell.Input, _ int) verdict.Verdict {
			if c.Cell.Name() == plan.Cells[1].Name() {
				return verdict.Inconclusive
			}
			return c.Cell.Expect.Verdict
		}
		_, err := runCells(context.Background(), in, plan, DiagnosisImages{}, f.runner())
		if exitcode.Of(err) != exitcode.Regression {
			t.Fatalf("-parallel %d: exit %d (%v), want 1", n, exitcode.Of(err), err)
		}
		files := map[string]string{}
		for _, name := range []string{report.ResultsFile, report.SummaryFile, report.JUnitFile} {
			b, err := os.ReadFile(filepath.Join(in.Artifacts, name))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = string(b)
		}
		return files
	}
	one, two := read(1), read(2)
	for name, want := range one {
		if two[name] != want {
			t.Errorf("%s of -parallel 2 differs from -parallel 1's:\n--- 1\n%s\n--- 2\n%s", name, want, two[name])
		}
	}
}

// TestAClusterThatCannotBeHadLosesNoOtherResult: the second lane's cluster
// cannot be created; its cell is reported as not started, the first lane runs
// every other cell, and the run ends as an infrastructure failure (3).
func TestAClusterThatCannotBeHadLosesNoOtherResult(t *testing.T) {
	in, plan := fivePlan(t, 2, 1)
	f := newFakeCells()
	f.failOpen = "uh-t-1"
	f.hold = func(context.Context, int, cell.Input) { time.Sleep(20 * time.Millisecond) }
	out, err := runCells(context.Background(), in, plan, DiagnosisImages{}, f.runner())
	if got, want := resultNames(out.Results), cellNamesOf(plan); !slices.Equal(got, want) {
		t.Fatalf("results %v, want every cell in selection order %v", got, want)
	}
	var notStarted []string
	for _, r := range out.Results {
		if r.Error != "" {
			notStarted = append(notStarted, r.Cell.Name())
			if !strings.Contains(r.Error, "no space left on device") || r.Verdict != verdict.Inconclusive {
				t.Errorf("%s: error %q verdict %s, want the cluster's error and inconclusive", r.Cell.Name(), r.Error, r.Verdict)
			}
		} else if !r.Matched {
			t.Errorf("%s did not match", r.Cell.Name())
		}
	}
	if len(notStarted) != 1 || len(f.byTarget["uh-t"]) != 4 {
		t.Errorf("not started %v, uh-t ran %v: want one cell not started and the four others on uh-t", notStarted, f.byTarget["uh-t"])
	}
	if exitcode.Of(err) != exitcode.Infrastructure || !strings.Contains(err.Error(), "uh-t-1") {
		t.Errorf("exit %d, error %v: want 3 naming uh-t-1", exitcode.Of(err), err)
	}
}

// TestCancelStopsEveryLane: an interrupt while two cells run stops both; no
// lane starts another cell; both clusters are torn down, each named.
func TestCancelStopsEveryLane(t *testing.T) {
	in, plan := fivePlan(t, 2, 1)
	var log bytes.Buffer
	in.Log = &syncWriter{w: &log}
	f := newFakeCells()
	f.kind = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	both := make(chan struct{})
	var once sync.Once
	f.hold = func(ctx context.Context, n int, _ cell.Input) {
		if n == 2 {
			once.Do(func() { close(both) })
		}
		<-ctx.Done()
	}
	go func() {
		select {
		case <-both:
		case <-time.After(10 * time.Second):
		}
		cancel()
	}()
	done := make(chan struct{})
	var out Output
	var runErr error
	go func() {
		defer close(done)
		out, runErr = runCells(ctx, in, plan, DiagnosisImages{}, f.runner())
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end after the cancel")
	}
	if f.started != 2 || len(out.Results) != 2 {
		t.Fatalf("started %d cells, %d results: want the 2 running ones and no other", f.started, len(out.Results))
	}
	for _, r := range out.Results {
		if r.Interrupted == "" || r.Matched {
			t.Errorf("%s: interrupted %q matched %v, want stopped and unmatched", r.Cell.Name(), r.Interrupted, r.Matched)
		}
	}
	if exitcode.Of(runErr) == exitcode.OK {
		t.Error("an interrupted run exited 0")
	}
	// The fake clusters were never created, so teardown leaves them, naming each.
	for _, name := range []string{"uh-t", "uh-t-1"} {
		if !strings.Contains(log.String(), "kind cluster "+name+":") && !strings.Contains(log.String(), "kind cluster "+name+" ") {
			t.Errorf("the teardown does not name cluster %s:\n%s", name, log.String())
		}
	}
}

// TestRepeatsSpreadOverLanesAndStillShowFlakiness: -repeat 3 with two lanes
// runs a cell's repeats on either cluster, lists them cell by cell, and a
// cell whose repeats differ is flaky.
func TestRepeatsSpreadOverLanesAndStillShowFlakiness(t *testing.T) {
	in, plan := fivePlan(t, 2, 3)
	f := newFakeCells()
	flaky := plan.Cells[1].Name()
	f.hold = func(context.Context, int, cell.Input) { time.Sleep(5 * time.Millisecond) }
	var mu sync.Mutex
	seen := 0
	f.outcome = func(c cell.Input, _ int) verdict.Verdict {
		if c.Cell.Name() != flaky {
			return c.Cell.Expect.Verdict
		}
		mu.Lock()
		defer mu.Unlock()
		if seen++; seen == 2 {
			return verdict.Inconclusive
		}
		return c.Cell.Expect.Verdict
	}
	out, err := runCells(context.Background(), in, plan, DiagnosisImages{}, f.runner())
	var want []string
	for _, c := range plan.Cells {
		for run := 1; run <= 3; run++ {
			want = append(want, fmt.Sprintf("%s #%d", c.Name(), run))
		}
	}
	if got := resultNames(out.Results); !slices.Equal(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	if !slices.Equal(out.Flaky, []string{flaky}) || exitcode.Of(err) != exitcode.Regression {
		t.Errorf("flaky %v, exit %d: want [%s] and 1", out.Flaky, exitcode.Of(err), flaky)
	}
	if len(f.byTarget) != 2 {
		t.Errorf("runs per cluster %v, want both clusters used", f.byTarget)
	}
}

// TestAKeptClusterIsReplacedUnderAFreshName: a mismatched cell keeps its
// cluster; its lane goes on with a fresh one, named past every lane's
// (NAME-2 with two lanes, and NAME-2 with one, as before lanes existed).
func TestAKeptClusterIsReplacedUnderAFreshName(t *testing.T) {
	for _, n := range []int{1, 2} {
		in, plan := fivePlan(t, n, 1)
		f := newFakeCells()
		f.kind = true
		if n == 2 {
			// The lane of the kept cluster ends its cell while the other is
			// busy, so it takes the next cell itself, on a fresh cluster.
			wait := waitForSecond()
			f.hold = func(ctx context.Context, i int, c cell.Input) {
				if wait(ctx, i, c); i > 1 {
					time.Sleep(200 * time.Millisecond)
				}
			}
		}
		f.outcome = func(c cell.Input, _ int) verdict.Verdict {
			if c.Cell.Name() == plan.Cells[0].Name() {
				return verdict.Inconclusive
			}
			return c.Cell.Expect.Verdict
		}
		out, _ := runCells(context.Background(), in, plan, DiagnosisImages{}, f.runner())
		if len(out.Results) != 5 || out.Results[0].KeptCluster == "" || len(out.Kept) != 1 || out.Kept[0] != out.Results[0].KeptCluster {
			t.Errorf("-parallel %d: kept %v, first result kept %q: want the mismatched cell's cluster kept", n, out.Kept, out.Results[0].KeptCluster)
		}
		want := []string{"uh-t", "uh-t-2"}
		if n == 2 {
			want = []string{"uh-t", "uh-t-1", "uh-t-2"}
		}
		got := slices.Clone(f.opened)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("-parallel %d: clusters opened %v, want %v", n, f.opened, want)
		}
	}
}

// TestLaneLinesNameTheirCluster: with lanes side by side every line of a
// cell starts with its cluster's name; with one lane the lines are as before.
func TestLaneLinesNameTheirCluster(t *testing.T) {
	for _, n := range []int{1, 2} {
		in, plan := fivePlan(t, n, 1)
		var log bytes.Buffer
		in.Log = &syncWriter{w: &log}
		f := newFakeCells()
		if _, err := runCells(context.Background(), in, plan, DiagnosisImages{}, f.runner()); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
			if !strings.Contains(line, "[cell ") && !strings.Contains(line, "cluster uh-t") {
				continue
			}
			prefixed := strings.HasPrefix(line, "[uh-t] ") || strings.HasPrefix(line, "[uh-t-1] ")
			if n == 2 && !prefixed {
				t.Errorf("-parallel 2: line %q does not start with its cluster", line)
			}
			if n == 1 && strings.HasPrefix(line, "[uh-t") {
				t.Errorf("-parallel 1: line %q is prefixed", line)
			}
		}
		if n == 2 {
			for _, c := range plan.Cells {
				if !regexpLine(log.String(), `(?m)^\[uh-t(-1)?\] \[cell `+c.Name()+`\] runs$`) {
					t.Errorf("no prefixed line of %s:\n%s", c.Name(), log.String())
				}
			}
		}
	}
}

func TestLinePrefixerKeepsLinesWholeAndBounded(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	a := &linePrefixer{mu: &mu, w: &out, prefix: []byte("[a] ")}
	b := &linePrefixer{mu: &mu, w: &out, prefix: []byte("[b] ")}
	var wg sync.WaitGroup
	for _, w := range []*linePrefixer{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				// A line in three writes, as a streamed build log may come.
				fmt.Fprintf(w, "line %d ", i)
				fmt.Fprint(w, "of ")
				fmt.Fprintf(w, "%s\nnext\n", string(w.prefix[1]))
			}
		}()
	}
	wg.Wait()
	fmt.Fprint(a, "no newline")
	a.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 801 {
		t.Fatalf("%d lines, want 801", len(lines))
	}
	for _, l := range lines[:800] {
		ok := false
		for _, who := range []string{"a", "b"} {
			p := "[" + who + "] "
			if strings.HasPrefix(l, p) && (l == p+"next" || strings.HasSuffix(l, " of "+who) && strings.HasPrefix(l, p+"line ")) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("line %q is torn or mislabelled", l)
		}
	}
	if lines[800] != "[a] no newline" {
		t.Errorf("flushed %q", lines[800])
	}
	out.Reset()
	huge := bytes.Repeat([]byte("x"), 3*maxLogLine)
	if _, err := a.Write(huge); err != nil {
		t.Fatal(err)
	}
	if len(a.buf) >= maxLogLine || !strings.HasPrefix(out.String(), "[a] xxx") {
		t.Errorf("a line of %d bytes without a newline: %d bytes held, want fewer than %d", len(huge), len(a.buf), maxLogLine)
	}
}

func TestParallelIsCheckedBeforeAnything(t *testing.T) {
	dir := "../../fixtures/releases"
	for _, tc := range []struct {
		in   Input
		want string
	}{
		{Input{Parallel: 9}, "-parallel 9: want a number of clusters from 1 to 8"},
		{Input{Parallel: -1}, "-parallel -1: want a number of clusters from 1 to 8"},
		{Input{Parallel: 2, Kubeconfig: "/nonexistent"}, "-parallel 2: an existing cluster"},
		{Input{Parallel: 8, ClusterName: "uh-" + strings.Repeat("a", 36)}, `lane cluster "uh-` + strings.Repeat("a", 36) + `-7" is not a kind cluster name`},
	} {
		tc.in.Catalog, tc.in.CatalogDir, tc.in.Artifacts = "simulated", dir, t.TempDir()
		if _, err := Validate(tc.in); exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(-parallel %d) = %v, want bad input saying %q", tc.in.Parallel, err, tc.want)
		}
	}
	// More lanes than cell runs: clamped, and said so.
	in := Input{Catalog: "simulated", CatalogDir: dir, Artifacts: t.TempDir(), ClusterName: "uh-t", Parallel: 4,
		Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"v0.2.1"}}}
	plan, err := Validate(in)
	if err != nil || plan.Parallel != 1 || !strings.Contains(ParallelNote(in, plan), "-parallel 4 clamped to 1: only 1 cell run(s)") {
		t.Errorf("one cell with -parallel 4: plan.Parallel %d (%v), note %q: want 1 and the clamp said", plan.Parallel, err, ParallelNote(in, plan))
	}
	if got := LaneClusters(in, plan); !slices.Equal(got, []string{"uh-t"}) {
		t.Errorf("lane clusters %v, want [uh-t]", got)
	}
	in.Repeat = 3
	if plan, _ := Validate(in); plan.Parallel != 3 || !slices.Equal(LaneClusters(in, plan), []string{"uh-t", "uh-t-1", "uh-t-2"}) {
		t.Errorf("one cell, -repeat 3, -parallel 4: %d lanes %v, want 3: uh-t, uh-t-1, uh-t-2", plan.Parallel, LaneClusters(in, plan))
	}
}

// syncWriter lets lanes and the test share a buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*bytes.Buffer).String()
}

// waitForSecond holds the first run until a second one has started (at most
// 10 s), so two lanes surely run side by side however fast the fakes are.
func waitForSecond() func(ctx context.Context, n int, c cell.Input) {
	second := make(chan struct{})
	return func(ctx context.Context, n int, c cell.Input) {
		switch n {
		case 1:
			select {
			case <-second:
			case <-time.After(10 * time.Second):
			}
		case 2:
			close(second)
		}
	}
}

func regexpLine(s, re string) bool { return regexp.MustCompile(re).MatchString(s) }
