package bisect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/sweep"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// DefaultClusterName is the kind cluster a bisect creates or reuses.
const DefaultClusterName = "uh-bisect"

// Output is a bisect's outcome.
type Output struct {
	Plan   Plan
	Answer Answer
	// Results are the cells of the steps, in the order they ran.
	Results []cellrun.Report
	// Compat is the compatibility sweep of last good → first bad (nil when not run).
	Compat *diagnose.Compat
	// Section is the answer as the reports show it.
	Section report.BisectSection
	Kept    []string
	Took    time.Duration
}

// FirstBad is the first bad build's name ("" when not found).
func (o Output) FirstBad() string {
	if o.Answer.Status != StatusFound {
		return ""
	}
	return o.Plan.Builds[o.Answer.FirstBad].Name
}

// OutcomeOf is a bisect's outcome as a typed error (harness/fault): a
// known-bad build that fails is a regression (found, range, or the known-good
// one already failing); no bad build is nil; no answer (inconclusive ends, a
// cell that could not run, a signal) is an infrastructure failure. sentence
// is its message.
func OutcomeOf(s Status, sentence string) error {
	switch s {
	case StatusFound, StatusRange, StatusGoodIsBad:
		return fault.RegressionErr(errors.New(sentence))
	case StatusNoneBad:
		return nil
	}
	return fault.InfraErr(errors.New(sentence)) // after a signal, the signal's code wins in main
}

