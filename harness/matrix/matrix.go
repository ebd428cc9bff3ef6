// Package matrix runs the cells of a catalog's upgrade matrix on one kind
// cluster (reset between cells) or on an existing cluster, writes the reports
// and decides the run's outcome, as a typed error (harness/fault). It is the
// main job (`make e2e`) and the engine of `make repro`; the e2e suite drives
// it too.
package matrix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/sweep"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/bundle"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Keep says which kind clusters survive the run.
type Keep string

const (
	KeepOnFailure Keep = "on-failure" // a cell that did not match its expectation keeps its cluster
	KeepAlways    Keep = "always"
	KeepNever     Keep = "never"
)

// ParseKeep validates a -keep value.
func ParseKeep(s string) (Keep, error) {
	switch Keep(s) {
	case KeepOnFailure, KeepAlways, KeepNever:
		return Keep(s), nil
	}
	return "", fmt.Errorf("-keep %q: want on-failure, always or never", s)
}

// Input configures a run.
type Input struct {
	// Catalog is a catalog name in CatalogDir ("simulated", "upstream") or a file path.
	Catalog string
	// CatalogDir holds the named catalogs; catalog.DefaultDir when empty.
	CatalogDir string
	Filter     catalog.Filter
	// Order, when set, runs the selected from/to with this upgrade order (ad hoc
	// cell expected to pass when the matrix has no such cell).
	Order     string
	Overrides platform.Images
	// Working, when set, is the working level of every cell (-working),
	// over the catalog's and its cells' working:.
	Working verdict.WorkingLevel
	// ManifestOverride points a catalog at local rendered manifests; with an
	// empty Only it applies to the releases whose file exists in Dir.
	ManifestOverride *catalog.ManifestOverride
	// ImageRemap rewrites image prefixes of every release (FROM → TO), e.g.
	// quay.io/ambient_code → localhost/ambient-sim runs upstream's manifests with
	// the simulated images (built when missing).
	ImageRemap map[string]string
	Artifacts  string
	Keep       Keep
	// Kubeconfig runs the cells on an existing cluster (no kind); Context selects its context.
	Kubeconfig string
	Context    string
	// ClusterName is the kind cluster to create or reuse (default uh-matrix).
	ClusterName string
	// NodeImage is the kind node image (resolved by the caller).
	NodeImage string
	Log       io.Writer
	// Timing overrides the cell's waits (tests and bench).
	Timing *cell.Timing
	// Target runs every cell on this prepared cluster, never created or deleted here.
	Target *cluster.Target
	// CellNames keeps only the cells with these names (after Filter).
	CellNames []string
	// Candidate adds an ad-hoc release (a platform PR's build) and runs only
	// the cells from the selected releases to it (catalog.WithCandidate).
	Candidate *catalog.Candidate
	// Repeat runs each selected cell this many times (default once); a cell
	// whose runs give different verdicts is flaky and fails the run.
	Repeat int
	// Parallel runs the cells on this many kind clusters at once (1…8,
	// default 1), each cell on one: ClusterName, ClusterName-1, … (-parallel).
	// More than the cell runs is clamped to them.
	Parallel int
	// SkipProbes leaves cells undiagnosed: no runner probe (a cell that
	// expects a diagnosis then does not match).
	SkipProbes bool
	// Diagnose runs the compatibility sweep of every failed cell's from and
	// to (once per pair) after the cells, on the same cluster (-diagnose).
	Diagnose bool
	// SweepTiming overrides the sweep's bounds (tests).
	SweepTiming *sweep.Timing
	// JUnitInconclusive is how junit.xml writes an inconclusive rule
	// (-junit-inconclusive: failure, the default, or skipped).
	JUnitInconclusive report.JUnitInconclusive
	// ExitCode is how the command maps the run's outcome to its exit code,
	// for the reports' headline (nil: the reports state the result, no code).
	ExitCode func(error) int
}

// Output is the run's outcome.
type Output struct {
	Results []cellrun.Report
	// Clusters kept for inspection, with their kubectl access line.
	Kept []string
	// Flaky names the repeated cells whose runs gave different verdicts.
	Flaky []string
	// Compat holds the compatibility sweeps of -diagnose; Score the seeded
	// faults' score when the run had fault cells.
	Compat []diagnose.Compat
	Score  *diagnose.Score
}

