// Package matrix runs the cells of a catalog's upgrade matrix on one kind
// cluster (reset between cells) or on an existing cluster, writes the reports
// and decides the exit code. It is the main job (`make e2e`) and the engine of
// `make repro`; the e2e suite drives it too.
package matrix

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/images"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/redact"
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
	Catalog    string
	CatalogDir string
	Filter     catalog.Filter
	// Order, when set, runs the selected from/to with this upgrade order (ad hoc
	// cell expected to pass when the matrix has no such cell).
	Order     string
	Overrides map[catalog.Component]string
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
	Target *cell.Target
	// CellNames keeps only the cells with these names (after Filter).
	CellNames []string
}

// Output is the run's outcome.
type Output struct {
	Results  []verdict.CellResult
	ExitCode int
	// Clusters kept for inspection, with their kubectl access line.
	Kept []string
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
	cat, cells, err := selectCells(in)
	if err != nil {
		return Output{ExitCode: exitcode.Of(err)}, err
	}
	fmt.Fprintf(in.Log, "[matrix] catalog %s: %d cell(s): %s\n", cat.Name, len(cells), cellNames(cells))

	if usesSimulatedImages(cat, cells) {
		if err := p.Phase("build simulated images", func() error { return buildSimulated(ctx, cat, cells, in.Log) }); err != nil {
			return Output{ExitCode: exitcode.Of(err)}, err
		}
	} else if in.Kubeconfig == "" {
		if err := p.Phase("pull release images", func() error { return pullImages(ctx, cat, cells, in.Log) }); err != nil {
			return Output{ExitCode: exitcode.Infrastructure}, exitcode.InfraErr(err)
		}
	}

	// Bundles of an earlier run must not be mistaken for this run's.
	if err := os.RemoveAll(filepath.Join(in.Artifacts, report.CellsDir)); err != nil {
		return Output{ExitCode: exitcode.Infrastructure}, exitcode.InfraErr(err)
	}
	red := redact.New()
	var out Output
	// One cluster serves cells until a mismatched cell keeps it for inspection;
	// the next cell then opens a fresh one.
	target := in.Target
	clusterIndex := 0
	for _, c := range cells {
		if ctx.Err() != nil {
			break
		}
		if target == nil {
			t, err := openTarget(ctx, in, clusterIndex, p)
			if err != nil {
				return finish(ctx, in, out, red, nil, exitcode.InfraErr(err))
			}
			target = t
		}
		from, _ := cat.Release(c.From)
		to, _ := cat.Release(c.To)
		res := cell.Run(ctx, cell.Input{Target: target, Catalog: cat, Cell: c, From: from, To: to,
			Artifacts: in.Artifacts, Redactor: red, Log: in.Log, Timing: in.Timing})
		if !res.Matched && target.Kind != nil && in.Target == nil && in.Keep == KeepOnFailure {
			res.KeptCluster = kubectlLine(target.Kind)
			out.Kept = append(out.Kept, res.KeptCluster)
			fmt.Fprintf(in.Log, "[matrix] keeping cluster of mismatched cell %s: %s\n", c.Name(), res.KeptCluster)
			target = nil
			clusterIndex++
		}
		out.Results = append(out.Results, res)
	}
	return finish(ctx, in, out, red, target, ctx.Err())
}