// Run validates in, then bisects on one cluster (reset by every cell) and
// writes summary.md, results.json, report.html (and the bundles of failed
// steps) to in.Artifacts. The engine must be ready (the command prepares it).
func Run(ctx context.Context, in Input) (Output, error) {
	start := time.Now()
	if in.Log == nil {
		in.Log = os.Stderr
	}
	if in.Keep == "" {
		in.Keep = matrix.KeepOnFailure
	}
	if in.ClusterName == "" && in.Kubeconfig == "" {
		in.ClusterName = DefaultClusterName
	}
	plan, err := Validate(in)
	if err != nil {
		return Output{}, err
	}
	out := Output{Plan: plan}
	PrintPlan(in.Log, "[bisect] ", in, plan)
	if in.Kubeconfig == "" && in.Target == nil {
		if missing := missingLocalImages(ctx, plan); len(missing) > 0 {
			err := fault.BadInputErr(fmt.Errorf("builds: %s not in the local Docker store; a localhost/ image is loaded into kind from there and never pulled (build it or docker tag it first)", strings.Join(missing, ", ")))
			return Output{Plan: plan}, err
		}
	}
	p := progress.New(in.Log)
	var diag matrix.DiagnosisImages
	if !in.SkipProbes {
		var err error
		if diag, err = matrix.BuildDiagnosisImages(ctx, p, in.Log); err != nil {
			return out, fault.InfraErr(err)
		}
	}
	if err := p.Phase("images of "+plan.From.Version, func() error { return ensureImages(ctx, in, plan, plan.From) }); err != nil {
		return out, fault.InfraErr(err)
	}
	target := in.Target
	if target == nil {
		if target, err = openTarget(ctx, in, p); err != nil {
			return out, fault.InfraErr(err)
		}
	}
	// Bundles of an earlier run must not be mistaken for this run's.
	if err := os.RemoveAll(filepath.Join(in.Artifacts, report.CellsDir)); err != nil {
		return out, fault.InfraErr(err)
	}
	red := secrets.NewRedactor()
	names := make([]string, len(plan.Builds))
	for i, b := range plan.Builds {
		names[i] = b.Name
	}
	step := func(ctx context.Context, i, attempt int) Step {
		b := plan.Builds[i]
		fmt.Fprintf(in.Log, "[bisect] step: %s → %s (attempt %d)\n", plan.From.Version, b.Name, attempt)
		if err := p.Phase("images of "+b.Name, func() error { return ensureImages(ctx, in, plan, b.Release) }); err != nil {
			return Step{Verdict: verdict.Inconclusive, Error: "images of " + b.Name + ": " + err.Error()}
		}
		c := stepCell(plan, b)
		run := 0
		if attempt > 1 {
			run = attempt
		}
		res := matrix.RunOneCell(ctx, matrix.OneCellInput{Target: target, Catalog: plan.Catalog, Cell: c, From: plan.From, To: b.Release,
			ProbeImage: diag.Probe, WireImage: diag.Wire, Repro: reproOptions(plan, b), Artifacts: in.Artifacts, Run: run, Redactor: red, Timing: in.Timing, Log: in.Log})
		out.Results = append(out.Results, res)
		fmt.Fprintf(in.Log, "[bisect] %s: verdict %s in %s, runner 401s %s\n", b.Name, res.Verdict, res.Duration.Round(time.Second), report.Format401s(res.Unauthorized))
		return Step{Verdict: res.Verdict, Error: res.Error, Interrupted: res.Interrupted, Duration: res.Duration, Result: &res}
	}
	out.Answer = Search(ctx, SearchInput{Builds: names, Good: plan.Good, Bad: plan.Bad, TrustGood: in.TrustGood, TrustBad: in.TrustBad, Step: step})
	fmt.Fprintf(in.Log, "[bisect] %s (%d cells)\n", out.Answer.Sentence, out.Answer.Cells())

	// A sweep that fails leaves the answer as it is (a regression was found);
	// its error is in the log and the reports.
	var sweepErr error
	if lg, fb, ok := sweepEnds(plan, out.Answer); ok && !in.SkipSweep && ctx.Err() == nil {
		var compat diagnose.Compat
		sweepErr = p.Phase(fmt.Sprintf("compatibility sweep %s → %s", lg.Version, fb.Version), func() error {
			for _, r := range []catalog.Release{lg, fb} {
				if err := ensureImages(ctx, in, plan, r); err != nil {
					return err
				}
			}
			var err error
			compat, err = sweep.Run(ctx, sweep.Input{Target: target, Catalog: plan.Catalog, From: lg, To: fb, Timing: in.SweepTiming, Redactor: red, Log: in.Log})
			return err
		})
		if compat.From != "" {
			out.Compat = &compat
			fmt.Fprintf(in.Log, "[bisect] compatibility %s → %s: %s\n", lg.Version, fb.Version, compat.Sentence)
		}
		if sweepErr != nil {
			fmt.Fprintf(in.Log, "[bisect] compatibility sweep %s → %s: %v\n", lg.Version, fb.Version, sweepErr)
		}
	}

	outcome := OutcomeOf(out.Answer.Status, out.Answer.Sentence)
	out.Took = time.Since(start)
	out.Section = section(plan, in, out)
	if sweepErr != nil {
		out.Section.SweepError = sweepErr.Error()
	}
	out.Kept = releaseCluster(ctx, in, target, outcome != nil)
	var compat []diagnose.Compat
	if out.Compat != nil {
		compat = []diagnose.Compat{*out.Compat}
	}
	if err := report.WriteAll(report.WriteInput{Dir: in.Artifacts, Results: out.Results, Redactor: red, Compat: compat, Exit: report.ExitOf(outcome, in.ExitCode), Bisect: &out.Section}); err != nil {
		return out, fault.InfraErr(fmt.Errorf("writing reports: %w", err))
	}
	if findings, err := secrets.ScanDir(in.Artifacts, red.Values()); err != nil || len(findings) > 0 {
		return out, fault.InfraErr(fmt.Errorf("secret values found under %s (%d findings, %v): the reports were not redacted", in.Artifacts, len(findings), err))
	}
	PrintAnswer(in.Log, out)
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	return out, outcome
}

// stepCell is the cell from → build: an ad hoc cell expected to pass, so a
// failing build's cell is a regression in every report.
func stepCell(plan Plan, b Build) upgrade.Cell {
	return upgrade.Cell{Catalog: plan.Catalog.Name, From: plan.From.Version, To: b.Name, Order: plan.Order, Source: "bisect",
		Labels: []string{"bisect"},
		Expect: verdict.Expectation{Verdict: verdict.Pass, Why: "bisect step: an upgrade to a good build does not break"}}
}

