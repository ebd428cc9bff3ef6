package bisect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/boundedfile"
	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/sweep"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// DefaultCellTime is the per-cell time an estimate uses when no earlier run
// measured one: a simulated cell takes 1–3 minutes (about 1 m 30 s when it
// passes, docs/benchmarks.md).
const DefaultCellTime = 2 * time.Minute

// DefaultSweepTime is the compatibility sweep's time in an estimate: eight
// installs, about 4.5 minutes on the simulated releases.
const DefaultSweepTime = 270 * time.Second

// Input configures a bisect.
type Input struct {
	// Catalog is a catalog name in CatalogDir or a file; it holds From and
	// says how images reach the cluster (simulated or pulled).
	Catalog    string
	CatalogDir string
	// From is the release every cell upgrades from.
	From string
	// The builds: BuildsFile, or ImageTemplate with IDsFile, or neither (the
	// catalog's releases after From).
	BuildsFile    string
	ImageTemplate string
	IDsFile       string
	// Good and Bad name the known-good and known-bad builds (default the
	// first and the last); Trust* skips verifying them.
	Good, Bad           string
	TrustGood, TrustBad bool
	// Order is the cells' upgrade order (the catalog's default when empty).
	Order string
	// SkipProbes leaves the cells undiagnosed (no runner probe).
	SkipProbes bool
	// SkipSweep leaves out the compatibility sweep of last good → first bad.
	SkipSweep bool
	Artifacts string
	Keep      matrix.Keep
	// Kubeconfig and Context run on an existing cluster; ClusterName is the kind
	// cluster otherwise (default uh-bisect), NodeImage its node image.
	Kubeconfig, Context string
	ClusterName         string
	NodeImage           string
	// Target runs on this prepared cluster, never created or deleted here (tests).
	Target *cluster.Target
	Log    io.Writer
	// Timing and SweepTiming override the cell's and the sweep's waits (tests).
	Timing      *cell.Timing
	SweepTiming *sweep.Timing
	// ExitCode is how the command maps the bisect's outcome to its exit
	// code, for the reports' headline (nil: the reports state no code).
	ExitCode func(error) int
}

// Plan is a checked Input: what a bisect runs and what it may cost.
type Plan struct {
	Catalog *catalog.Catalog
	From    catalog.Release
	Builds  []Build
	// Good and Bad are the indexes of the known ends.
	Good, Bad int
	Order     upgrade.Order
	// WorstCase is the most cells without retries: verifications + ⌈log2(Bad−Good)⌉.
	WorstCase int
	// CellTime is the per-cell time of the estimate and CellTimeFrom where it
	// comes from (a measured results.json, or the default).
	CellTime     time.Duration
	CellTimeFrom string
	// Estimate is WorstCase cells at CellTime, plus the sweep.
	Estimate time.Duration
	// ReproCatalog is the catalog as a repro line names it.
	ReproCatalog string
}

