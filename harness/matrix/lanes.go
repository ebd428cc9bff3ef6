package matrix

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/interrupt"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// MaxParallel bounds -parallel: each lane is a kind cluster of its own, and
// a cell needs about a core and 1.5 GiB while it runs.
const MaxParallel = 8

// cellRun is one run of one selected cell: what the lanes share out. Index is
// its place in the selection order, where its result goes.
type cellRun struct {
	Index int
	Cell  upgrade.Cell
	// Run is 1…repeat (0 when the matrix runs each cell once).
	Run int
}

// cellRuns lists the runs of the cells in selection order: every run of the
// first cell, then of the second, … as the reports list them.
func cellRuns(cells []upgrade.Cell, repeat int) []cellRun {
	var runs []cellRun
	for _, c := range cells {
		for run := 1; run <= repeat; run++ {
			r := cellRun{Index: len(runs), Cell: c}
			if repeat > 1 {
				r.Run = run
			}
			runs = append(runs, r)
		}
	}
	return runs
}

// laneCount is how many clusters the run uses at once: -parallel, clamped to
// the number of cell runs (a lane without a cell would create a cluster for
// nothing).
func laneCount(in Input, cells []upgrade.Cell) int {
	n := max(in.Parallel, 1)
	return max(min(n, len(cells)*max(in.Repeat, 1)), 1)
}

// laneName is the cluster of lane i, as the e2e suite names its lanes:
// NAME, NAME-1, NAME-2, …
func laneName(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, i)
}

// LaneClusters are the kind clusters the lanes of a valid run start on, one
// per lane (none on an existing or prepared cluster): a run holds each of
// them before it touches anything.
func LaneClusters(in Input, plan Plan) []string {
	if in.Kubeconfig != "" || in.Target != nil || in.ClusterName == "" {
		return nil
	}
	names := make([]string, max(plan.Parallel, 1))
	for i := range names {
		names[i] = laneName(in.ClusterName, i)
	}
	return names
}

// ParallelNote says how a run with lanes shares its cells out, and when
// -parallel was clamped ("" for one lane asked for and had).
func ParallelNote(in Input, plan Plan) string {
	lanes := max(plan.Parallel, 1)
	var parts []string
	if in.Parallel > lanes {
		parts = append(parts, fmt.Sprintf("-parallel %d clamped to %d: only %d cell run(s)", in.Parallel, lanes, len(plan.Cells)*max(in.Repeat, 1)))
	}
	if lanes > 1 {
		parts = append(parts, fmt.Sprintf("%d cells at a time on kind clusters %s, each cluster taking the next cell when its cell ends; a cell's log lines start with its cluster's name",
			lanes, strings.Join(LaneClusters(in, plan), ", ")))
	}
	return strings.Join(parts, "; ")
}

// clusterNames hands out the names of the clusters that replace a kept one
// (a mismatched cell keeps its cluster for inspection): NAME-<n> for n past
// every lane's own, and never NAME-1 with one lane, as before lanes existed.
type clusterNames struct {
	mu   sync.Mutex
	base string
	next int
}

func newClusterNames(base string, lanes int) *clusterNames {
	return &clusterNames{base: base, next: max(lanes, 2)}
}

func (n *clusterNames) fresh() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	name := laneName(n.base, n.next)
	n.next++
	return name
}

// cellRunner is what a lane does with clusters and cells. Run uses the real
// one; unit tests give fakes (no cluster).
type cellRunner struct {
	// open creates (or reuses) the kind cluster name, or opens the existing cluster.
	open func(ctx context.Context, in Input, name string, p *progress.Printer) (*cluster.Target, error)
	// run runs one cell on its target (cell.Run).
	run func(ctx context.Context, in cell.Input) cell.Result
	// bundle collects the failure bundle of a cell that did not match (collectBundle).
	bundle func(ctx context.Context, target *cluster.Target, res cellrun.Report, artifacts string, red *secrets.Redactor, p *progress.Printer, log io.Writer) string
}

// lane runs cells one after the other on one cluster at a time.
type lane struct {
	index int
	// name is the cluster the lane opens next ("" once it kept its first:
	// the next one gets a fresh name).
	name   string
	target *cluster.Target
	// log prefixes every line with the lane's cluster when lanes run side by
	// side; p prints the lane's phases there.
	log *linePrefixer
	out io.Writer
	p   *progress.Printer
}

func newLane(i int, in Input, lanes int, mu *sync.Mutex) *lane {
	l := &lane{index: i, name: laneName(in.ClusterName, i), out: in.Log}
	if lanes > 1 {
		l.log = &linePrefixer{mu: mu, w: in.Log, prefix: []byte("[" + l.name + "] ")}
		l.out = l.log
	}
	l.p = progress.New(l.out)
	return l
}