// Run runs every selected cell and writes the reports to in.Artifacts.
func Run(ctx context.Context, in Input) (Output, error) {
	if in.Log == nil {
		in.Log = os.Stderr
	}
	if in.Keep == "" {
		in.Keep = KeepOnFailure
	}
	if in.ClusterName == "" {
		in.ClusterName = cluster.Name("matrix")
	}
	p := progress.New(in.Log)
	plan, err := Validate(in)
	if err != nil {
		return Output{}, err
	}
	cat, cells := plan.Catalog, plan.Cells
	fmt.Fprintf(in.Log, "[matrix] catalog %s: %d cell(s): %s\n", cat.Name, len(cells), cellNames(cells))
	if note := ParallelNote(in, plan); note != "" {
		fmt.Fprintf(in.Log, "[matrix] %s\n", note)
	}
	if in.Kubeconfig == "" {
		if err := CheckCandidateImages(ctx, cat); err != nil {
			return Output{}, err
		}
	}

	if plan.Simulated {
		if err := p.Phase("build simulated images", func() error { return BuildSimulated(ctx, cat, cells, in.Log) }); err != nil {
			return Output{}, err
		}
		if own := cat.CandidateOwnImages(); len(own) > 0 && in.Kubeconfig == "" {
			if err := p.Phase("pull candidate images", func() error { return images.EnsurePulled(ctx, own, in.Log) }); err != nil {
				return Output{}, fault.InfraErr(err)
			}
		}
	} else if in.Kubeconfig == "" {
		if err := p.Phase("pull release images", func() error { return pullImages(ctx, cat, cells, in.Log) }); err != nil {
			return Output{}, fault.InfraErr(err)
		}
	}

	var diag DiagnosisImages
	if !in.SkipProbes {
		var err error
		if diag, err = BuildDiagnosisImages(ctx, p, in.Log); err != nil {
			return Output{}, fault.InfraErr(err)
		}
	}

	// Bundles of an earlier run must not be mistaken for this run's.
	if err := os.RemoveAll(filepath.Join(in.Artifacts, report.CellsDir)); err != nil {
		return Output{}, fault.InfraErr(err)
	}
	return runCells(ctx, in, plan, diag, realRunner())
}

// realRunner runs cells on kind clusters (or the existing one).
func realRunner() cellRunner {
	return cellRunner{open: openTarget, run: cell.Run, bundle: collectBundle}
}

// runCells runs the plan's cells on its lanes, then the sweeps of -diagnose,
// and writes the reports (finish).
// DiagnosisImages are the images of the harness's own diagnosis evidence:
// the runner probe and the wire witness ("" leaves either out).
type DiagnosisImages struct{ Probe, Wire string }

// BuildDiagnosisImages builds (or reuses) the runner probe's and the wire
// witness's images, each as a phase of p: every driver that runs cells with
// diagnosis (matrix, bisect) builds them this one way.
func BuildDiagnosisImages(ctx context.Context, p *progress.Printer, log io.Writer) (DiagnosisImages, error) {
	var d DiagnosisImages
	if err := p.Phase("build the runner probe image", func() error {
		b, err := images.BuildProbe(ctx, images.BuildInput{Log: log})
		d.Probe = b.Ref
		return err
	}); err != nil {
		return d, err
	}
	// The wire witness is diagnosis evidence too: it runs with the probe.
	err := p.Phase("build the wire witness image", func() error {
		b, err := images.BuildWire(ctx, images.BuildInput{Log: log})
		d.Wire = b.Ref
		return err
	})
	return d, err
}