func finish(ctx context.Context, in Input, out Output, red *redact.Redactor, target *cell.Target, runErr error) (Output, error) {
	// Tear down with a fresh context so Ctrl-C still cleans up.
	cleanup, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if target != nil && target.Kind != nil && in.Target == nil {
		if in.Keep == KeepAlways {
			line := kubectlLine(target.Kind)
			out.Kept = append(out.Kept, line)
			fmt.Fprintf(in.Log, "[matrix] keeping cluster: %s\n", line)
		} else if err := target.Kind.Destroy(cleanup); err != nil {
			fmt.Fprintf(in.Log, "[matrix] warning: %v\n", err)
		}
	}
	if err := report.WriteAll(report.WriteInput{Dir: in.Artifacts, Results: out.Results, Redactor: red}); err != nil {
		return out, exitcode.InfraErr(fmt.Errorf("writing reports: %w", err))
	}
	if findings, err := redact.ScanDir(in.Artifacts, red.Values()); err != nil || len(findings) > 0 {
		return out, exitcode.InfraErr(fmt.Errorf("secret values found under %s (%d findings, %v): the reports were not redacted", in.Artifacts, len(findings), err))
	}
	printSummary(in.Log, out)
	out.ExitCode = decideExit(out.Results, runErr)
	if runErr != nil {
		return out, runErr
	}
	if out.ExitCode != exitcode.OK {
		return out, &exitcode.Error{Code: out.ExitCode, Err: fmt.Errorf("%s", exitReason(out.Results))}
	}
	return out, nil
}

// decideExit: a regression (mismatch) wins; then infrastructure; then ok.
func decideExit(results []verdict.CellResult, runErr error) int {
	infra := runErr != nil
	for _, r := range results {
		if r.Error != "" {
			infra = true
			continue
		}
		if !r.Matched {
			return exitcode.Regression
		}
	}
	if infra {
		return exitcode.Infrastructure
	}
	return exitcode.OK
}