// lanesInput is what runLanes shares out.
type lanesInput struct {
	In     Input
	Runs   []cellRun
	Lanes  int
	Names  *clusterNames
	Runner cellRunner
	Plan   Plan
	// ProbeImage diagnoses the cells with a 401 ("" leaves them undiagnosed).
	ProbeImage string
	// WireImage runs the wire witness beside each cell ("" runs without it).
	WireImage string
	Redactor  *secrets.Redactor
}

// lanesOutput is what the lanes did: a result for each run that ran or
// could not start, in selection order, the clusters the lanes hold at the end
// (to delete or keep), and the first cluster that could not be had.
type lanesOutput struct {
	Results []cellrun.Report
	Lanes   []*lane
	OpenErr error
}

// runLanes runs the cell runs on in.Lanes lanes at once. Each lane takes the
// next run in selection order when its previous one ends, so a lane's cluster
// serves one cell at a time. A lane whose cluster cannot be had records its
// run as not started and stops; the other lanes go on with the rest. No lane
// starts a run once ctx is done.
func runLanes(ctx context.Context, li lanesInput) lanesOutput {
	var logMu sync.Mutex
	lanes := make([]*lane, max(li.Lanes, 1))
	for i := range lanes {
		lanes[i] = newLane(i, li.In, len(lanes), &logMu)
	}
	if li.In.Target != nil {
		lanes[0].target = li.In.Target
	}
	slots := make([]*cellrun.Report, len(li.Runs))
	var (
		mu      sync.Mutex
		taken   int
		openErr error
	)
	take := func() (cellRun, bool) {
		mu.Lock()
		defer mu.Unlock()
		if taken >= len(li.Runs) || ctx.Err() != nil {
			return cellRun{}, false
		}
		taken++
		return li.Runs[taken-1], true
	}
	work := func(l *lane) {
		for {
			cr, ok := take()
			if !ok {
				return
			}
			if l.target == nil {
				name := l.name
				if name == "" {
					name = li.Names.fresh()
				}
				in := li.In
				in.Log = l.out
				t, err := li.Runner.open(ctx, in, name, l.p)
				if err != nil {
					// A cell whose cluster could not be had is in the reports as
					// an infrastructure failure (or as stopped, on a signal).
					where := ""
					if ie, ok := interrupt.Of(ctx); ok {
						where = interrupt.Name(ie.Signal) + " during cluster " + name
					}
					res := cellrun.Report{Result: cell.NotStarted(cr.Cell, err, where)}
					slots[cr.Index] = &res
					mu.Lock()
					if openErr == nil {
						openErr = err
					}
					mu.Unlock()
					return
				}
				l.target, l.name = t, name
			}
			res, keep := runOne(ctx, li, l, cr)
			slots[cr.Index] = &res
			if keep {
				l.target, l.name = nil, ""
			}
		}
	}
	var wg sync.WaitGroup
	for _, l := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.flush()
			work(l)
		}()
	}
	wg.Wait()
	out := lanesOutput{Lanes: lanes, OpenErr: openErr}
	for _, r := range slots {
		if r != nil {
			out.Results = append(out.Results, *r)
		}
	}
	return out
}

// flush writes out a last unterminated line of the lane's log.
func (l *lane) flush() {
	if l.log != nil {
		l.log.Flush()
	}
}

// maxLogLine bounds a buffered log line: a longer one is written in pieces,
// each prefixed, rather than held in memory.
const maxLogLine = 64 << 10

// linePrefixer writes whole lines to w, each starting with prefix, so the
// lines of cells running side by side say whose they are and never
// interleave mid-line. mu is shared by every linePrefixer writing to w.
type linePrefixer struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix []byte
	buf    []byte
}

func (lp *linePrefixer) Write(b []byte) (int, error) {
	n := len(b)
	lp.mu.Lock()
	defer lp.mu.Unlock()
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			room := maxLogLine - len(lp.buf)
			if len(b) < room {
				lp.buf = append(lp.buf, b...)
				return n, nil
			}
			lp.buf = append(lp.buf, b[:room]...)
			b = b[room:]
			if err := lp.writeLine(); err != nil {
				return n - len(b), err
			}
			continue
		}
		lp.buf = append(lp.buf, b[:i]...)
		b = b[i+1:]
		if err := lp.writeLine(); err != nil {
			return n - len(b), err
		}
	}
	return n, nil
}

// writeLine writes prefix, the buffered line and a newline; mu is held.
func (lp *linePrefixer) writeLine() error {
	line := make([]byte, 0, len(lp.prefix)+len(lp.buf)+1)
	line = append(append(append(line, lp.prefix...), lp.buf...), '\n')
	lp.buf = lp.buf[:0]
	_, err := lp.w.Write(line)
	return err
}

// Flush writes a buffered line that never got its newline.
func (lp *linePrefixer) Flush() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if len(lp.buf) > 0 {
		_ = lp.writeLine()
	}
}
