package matrix

import (
	"context"
	"io"
	"os"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// OneCellInput is one cell on a prepared cluster, outside a matrix run.
type OneCellInput struct {
	Target   *cluster.Target
	Catalog  *catalog.Catalog
	Cell     upgrade.Cell
	From, To catalog.Release
	// ProbeImage diagnoses a cell with a runner 401 or a failed restart
	// (images.BuildProbe; "" leaves it undiagnosed).
	ProbeImage string
	// WireImage is the wire witness's image, run beside the detectors
	// (images.BuildWire; "" runs without it).
	WireImage string
	// Repro shapes the cell's repro line (its node image is set here).
	Repro report.ReproOptions
	// Artifacts receives the failure bundle of a cell that did not pass.
	Artifacts string
	// Run numbers a cell run again (its bundle goes to run-N); 0 when once.
	Run      int
	Redactor *secrets.Redactor
	Timing   *cell.Timing
	Log      io.Writer
}

// RunOneCell runs one cell as Run runs each of its cells — the same rules,
// evidence, diagnose stage, repro line and failure bundle — for callers that
// choose their cells one at a time (bisect). The cluster is left as the cell
// ended; the caller owns it.
func RunOneCell(ctx context.Context, in OneCellInput) cellrun.Report {
	if in.Log == nil {
		in.Log = os.Stderr
	}
	return runCell(ctx, realRunner(), in, progress.New(in.Log))
}

// runCell is the one way a cell runs for a driver (matrix lanes, bisect):
// the cell with its diagnose stage, then its repro line and, for a cell that
// did not pass and was not interrupted, its failure bundle.
func runCell(ctx context.Context, runner cellRunner, in OneCellInput, p *progress.Printer) cellrun.Report {
	if in.Redactor == nil {
		in.Redactor = secrets.NewRedactor()
	}
	var diagnoseStage func(context.Context, cell.Result) *diagnose.Findings
	if in.ProbeImage != "" {
		diagnoseStage = func(ctx context.Context, res cell.Result) *diagnose.Findings {
			return diagnoseCell(ctx, in.Target, res, in.ProbeImage, p, in.Log)
		}
	}
	// The cell judged itself once, after its diagnose stage; what follows
	// adds to the report and never touches the verdict or the match.
	res := cellrun.Report{Run: in.Run, Result: runner.run(ctx, cell.Input{Target: in.Target, Catalog: in.Catalog, Cell: in.Cell, From: in.From, To: in.To,
		Redactor: in.Redactor, Log: in.Log, Timing: in.Timing, Diagnose: diagnoseStage, WireImage: in.WireImage})}
	ro := in.Repro
	ro.NodeImage = res.NodeImage
	res.Repro = report.ReproCommand(in.Cell, ro)
	// An interrupted cell decided nothing: no bundle (the run was asked to
	// stop, not to spend minutes collecting).
	if res.NeedsBundle() && res.Interrupted == "" && in.Artifacts != "" {
		res.BundleDir = runner.bundle(ctx, in.Target, res, in.Artifacts, in.Redactor, p, in.Log)
	}
	return res
}