func runCells(ctx context.Context, in Input, plan Plan, images DiagnosisImages, runner cellRunner) (Output, error) {
	red := secrets.NewRedactor()
	lanes := max(plan.Parallel, 1)
	names := newClusterNames(in.ClusterName, lanes)
	lo := runLanes(ctx, lanesInput{In: in, Runs: cellRuns(plan.Cells, max(in.Repeat, 1)), Lanes: lanes, Names: names,
		Runner: runner, Plan: plan, ProbeImage: images.Probe, WireImage: images.Wire, Redactor: red})
	out := Output{Results: lo.Results}
	for _, r := range lo.Results {
		if r.KeptCluster != "" {
			out.Kept = append(out.Kept, r.KeptCluster)
		}
	}
	var targets []*cluster.Target
	for _, l := range lo.Lanes {
		if l.target != nil {
			targets = append(targets, l.target)
		}
	}
	if lo.OpenErr != nil {
		return finish(ctx, in, out, red, targets, fault.InfraErr(lo.OpenErr))
	}
	var sweepErr error
	if in.Diagnose && ctx.Err() == nil {
		var target *cluster.Target
		if len(targets) > 0 {
			target = targets[0]
		}
		p := progress.New(in.Log)
		target, sweepErr = runSweeps(ctx, in, plan.Catalog, &out, target, names, red, p)
		if target != nil && !slices.Contains(targets, target) {
			targets = append(targets, target)
		}
	}
	out, err := finish(ctx, in, out, red, targets, ctx.Err())
	if err == nil && sweepErr != nil {
		return out, fault.InfraErr(fmt.Errorf("compatibility sweep: %w", sweepErr))
	}
	return out, err
}

// runOne runs one cell run on the lane's cluster: the cell, its repro line,
// its failure bundle; keep says the lane must leave this cluster to a
// mismatched cell (kept for inspection) and open another for its next cell.
func runOne(ctx context.Context, li lanesInput, l *lane, cr cellRun) (cellrun.Report, bool) {
	in, cat, c := li.In, li.Plan.Catalog, cr.Cell
	from, _ := cat.Release(c.From)
	to, _ := cat.Release(c.To)
	res := runCell(ctx, li.Runner, OneCellInput{Target: l.target, Catalog: cat, Cell: c, From: from, To: to,
		ProbeImage: li.ProbeImage, WireImage: li.WireImage, Repro: li.Plan.Repro, Artifacts: in.Artifacts, Run: cr.Run,
		Redactor: li.Redactor, Timing: in.Timing, Log: l.out}, l.p)
	// A repeated cell keeps its cluster only after its last run; an
	// interrupted one keeps none unless every cluster is kept.
	last := cr.Run == max(in.Repeat, 1) || cr.Run == 0
	if !res.Matched && res.Interrupted == "" && last && l.target.Kind != nil && in.Target == nil && in.Keep == KeepOnFailure {
		res.KeptCluster = l.target.AccessLine()
		fmt.Fprintf(l.out, "[matrix] keeping cluster of mismatched cell %s: %s\n", c.Name(), res.KeptCluster)
		return res, true
	}
	return res, false
}

// diagnoseCell establishes why a cell broke (harness/diagnose), on the
// cluster as the cell left it: the cell's diagnose stage, which runs before
// the cell is judged against its expectation.
func diagnoseCell(ctx context.Context, target *cluster.Target, res cell.Result, probeImage string, p *progress.Printer, log io.Writer) *diagnose.Findings {
	if !diagnose.NeedsDiagnosis(res.Unauthorized, res.Rules) {
		return &diagnose.Findings{Note: "nothing to diagnose: no runner 401 caused by the upgrade and no failed restart"}
	}
	var findings *diagnose.Findings
	_ = p.Phase("diagnose "+res.Cell.Name(), func() error {
		if err := target.LoadImages(ctx, probeImage); err != nil {
			fmt.Fprintf(log, "[matrix] probe image: %v\n", err)
		}
		findings = diagnose.Diagnose(ctx, diagnose.Input{Kube: target.Kube, Ledger: res.Ledger, Unauthorized: res.Unauthorized,
			Rules: res.Rules, ProbeImage: probeImage, Logf: func(f string, a ...any) { fmt.Fprintf(log, "[diagnose] "+f+"\n", a...) }})
		return nil
	})
	for _, s := range findings.Sentences() {
		fmt.Fprintf(log, "[diagnose] %s: %s\n", res.Cell.Name(), s)
	}
	return findings
}