// reproOptions make the repro line of a build's cell: a catalog release by
// FROM and TO, any other build as a candidate (CANDIDATE_NAME, _IMAGES and
// its own _MANIFESTS), which make repro runs as the same cell.
func reproOptions(plan Plan, b Build) report.ReproOptions {
	ro := report.ReproOptions{Catalog: plan.ReproCatalog}
	if b.InCatalog {
		return ro
	}
	ro.Vars = map[string]string{"CANDIDATE_NAME": b.Name, "CANDIDATE_IMAGES": report.FormatOverrides(b.Release.Images)}
	if b.OwnManifests {
		ro.Vars["CANDIDATE_MANIFESTS"] = b.Release.Manifests.ResolvedPath()
	}
	return ro
}

// sweepEnds are the releases the compatibility sweep mixes: the last good
// and the first bad build (the narrowed ends of a range).
func sweepEnds(plan Plan, a Answer) (catalog.Release, catalog.Release, bool) {
	if (a.Status != StatusFound && a.Status != StatusRange) || a.LastGood < 0 || a.FirstBad < 0 {
		return catalog.Release{}, catalog.Release{}, false
	}
	return plan.Builds[a.LastGood].Release, plan.Builds[a.FirstBad].Release, true
}

// ensureImages makes r's images available to kind: simulated ones built,
// registry ones pulled (localhost/ ones were checked to be present).
func ensureImages(ctx context.Context, in Input, plan Plan, r catalog.Release) error {
	if in.Kubeconfig != "" {
		return nil // an existing cluster pulls its own images
	}
	var sim, pull []string
	for _, img := range r.Images.List() {
		if plan.Catalog.Build == catalog.BuildSimulated && strings.HasPrefix(img, images.DefaultPrefix+"/") {
			sim = append(sim, img)
		} else {
			pull = append(pull, img)
		}
	}
	if len(sim) > 0 {
		if _, err := images.BuildSimulated(ctx, images.BuildInput{Refs: sim, Log: in.Log}); err != nil {
			return err
		}
	}
	return images.EnsurePulled(ctx, pull, in.Log)
}

// missingLocalImages are the localhost/ images of the builds (not simulated
// ones the harness builds) that the local Docker store lacks.
func missingLocalImages(ctx context.Context, plan Plan) []string {
	var refs []string
	for _, b := range append([]Build{{Release: plan.From}}, plan.Builds...) {
		for _, img := range b.Release.Images.List() {
			if plan.Catalog.Build == catalog.BuildSimulated && strings.HasPrefix(img, images.DefaultPrefix+"/") {
				continue
			}
			if !slices.Contains(refs, img) {
				refs = append(refs, img)
			}
		}
	}
	return images.MissingLocalOnly(ctx, refs)
}

// openTarget creates (or reuses) the kind cluster, or opens the existing one.
func openTarget(ctx context.Context, in Input, p *progress.Printer) (*cluster.Target, error) {
	if in.Kubeconfig != "" {
		return cluster.NewExistingTarget(in.Kubeconfig, in.Context)
	}
	c := cluster.New(in.ClusterName, cluster.WithImage(in.NodeImage), cluster.WithLog(in.Log))
	if err := p.Phase("cluster "+in.ClusterName, func() error { _, err := c.Create(ctx); return err }); err != nil {
		if c.Created() && in.Keep != matrix.KeepAlways {
			cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			_ = c.Destroy(cleanup)
		}
		return nil, err
	}
	return cluster.NewKindTarget(c)
}

// releaseCluster deletes the kind cluster this run made, or keeps it (-keep: always;
// on-failure keeps it when the bisect found a regression or could not finish).
func releaseCluster(ctx context.Context, in Input, target *cluster.Target, failed bool) []string {
	if in.Target != nil || target == nil || target.Kind == nil {
		return nil
	}
	if in.Keep == matrix.KeepAlways || (in.Keep == matrix.KeepOnFailure && failed) {
		fmt.Fprintf(in.Log, "[bisect] keeping cluster: %s\n", target.AccessLine())
		return []string{target.AccessLine()}
	}
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	if err := target.Kind.Destroy(cleanup); err != nil {
		fmt.Fprintf(in.Log, "[bisect] warning: %v\n", err)
	}
	return nil
}