// Validate checks every input — catalog, from, build list, ends, order,
// target cluster, artifacts directory — and returns the plan. It touches no
// engine, image or cluster and writes nothing; its errors are bad input
// (exit 2) naming the flag or file:line: field, the value and what is valid.
func Validate(in Input) (Plan, error) {
	dir := in.CatalogDir
	if dir == "" {
		dir = catalog.DefaultDir
	}
	cat, err := catalog.Open(in.Catalog, dir)
	if err != nil {
		return Plan{}, asBadInput("-catalog", in.Catalog, err)
	}
	if err := cat.Validate(catalog.ValidateOptions{CheckPaths: true}); err != nil {
		return Plan{}, err
	}
	if in.From == "" {
		return Plan{}, fault.BadInputErr(fmt.Errorf("-from is required (want the release every cell upgrades from, one of %s)", strings.Join(cat.Versions(), ", ")))
	}
	from, ok := cat.Release(in.From)
	if !ok {
		return Plan{}, fault.BadInputErr(fmt.Errorf("-from %q: not a release of catalog %s (want one of %s)", in.From, cat.Name, strings.Join(cat.Versions(), ", ")))
	}
	var builds []Build
	switch {
	case in.BuildsFile != "" && in.ImageTemplate != "":
		return Plan{}, fault.BadInputErr(fmt.Errorf("-builds %s and -image-template %q: two build lists (want one: a builds file, or a template with -ids)", in.BuildsFile, in.ImageTemplate))
	case in.IDsFile != "" && in.ImageTemplate == "":
		return Plan{}, fault.BadInputErr(fmt.Errorf("-ids %s needs -image-template (e.g. quay.io/ambient_code/vteam_{component}:{id})", in.IDsFile))
	case in.BuildsFile != "":
		builds, err = LoadBuildsFile(in.BuildsFile, cat)
	case in.ImageTemplate != "":
		builds, err = TemplateBuilds(in.ImageTemplate, in.IDsFile, cat)
	default:
		builds, err = CatalogBuilds(cat, in.From)
	}
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{Catalog: cat, From: from, Builds: builds, Good: 0, Bad: len(builds) - 1, ReproCatalog: in.Catalog}
	if plan.Good, err = endIndex(builds, "-good", in.Good, plan.Good); err != nil {
		return Plan{}, err
	}
	if plan.Bad, err = endIndex(builds, "-bad", in.Bad, plan.Bad); err != nil {
		return Plan{}, err
	}
	if plan.Good >= plan.Bad {
		return Plan{}, fault.BadInputErr(fmt.Errorf("-good %s -bad %s: the known-good build must come before the known-bad one (the builds are ordered oldest first: %s)",
			builds[plan.Good].Name, builds[plan.Bad].Name, buildNames(builds)))
	}
	orderText := in.Order
	if orderText == "" {
		orderText = cat.Matrix.DefaultOrder
	}
	if orderText == "" {
		orderText = "all-at-once"
	}
	if plan.Order, err = upgrade.ParseOrder(orderText); err != nil {
		return Plan{}, fault.BadInputErr(fmt.Errorf("-order: %w", err))
	}
	if err := checkWhere(in); err != nil {
		return Plan{}, err
	}
	plan.WorstCase = WorstCaseCells(plan.Good, plan.Bad, in.TrustGood, in.TrustBad)
	plan.CellTime, plan.CellTimeFrom = measuredCellTime(in.Artifacts)
	plan.Estimate = time.Duration(plan.WorstCase) * plan.CellTime
	if !in.SkipSweep {
		plan.Estimate += DefaultSweepTime
	}
	return plan, nil
}

func asBadInput(flag, value string, err error) error {
	var ve *yamlin.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	return &fault.BadInput{Field: flag, Value: value, Err: fmt.Errorf("%s %q: %w", flag, value, err)}
}

func endIndex(builds []Build, flag, name string, def int) (int, error) {
	if name == "" {
		return def, nil
	}
	i := slices.IndexFunc(builds, func(b Build) bool { return b.Name == name })
	if i < 0 {
		return 0, fault.BadInputErr(fmt.Errorf("%s %q: not one of the builds (want one of %s)", flag, name, buildNames(builds)))
	}
	return i, nil
}

func buildNames(builds []Build) string {
	names := make([]string, len(builds))
	for i, b := range builds {
		names[i] = b.Name
	}
	if len(names) > 12 {
		names = append(names[:6], append([]string{"…"}, names[len(names)-5:]...)...)
	}
	return strings.Join(names, ", ")
}

// checkWhere checks -keep, the target cluster and the artifacts directory.
func checkWhere(in Input) error {
	if in.Keep != "" {
		if _, err := matrix.ParseKeep(string(in.Keep)); err != nil {
			return fault.BadInputErr(err)
		}
	}
	switch {
	case in.Target != nil:
	case in.Kubeconfig != "":
		if _, err := cluster.ExistingRestConfig(in.Kubeconfig, in.Context); err != nil {
			return err
		}
	case in.ClusterName != "":
		if err := cluster.CheckName(in.ClusterName); err != nil {
			return fault.BadInputErr(fmt.Errorf("-cluster %w", err))
		}
	}
	return matrix.CheckArtifactsDir(in.Artifacts)
}