// runSweeps runs the compatibility sweep of each failed cell's from → to once.
func runSweeps(ctx context.Context, in Input, cat *catalog.Catalog, out *Output, target *cluster.Target, names *clusterNames, red *secrets.Redactor, p *progress.Printer) (*cluster.Target, error) {
	seen := map[[2]string]bool{}
	var firstErr error
	for _, r := range out.Results {
		k := [2]string{r.Cell.From, r.Cell.To}
		if r.Verdict != verdict.Fail || r.Error != "" || seen[k] {
			continue
		}
		seen[k] = true
		if target == nil {
			t, err := openTarget(ctx, in, names.fresh(), p)
			if err != nil {
				return nil, err
			}
			target = t
		}
		from, _ := cat.Release(k[0])
		to, _ := cat.Release(k[1])
		var compat diagnose.Compat
		err := p.Phase(fmt.Sprintf("compatibility sweep %s → %s", k[0], k[1]), func() error {
			var err error
			compat, err = sweep.Run(ctx, sweep.Input{Target: target, Catalog: cat, From: from, To: to, Timing: in.SweepTiming, Redactor: red, Log: in.Log})
			return err
		})
		if err != nil && firstErr == nil {
			firstErr = err
		}
		fmt.Fprintf(in.Log, "[matrix] %s → %s: %s\n", k[0], k[1], compat.Sentence)
		out.Compat = append(out.Compat, compat)
	}
	return target, firstErr
}

// collectBundle writes the failure bundle of res from the cluster as the cell
// left it and returns its directory relative to artifacts ("" when it could
// not be written at all).
func collectBundle(ctx context.Context, target *cluster.Target, res cellrun.Report, artifacts string, red *secrets.Redactor, p *progress.Printer, log io.Writer) string {
	rel := report.BundleDir(res.Cell, res.Run)
	// A fresh context: an interrupted run still leaves its evidence.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	err := p.Phase("collect failure bundle "+rel, func() error {
		sum, err := bundle.Collect(bctx, bundle.CollectInput{Client: target.Kube, Dynamic: target.Dynamic, Dir: filepath.Join(artifacts, rel),
			PlatformNamespace: platform.Namespace, UpgradeStarted: res.UpgradeStarted, Redactor: red, Title: report.Title(res.Cell),
			NodeLogs: func(d string) error { return target.ExportLogs(bctx, d) }, Ledger: res.Ledger})
		if err == nil && len(sum.Failures) > 0 {
			fmt.Fprintf(log, "[matrix] bundle %s: %d items could not be collected (see index.md)\n", rel, len(sum.Failures))
		}
		return err
	})
	if err != nil {
		return ""
	}
	return rel
}

// finish deletes (or keeps) the clusters the run still holds, decides the
// outcome once and writes the reports.
func finish(ctx context.Context, in Input, out Output, red *secrets.Redactor, targets []*cluster.Target, runErr error) (Output, error) {
	// Tear down with a fresh context so Ctrl-C still cleans up.
	cleanup, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, target := range targets {
		if target == nil || target.Kind == nil || in.Target != nil {
			continue
		}
		if in.Keep == KeepAlways {
			line := target.AccessLine()
			out.Kept = append(out.Kept, line)
			fmt.Fprintf(in.Log, "[matrix] keeping cluster: %s\n", line)
		} else if err := target.Kind.Destroy(cleanup); err != nil {
			fmt.Fprintf(in.Log, "[matrix] warning: %v\n", err)
		}
	}
	out.Score = diagnose.NewScore(scoredCells(out.Results))
	// The outcome is decided once, before the reports are written: their
	// headline states it (and the code the command maps it to).
	out.Flaky = report.Flaky(out.Results)
	outcome := decideOutcome(out.Results, out.Flaky, runErr)
	if err := report.WriteAll(report.WriteInput{Dir: in.Artifacts, Results: out.Results, Redactor: red, Compat: out.Compat, Score: out.Score,
		Exit: report.ExitOf(outcome, in.ExitCode), JUnitInconclusive: in.JUnitInconclusive}); err != nil {
		return out, fault.InfraErr(fmt.Errorf("writing reports: %w", err))
	}
	if findings, err := secrets.ScanDir(in.Artifacts, red.Values()); err != nil || len(findings) > 0 {
		return out, fault.InfraErr(fmt.Errorf("secret values found under %s (%d findings, %v): the reports were not redacted", in.Artifacts, len(findings), err))
	}
	printSummary(in.Log, out)
	if runErr != nil {
		return out, runErr
	}
	return out, outcome
}