// section is the answer as the reports show it.
func section(plan Plan, in Input, out Output) report.BisectSection {
	a := out.Answer
	s := report.BisectSection{Catalog: plan.Catalog.Name, From: plan.From.Version, Status: string(a.Status), Sentence: a.Sentence,
		Cells: a.Cells(), WorstCase: plan.WorstCase, LinearCells: -1, Took: out.Took}
	for _, b := range plan.Builds {
		s.Builds = append(s.Builds, b.Name)
	}
	name := func(i int) string { return plan.Builds[i].Name }
	if a.LastGood >= 0 {
		s.LastGood = name(a.LastGood)
	}
	if a.FirstBad >= 0 {
		s.FirstBad = name(a.FirstBad)
		s.LinearCells = LinearCells(plan.Good, a.FirstBad, in.TrustGood)
	}
	for _, i := range a.Candidates {
		s.Candidates = append(s.Candidates, name(i))
	}
	for _, i := range a.Skipped {
		s.Skipped = append(s.Skipped, name(i))
	}
	for _, st := range a.Steps {
		bs := report.BisectStep{Build: st.Build, Role: st.Role, Attempt: st.Attempt, Verdict: string(st.Verdict), Took: st.Duration, Error: st.Error}
		if st.Result != nil {
			bs.Runner = report.Format401s(st.Result.Unauthorized)
		}
		s.Steps = append(s.Steps, bs)
	}
	// The first bad build's cell: its repro line and diagnosis (its last run).
	if a.Status == StatusFound || a.Status == StatusGoodIsBad {
		b := plan.Builds[a.FirstBad]
		s.Repro = report.ReproCommand(stepCell(plan, b), reproOptions(plan, b))
		for i := len(a.Steps) - 1; i >= 0; i-- {
			if st := a.Steps[i]; st.Index == a.FirstBad && st.Result != nil {
				if st.Result.Repro != "" {
					s.Repro = st.Result.Repro // with the node image the cell ran on
				}
				if st.Result.Diagnosis != nil {
					s.Diagnosis = st.Result.Diagnosis.Sentences()
				}
				break
			}
		}
		if len(s.Diagnosis) == 0 {
			s.Diagnosis = []string{"not diagnosed: the cell of " + b.Name + " did not run (trusted as bad) or showed nothing to probe"}
		}
	}
	return s
}

// PrintAnswer prints the answer: "first bad build: NAME" first, then the steps.
func PrintAnswer(w interface{ Write([]byte) (int, error) }, out Output) {
	s := out.Section
	fmt.Fprintln(w, s.Headline())
	if s.LastGood != "" {
		fmt.Fprintf(w, "  last good build: %s\n", s.LastGood)
	}
	for i, st := range s.Steps {
		retry := ""
		if st.Attempt > 1 {
			retry = " (retry)"
		}
		fmt.Fprintf(w, "  step %d: %-24s %-12s %-12s %8s  %s\n", i+1, st.Build, st.Role+retry, st.Verdict, st.Took.Round(time.Second), st.Runner)
	}
	linear := "n/a"
	if s.LinearCells >= 0 {
		linear = fmt.Sprint(s.LinearCells)
	}
	fmt.Fprintf(w, "  cells: %d (worst case %d, linear scan %s) in %s\n", s.Cells, s.WorstCase, linear, s.Took.Round(time.Second))
	for _, d := range s.Diagnosis {
		fmt.Fprintf(w, "  diagnosis: %s\n", d)
	}
	if out.Compat != nil {
		fmt.Fprintf(w, "  compatibility %s → %s: %s\n", out.Compat.From, out.Compat.To, out.Compat.Sentence)
	}
	if s.Repro != "" {
		fmt.Fprintf(w, "  repro: %s\n", s.Repro)
	}
	for _, k := range out.Kept {
		fmt.Fprintf(w, "  kept: %s\n", k)
	}
}