// maxResultsFile bounds the results.json an estimate reads (ledgers make it large).
const maxResultsFile = 64 << 20

// measuredCellTime is the mean duration of the cells an earlier run in
// artifacts measured (its results.json), else DefaultCellTime.
func measuredCellTime(artifacts string) (time.Duration, string) {
	def := fmt.Sprintf("default %s a cell (no earlier %s in -artifacts)", DefaultCellTime, report.ResultsFile)
	if artifacts == "" {
		return DefaultCellTime, def
	}
	path := filepath.Join(artifacts, report.ResultsFile)
	data, err := boundedfile.Read(path, boundedfile.Kind{Want: "results.json", Readable: "results.json", Typical: "results", Limit: maxResultsFile})
	if err != nil {
		return DefaultCellTime, def
	}
	var doc struct {
		Results []struct {
			Duration time.Duration `json:"duration"`
			Error    string        `json:"error"`
		} `json:"results"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return DefaultCellTime, def
	}
	var sum time.Duration
	n := 0
	for _, r := range doc.Results {
		if r.Error == "" && r.Duration > 0 {
			sum += r.Duration
			n++
		}
	}
	if n == 0 {
		return DefaultCellTime, def
	}
	mean := (sum / time.Duration(n)).Round(time.Second)
	return mean, fmt.Sprintf("mean of %d cell(s) measured in %s", n, path)
}

// LinearCells is what a linear scan runs to find firstBad: the good end's
// verification, then every build after it up to firstBad.
func LinearCells(good, firstBad int, trustGood bool) int {
	n := firstBad - good
	if !trustGood {
		n++
	}
	return n
}

// PrintPlan says what a bisect with this plan runs and may cost.
func PrintPlan(w io.Writer, prefix string, in Input, plan Plan) {
	target := "kind cluster " + in.ClusterName
	if in.Kubeconfig != "" {
		target = "existing cluster " + in.Kubeconfig
	}
	if in.Target != nil {
		target = "a prepared cluster"
	}
	fmt.Fprintf(w, "%sbisect from %s (catalog %s) over %d builds, order %s, on %s (reset between steps); reports in %s\n",
		prefix, plan.From.Version, plan.Catalog.Name, len(plan.Builds), plan.Order.Text, target, in.Artifacts)
	for i, b := range plan.Builds {
		mark := "  "
		switch {
		case i == plan.Good && in.TrustGood:
			mark = "good (trusted)"
		case i == plan.Good:
			mark = "good (verified first)"
		case i == plan.Bad && in.TrustBad:
			mark = "bad (trusted)"
		case i == plan.Bad:
			mark = "bad (verified first)"
		case i < plan.Good || i > plan.Bad:
			mark = "outside the range"
		default:
			mark = ""
		}
		fmt.Fprintf(w, "%s  %2d %-28s %-22s %s\n", prefix, i+1, b.Name, mark, strings.Join(b.Release.Images.List(), " "))
	}
	verify := 0
	if !in.TrustGood {
		verify++
	}
	if !in.TrustBad {
		verify++
	}
	sweep := ""
	if !in.SkipSweep {
		sweep = fmt.Sprintf(" + the compatibility sweep of last good → first bad (about %s)", DefaultSweepTime)
	}
	fmt.Fprintf(w, "%sworst case: %d cells (%d verification(s) + ⌈log2 %d⌉ = %d halving steps; each inconclusive step costs one retry); a linear scan would run up to %d\n",
		prefix, plan.WorstCase, verify, plan.Bad-plan.Good, HalvingSteps(plan.Good, plan.Bad), LinearCells(plan.Good, plan.Bad, in.TrustGood))
	fmt.Fprintf(w, "%sestimate: up to %s (%d cells × %s, %s%s)\n", prefix, plan.Estimate.Round(time.Second), plan.WorstCase, plan.CellTime, plan.CellTimeFrom, sweep)
}