// scoredCells are the results as the seeded-fault score reads them.
func scoredCells(results []cellrun.Report) []diagnose.ScoredCell {
	out := make([]diagnose.ScoredCell, 0, len(results))
	for _, r := range results {
		name := r.Cell.Name()
		if r.Run > 0 {
			name += fmt.Sprintf(" #%d", r.Run)
		}
		out = append(out, diagnose.ScoredCell{Name: name, Fault: r.Cell.Fault, Expect: r.Cell.Expect, Outcome: r.Outcome(), Error: r.Error})
	}
	return out
}

// decideOutcome: a mismatch is a regression and wins; then a cell that could
// not run (or runErr) is an infrastructure failure; then a flaky repeat is a
// regression; else nil (every cell as expected).
func decideOutcome(results []cellrun.Report, flaky []string, runErr error) error {
	infra := runErr != nil
	for _, r := range results {
		if r.Error != "" {
			infra = true
			continue
		}
		if !r.Matched {
			return fault.RegressionErr(errors.New(exitReason(results)))
		}
	}
	switch {
	case infra:
		return fault.InfraErr(errors.New(exitReason(results)))
	case len(flaky) > 0:
		return fault.RegressionErr(errors.New(exitReason(results)))
	}
	return nil
}

func exitReason(results []cellrun.Report) string {
	var bad []string
	for _, name := range report.Flaky(results) {
		bad = append(bad, name+": flaky (its runs gave different verdicts)")
	}
	for _, r := range results {
		if r.Error != "" {
			bad = append(bad, r.Cell.Name()+": could not run: "+r.Error)
		} else if !r.Matched {
			bad = append(bad, fmt.Sprintf("%s: %s", r.Cell.Name(), r.Mismatch))
		}
	}
	return strings.Join(bad, "; ")
}

func printSummary(w io.Writer, out Output) {
	fmt.Fprintln(w, "[matrix] results:")
	for _, r := range out.Results {
		mark := "✓"
		if !r.Matched {
			mark = "✗"
		}
		name := r.Cell.Name()
		if r.Run > 0 {
			name += fmt.Sprintf(" #%d", r.Run)
		}
		fmt.Fprintf(w, "  %s %-32s expected %-12s verdict %-12s %s  %s\n", mark, name, r.Cell.Expect.Verdict, r.Verdict, r.Duration.Round(time.Second), report.Format401s(r.Unauthorized))
		if r.Repro != "" && r.Verdict != verdict.Pass {
			fmt.Fprintf(w, "      repro: %s\n", r.Repro)
		}
		if r.Verdict != verdict.Pass && r.Diagnosis != nil {
			for _, s := range r.Diagnosis.Sentences() {
				fmt.Fprintf(w, "      diagnosis: %s\n", s)
			}
		}
	}
	if out.Score != nil {
		fmt.Fprintf(w, "  seeded faults: %s\n", out.Score.Summary())
	}
	for _, c := range out.Compat {
		fmt.Fprintf(w, "  compatibility %s → %s: %s\n", c.From, c.To, c.Sentence)
	}
	for _, rep := range report.Repeats(out.Results) {
		fmt.Fprintf(w, "  repeated %s: %s, matched %d/%d, flaky %v\n", rep.Cell, rep.Seen(), rep.Matched, rep.Runs, rep.Flaky)
	}
	for _, k := range out.Kept {
		fmt.Fprintf(w, "  kept: %s\n", k)
	}
}

func cellNames(cells []upgrade.Cell) string {
	n := make([]string, len(cells))
	for i, c := range cells {
		n[i] = c.Name()
	}
	return strings.Join(n, ", ")
}

// usesSimulatedImages: the catalog is simulated, or its images were remapped
// to the simulated images' prefix.
func usesSimulatedImages(cat *catalog.Catalog, cells []upgrade.Cell) bool {
	if cat.Build == catalog.BuildSimulated {
		return true
	}
	for _, c := range cells {
		for _, v := range []string{c.From, c.To} {
			r, _ := cat.Release(v)
			for _, img := range r.Images.List() {
				if strings.HasPrefix(img, images.DefaultPrefix+"/") {
					return true
				}
			}
		}
	}
	return false
}