func exitReason(results []verdict.CellResult) string {
	var bad []string
	for _, r := range results {
		if r.Error != "" {
			bad = append(bad, r.Cell.Name()+": could not run: "+r.Error)
		} else if !r.Matched {
			bad = append(bad, fmt.Sprintf("%s: verdict %s, expected %s", r.Cell.Name(), r.Verdict, r.Expected.Verdict))
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
		fmt.Fprintf(w, "  %s %-32s expected %-12s verdict %-12s %s  %s\n", mark, r.Cell.Name(), r.Expected.Verdict, r.Verdict, r.Duration.Round(time.Second), report.Format401s(r.Unauthorized))
		if r.Repro != "" && r.Verdict != verdict.Pass {
			fmt.Fprintf(w, "      repro: %s\n", r.Repro)
		}
	}
	for _, k := range out.Kept {
		fmt.Fprintf(w, "  kept: %s\n", k)
	}
}

func kubectlLine(c *cluster.Cluster) string {
	return fmt.Sprintf("kubectl --kubeconfig %s --context %s", c.GetKubeconfig(), c.GetKubectlContext())
}

func selectCells(in Input) (*catalog.Catalog, []catalog.Cell, error) {
	var opts []catalog.LoadOption
	if in.ManifestOverride != nil {
		mo := *in.ManifestOverride
		if len(mo.Only) == 0 {
			plain, err := catalog.Open(in.Catalog, in.CatalogDir)
			if err != nil {
				return nil, nil, err
			}
			if mo.Only = plain.VersionsInDir(mo.Dir, mo.Pattern); len(mo.Only) == 0 {
				return nil, nil, exitcode.BadInputErr(fmt.Errorf("-manifests-dir %s holds no manifest file of catalog %s (want e.g. kind-%s.yaml)", mo.Dir, plain.Name, plain.Versions()[0]))
			}
		}
		opts = append(opts, catalog.WithManifestOverride(mo))
	} else {
		opts = append(opts, catalog.WithPathChecks())
	}
	cat, err := catalog.Open(in.Catalog, in.CatalogDir, opts...)
	if err != nil {
		return nil, nil, err
	}
	for from, to := range in.ImageRemap {
		if _, err := cat.RemapRegistry(from, to); err != nil {
			return nil, nil, err
		}
	}
	cells, err := cat.Cells(in.Filter)
	if in.Order != "" {
		cells, err = withOrder(cat, in.Filter, cells, err, in.Order)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(in.CellNames) > 0 {
		keep := map[string]bool{}
		for _, n := range in.CellNames {
			keep[n] = true
		}
		var kept []catalog.Cell
		for _, c := range cells {
			if keep[c.Name()] {
				kept = append(kept, c)
			}
		}
		cells = kept
	}
	if len(in.Overrides) > 0 {
		for i := range cells {
			if cells[i], err = catalog.ApplyOverrides(cells[i], in.Overrides); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(cells) == 0 {
		return nil, nil, exitcode.BadInputErr(fmt.Errorf("no cell of catalog %s matches the filter", cat.Name))
	}
	return cat, cells, nil
}

// withOrder keeps the selected cells run with order; when the matrix has no
// such cell for a from/to, it builds an ad hoc one expected to pass.
func withOrder(cat *catalog.Catalog, f catalog.Filter, cells []catalog.Cell, err error, order string) ([]catalog.Cell, error) {
	o, perr := catalog.ParseOrder(order)
	if perr != nil {
		return nil, exitcode.BadInputErr(perr)
	}
	var out []catalog.Cell
	for _, c := range cells {
		if c.Order.Text == o.Text {
			out = append(out, c)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if len(f.From) != 1 || len(f.To) != 1 {
		if err != nil {
			return nil, err
		}
		return nil, exitcode.BadInputErr(fmt.Errorf("-order %s needs exactly one -from and one -to when the matrix has no such cell", order))
	}
	for _, v := range []string{f.From[0], f.To[0]} {
		if _, ok := cat.Release(v); !ok {
			return nil, exitcode.BadInputErr(fmt.Errorf("release %q is not in catalog %s (valid: %s)", v, cat.Name, strings.Join(cat.Versions(), ", ")))
		}
	}
	return []catalog.Cell{{Catalog: cat.Name, From: f.From[0], To: f.To[0], Order: o, Expect: verdict.Pass,
		Why: "ad hoc cell (not in the catalog's matrix): an upgrade is expected not to break", Source: "ad-hoc"}}, nil
}

func cellNames(cells []catalog.Cell) string {
	n := make([]string, len(cells))
	for i, c := range cells {
		n[i] = c.Name()
	}
	return strings.Join(n, ", ")
}

// usesSimulatedImages: the catalog is simulated, or its images were remapped
// to the simulated images' prefix.
func usesSimulatedImages(cat *catalog.Catalog, cells []catalog.Cell) bool {
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
func pullImages(ctx context.Context, cat *catalog.Catalog, cells []catalog.Cell, log io.Writer) error {
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

// buildSimulated builds the simulated images of every release the cells use.
func buildSimulated(ctx context.Context, cat *catalog.Catalog, cells []catalog.Cell, log io.Writer) error {
	seen := map[string]bool{}
	for _, c := range cells {
		seen[c.From], seen[c.To] = true, true
	}
	var rels []string
	for v := range seen {
		rels = append(rels, v)
	}
	sort.Strings(rels)
	_, err := images.BuildSimulated(ctx, images.BuildInput{Releases: rels, Log: log})
	return err
}

// openTarget creates (or reuses) the kind cluster for the i-th stretch of cells,
// or opens the existing cluster named by the kubeconfig.
func openTarget(ctx context.Context, in Input, i int, p *progress.Printer) (*cell.Target, error) {
	if in.Kubeconfig != "" {
		cfg, err := restConfig(in.Kubeconfig, in.Context)
		if err != nil {
			return nil, err
		}
		return &cell.Target{Rest: cfg, Name: "existing:" + in.Kubeconfig}, nil
	}
	name := in.ClusterName
	if i > 0 {
		name = fmt.Sprintf("%s-%d", in.ClusterName, i+1)
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
	return &cell.Target{Rest: c.KubernetesRestConfig(), Kind: c, Name: name, NodeImage: in.NodeImage}, nil
}

func restConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err == nil {
		cfg.QPS, cfg.Burst = 50, 100
	}
	return cfg, err
}