// pullImages fetches the images of a registry catalog that the engine lacks.
func pullImages(ctx context.Context, cat *catalog.Catalog, cells []upgrade.Cell, log io.Writer) error {
	var refs []string
	for _, c := range cells {
		imgs, err := cat.ImagesFor(c)
		if err != nil {
			return err
		}
		refs = append(refs, imgs...)
	}
	return images.EnsurePulled(ctx, refs, log)
}

// BuildSimulated builds every simulated image the cells use, each from its
// reference's own tag, so a release may borrow another release's images.
func BuildSimulated(ctx context.Context, cat *catalog.Catalog, cells []upgrade.Cell, log io.Writer) error {
	refs, err := simulatedRefs(cat, cells)
	if err != nil {
		return err
	}
	_, err = images.BuildSimulated(ctx, images.BuildInput{Refs: refs, Log: log})
	return err
}

// simulatedRefs are the image references the cells deploy, sorted, less a
// candidate's own build: that comes from the local Docker store
// (checkCandidateImages), while the simulated images it kept from the newest
// release are built like any release's.
func simulatedRefs(cat *catalog.Catalog, cells []upgrade.Cell) ([]string, error) {
	own := cat.CandidateOwnImages()
	var refs []string
	for _, c := range cells {
		imgs, err := cat.ImagesFor(c)
		if err != nil {
			return nil, err
		}
		for _, img := range imgs {
			if !slices.Contains(own, img) && !slices.Contains(refs, img) {
				refs = append(refs, img)
			}
		}
	}
	sort.Strings(refs)
	return refs, nil
}

// openTarget creates (or reuses) the kind cluster name, or opens the
// existing cluster named by the kubeconfig.
func openTarget(ctx context.Context, in Input, name string, p *progress.Printer) (*cluster.Target, error) {
	if in.Kubeconfig != "" {
		return cluster.NewExistingTarget(in.Kubeconfig, in.Context)
	}
	c := cluster.New(name, cluster.WithImage(in.NodeImage), cluster.WithLog(in.Log))
	err := p.Phase("cluster "+name, func() error { _, err := c.Create(ctx); return err })
	if err != nil {
		// A cluster this run created but could not make ready (or whose
		// creation was interrupted) is not left behind, unless asked to keep all.
		if c.Created() && in.Keep != KeepAlways {
			cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if derr := c.Destroy(cleanup); derr != nil {
				err = fmt.Errorf("%w (deleting it as well: %v)", err, derr)
			}
		}
		return nil, err
	}
	return cluster.NewKindTarget(c)
}

// CheckCandidateImages: on kind, a candidate image of the local-only registry
// (localhost/…) must be in the local Docker store, where kind loads it from;
// it is never pulled. Missing ones are bad input, found once the engine runs
// and before any node image, build or cluster.
func CheckCandidateImages(ctx context.Context, cat *catalog.Catalog) error {
	own := cat.CandidateOwnImages()
	if len(own) == 0 {
		return nil
	}
	if missing := images.MissingLocalOnly(ctx, own); len(missing) > 0 {
		return fault.BadInputErr(fmt.Errorf("%s: %s not in the local Docker store; a localhost/ image is loaded into kind from there and never pulled (build it or docker tag it first)",
			catalog.CandidateFieldImages, strings.Join(missing, ", ")))
	}
	return nil
}

// candidateReproVars are the make variables that recreate the candidate in a
// repro line (the Makefile's CANDIDATE_* variables).
func candidateReproVars(cand *catalog.Candidate, cat *catalog.Catalog) map[string]string {
	if cand == nil || cat.Candidate == nil {
		return nil
	}
	vars := map[string]string{"CANDIDATE_NAME": cat.Candidate.Version, "CANDIDATE_IMAGES": report.FormatOverrides(cand.Images)}
	if cand.Manifests != "" {
		vars["CANDIDATE_MANIFESTS"] = cat.Candidate.Manifests.ResolvedPath()
	}
	if cand.Expect != "" {
		vars["CANDIDATE_EXPECT"] = cand.Expect
		vars["CANDIDATE_WHY"] = cand.Why
	}
	return vars
}
