package matrix

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/simulated"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// Plan is what a valid Input runs: the catalog (manifest override and image
// remap applied) and the cells with their overrides.
type Plan struct {
	Catalog *catalog.Catalog
	Cells   []upgrade.Cell
	// Simulated: the cells run the simulated images, built before the first cell.
	Simulated bool
	// Releases are the releases the cells deploy, oldest first.
	Releases []string
	// Repro shapes the repro line of every cell (node image set per cell).
	Repro report.ReproOptions
	// Parallel is how many clusters run cells at once: Input.Parallel
	// clamped to the cell runs (set by Validate).
	Parallel int
}

// Select checks everything that decides which cells run and what they
// deploy — catalog, filter, order, overrides, image remap, manifests dir —
// and returns the plan. It has no side effect and touches no engine or
// cluster. Errors are bad input; they name the command-line flag of the
// Input field at fault (-catalog, -from, -order, …), its value and what is valid.
func Select(in Input) (Plan, error) {
	cat, err := openCatalog(in)
	if err != nil {
		return Plan{}, err
	}
	if cat.Candidate != nil {
		for _, to := range in.Filter.To {
			if to != cat.Candidate.Version {
				return Plan{}, fault.BadInputErr(fmt.Errorf("-to %q: with a candidate every cell goes to it (leave -to empty or give %s)", to, cat.Candidate.Version))
			}
		}
	}
	cells, err := cat.Cells(in.Filter)
	if err != nil {
		return Plan{}, err
	}
	if in.Order != "" {
		if cells, err = withOrder(cat, in.Filter, cells, in.Order); err != nil {
			return Plan{}, err
		}
	}
	if cells, err = keepNamed(cells, in.CellNames); err != nil {
		return Plan{}, err
	}
	if len(cells) == 0 {
		return Plan{}, fault.BadInputErr(fmt.Errorf("no cell of catalog %s matches %s (its cells: %s; with -order and exactly one -from and one -to an ad hoc cell runs)",
			cat.Name, filterText(in), cellNames(mustAllCells(cat))))
	}
	if in.Working != "" {
		if _, err := verdict.ParseWorkingLevel(string(in.Working)); err != nil {
			return Plan{}, fault.BadInputErr(fmt.Errorf("-working: %w", err))
		}
	}
	cells = cat.ApplyWorking(cells, in.Working)
	if !in.Overrides.IsZero() {
		for i := range cells {
			if cells[i], err = catalog.ApplyOverrides(cells[i], in.Overrides); err != nil {
				return Plan{}, flagErr("-overrides", report.FormatOverrides(in.Overrides), err)
			}
		}
	}
	return planFor(in, cat, cells)
}

// openCatalog opens the catalog of -catalog and -catalog-dir and applies -image-remap.
func openCatalog(in Input) (*catalog.Catalog, error) {
	dir := in.CatalogDir
	if dir == "" {
		dir = catalog.DefaultDir
	}
	if !catalog.IsPath(in.Catalog) {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fault.BadInputErr(fmt.Errorf("-catalog-dir %s: does not exist or is not a directory (want the directory of catalog files, e.g. %s run from the repository root, or -catalog as a file path)", dir, catalog.DefaultDir))
		}
	}
	var opts []catalog.LoadOption
	if in.Candidate != nil {
		opts = append(opts, catalog.WithCandidate(*in.Candidate))
	}
	cat, err := catalog.Open(in.Catalog, dir, opts...)
	if err != nil {
		return nil, flagErr("-catalog", in.Catalog, err)
	}
	prefixes := cat.ImagePrefixes()
	for _, from := range slices.Sorted(maps.Keys(in.ImageRemap)) {
		pair := from + "=" + in.ImageRemap[from]
		n, err := cat.RemapRegistry(from, in.ImageRemap[from])
		if err != nil {
			return nil, flagErr("-image-remap", pair, err)
		}
		if n == 0 {
			return nil, fault.BadInputErr(fmt.Errorf("-image-remap %q: %s matches no image of catalog %s (want a prefix its images start with: %s)",
				pair, from, cat.Name, strings.Join(prefixes, ", ")))
		}
	}
	return cat, nil
}

// planFor checks what the cells deploy — manifests dir, local manifest
// paths, simulated releases — and returns their plan.
func planFor(in Input, cat *catalog.Catalog, cells []upgrade.Cell) (Plan, error) {
	used := releasesOf(cat, cells)
	if in.ManifestOverride != nil {
		mo := *in.ManifestOverride
		if st, err := os.Stat(mo.Dir); err != nil || !st.IsDir() {
			return Plan{}, fault.BadInputErr(fmt.Errorf("-manifests-dir %q: does not exist or is not a directory (want a directory of rendered manifests %s, one kustomize build of each release)", mo.Dir, catalog.DefaultManifestPattern))
		}
		if len(mo.Only) == 0 {
			// Every release a cell deploys needs its file: a missing one is
			// named, never fetched from its catalog source behind the user's back.
			// A candidate deploys its own manifests or the newest release's.
			mo.Only = used
			if cat.Candidate != nil && !cat.CandidateHasOwnManifests() {
				vs := cat.Versions()
				mo.Only = append(mo.Only, vs[len(vs)-1])
			}
		}
		if err := cat.ApplyManifestOverride(mo); err != nil {
			return Plan{}, flagErr("-manifests-dir", mo.Dir, fmt.Errorf("%w%s", err, dirHolds(cat, mo)))
		}
	}
	// Local manifest paths must exist now, not when the cell deploys.
	if err := cat.Validate(catalog.ValidateOptions{CheckPaths: true}); err != nil {
		return Plan{}, err
	}
	if err := checkManifests(in, cat, used); err != nil {
		return Plan{}, err
	}

	plan := Plan{Catalog: cat, Cells: cells, Releases: used, Simulated: usesSimulatedImages(cat, cells)}
	if plan.Simulated {
		if err := checkSimulated(cat, cells, in.ImageRemap); err != nil {
			return Plan{}, err
		}
	}
	plan.Repro = report.ReproOptions{Catalog: reproCatalog(in, cat), ImageRemap: in.ImageRemap, Vars: candidateReproVars(in.Candidate, cat)}
	if in.ManifestOverride != nil && in.ManifestOverride.Pattern == "" && len(in.ManifestOverride.Only) == 0 {
		plan.Repro.ManifestsDir = in.ManifestOverride.Dir
	}
	return plan, nil
}

// checkManifests reads and checks the local manifests of every release the
// cells deploy, the candidate's included (deploy.CheckManifests), before any
// side effect: a junk file, a FIFO, a huge file or manifests without the
// platform's Deployments are bad input, named by the flag or the catalog
// field they came from. Git sources are fetched by the cell and checked then.
func checkManifests(in Input, cat *catalog.Catalog, used []string) error {
	versions := slices.Clone(used)
	if cat.Candidate != nil {
		versions = append(versions, cat.Candidate.Version)
	}
	overrideDir := ""
	if in.ManifestOverride != nil {
		if abs, err := filepath.Abs(in.ManifestOverride.Dir); err == nil {
			overrideDir = abs + string(filepath.Separator)
		}
	}
	var problems []yamlin.Problem
	checked := map[string]bool{}
	for _, v := range versions {
		rel, _ := cat.Release(v)
		path := rel.Manifests.ResolvedPath()
		if path == "" || checked[path] {
			continue
		}
		checked[path] = true
		err := deploy.CheckManifests(path)
		switch {
		case err == nil:
		case cat.CandidateHasOwnManifests() && v == cat.Candidate.Version:
			return flagErr(catalog.CandidateFieldManifests, in.Candidate.Manifests, err)
		case overrideDir != "" && strings.HasPrefix(path, overrideDir):
			return flagErr("-manifests-dir", in.ManifestOverride.Dir, fmt.Errorf("release %s: %w", v, err))
		case cat.Candidate != nil && v == cat.Candidate.Version:
			vs := cat.Versions() // the candidate kept the newest release's manifests
			problems = append(problems, cat.ManifestProblem(vs[len(vs)-1], err))
		default:
			problems = append(problems, cat.ManifestProblem(v, err))
		}
	}
	if len(problems) > 0 {
		return fault.BadInputErr(&yamlin.ValidationError{Problems: problems})
	}
	return nil
}

// Validate is Select plus the checks of where the run goes: the existing
// cluster's kubeconfig and context, the kind cluster's name and the artifacts
// directory. Like Select it has no side effect.
func Validate(in Input) (Plan, error) {
	plan, err := Select(in)
	if err != nil {
		return Plan{}, err
	}
	if err := checkWhere(in); err != nil {
		return Plan{}, err
	}
	plan.Parallel = laneCount(in, plan.Cells)
	return plan, nil
}

// checkWhere checks -keep, -parallel, the target cluster and the artifacts directory.
func checkWhere(in Input) error {
	if in.Keep != "" {
		if _, err := ParseKeep(string(in.Keep)); err != nil {
			return fault.BadInputErr(err)
		}
	}
	if err := checkParallel(in); err != nil {
		return err
	}
	if err := checkTarget(in); err != nil {
		return err
	}
	return CheckArtifactsDir(in.Artifacts)
}

// checkParallel: -parallel is 1…8 (0 is the default, 1), more than one lane
// needs kind clusters the run creates, and every lane's name must be a kind
// cluster name.
func checkParallel(in Input) error {
	if in.Parallel < 0 || in.Parallel > MaxParallel {
		return fault.BadInputErr(fmt.Errorf("-parallel %d: want a number of clusters from 1 to %d (each runs one cell at a time)", in.Parallel, MaxParallel))
	}
	if in.Parallel <= 1 {
		return nil
	}
	switch {
	case in.Kubeconfig != "":
		return fault.BadInputErr(fmt.Errorf("-parallel %d: an existing cluster (-kubeconfig %s) runs one cell at a time (want -parallel 1, or kind clusters without -kubeconfig)", in.Parallel, in.Kubeconfig))
	case in.Target != nil:
		return fault.BadInputErr(fmt.Errorf("matrix.Input.Parallel %d: a prepared Target runs one cell at a time (want 1, or no Target)", in.Parallel))
	}
	if in.ClusterName == "" {
		return nil
	}
	last := laneName(in.ClusterName, in.Parallel-1)
	if err := cluster.CheckName(last); err != nil {
		return fault.BadInputErr(fmt.Errorf("-cluster %q with -parallel %d: lane cluster %w (want a shorter -cluster)", in.ClusterName, in.Parallel, err))
	}
	return nil
}

func checkTarget(in Input) error {
	switch {
	case in.Target != nil:
		return nil
	case in.Kubeconfig != "":
		_, err := cluster.ExistingRestConfig(in.Kubeconfig, in.Context)
		return err
	case in.Context != "":
		return fault.BadInputErr(fmt.Errorf("-context %q: applies to an existing cluster (want -kubeconfig FILE or -existing with it; kind clusters get their own context)", in.Context))
	case in.ClusterName != "":
		return flagErr("-cluster", in.ClusterName, cluster.CheckName(in.ClusterName))
	}
	return nil
}

// CheckArtifactsDir checks that dir is a directory the harness can write, or
// can be created: its nearest existing ancestor is a writable directory. It
// creates nothing, so a refused run leaves no trace.
func CheckArtifactsDir(dir string) error {
	if dir == "" {
		return fault.BadInputErr(fmt.Errorf("-artifacts is empty (want a directory for the reports, e.g. _artifacts)"))
	}
	p := filepath.Clean(dir)
	for {
		st, err := os.Stat(p)
		if err == nil {
			if st.IsDir() {
				break
			}
			if p == filepath.Clean(dir) {
				return fault.BadInputErr(fmt.Errorf("-artifacts %s: is a file (want a directory for the reports; it is created when missing)", dir))
			}
			return fault.BadInputErr(fmt.Errorf("-artifacts %s: %s is a file, so the directory cannot be created (want a directory path)", dir, p))
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fault.BadInputErr(fmt.Errorf("-artifacts %s: %s: %v (want a directory the harness may write)", dir, p, unwrapPath(err)))
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	// access(2) tells a read-only file system and an immutable directory apart
	// from a writable one even for root, without creating anything.
	if err := syscall.Access(p, 0x2|0x1); err != nil { // W_OK|X_OK
		what := p
		if p != filepath.Clean(dir) {
			what = p + " (where it would be created)"
		}
		return fault.BadInputErr(fmt.Errorf("-artifacts %s: %s is not writable: %v (want a directory the harness may write)", dir, what, err))
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// flagErr names the flag and value an error is about, keeping its exit code;
// a catalog's own problems already start with file:line and are left as they are.
func flagErr(flag, value string, err error) error {
	if err == nil {
		return nil
	}
	var ve *yamlin.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	wrapped := fmt.Errorf("%s %q: %w", flag, value, err)
	if value != "" && strings.HasPrefix(err.Error(), value+" ") {
		wrapped = fmt.Errorf("%s %w", flag, err) // "-catalog x.yaml is a directory, …"
	}
	if fault.KindOf(err) == fault.KindRegression {
		return wrapped
	}
	return &fault.BadInput{Field: flag, Value: value, Err: wrapped} // every check here is about the input
}

// withOrder keeps the selected cells run with order; when the matrix has no
// such cell for a from/to, it builds an ad hoc one expected to pass.
func withOrder(cat *catalog.Catalog, f catalog.Filter, cells []upgrade.Cell, order string) ([]upgrade.Cell, error) {
	o, err := upgrade.ParseOrder(order)
	if err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("-order: %w", err))
	}
	var out []upgrade.Cell
	for _, c := range cells {
		if c.Order.Text == o.Text {
			out = append(out, c)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if len(f.From) != 1 || len(f.To) != 1 {
		return nil, fault.BadInputErr(fmt.Errorf("-order %s: no selected cell has this order (the selected cells: %s; want exactly one -from and one -to for an ad hoc cell)", order, cellNames(cells)))
	}
	return []upgrade.Cell{{Catalog: cat.Name, From: f.From[0], To: f.To[0], Order: o, Source: "ad-hoc",
		Expect: verdict.Expectation{Verdict: verdict.Pass, Why: "ad hoc cell (not in the catalog's matrix): an upgrade is expected not to break"}}}, nil
}

// keepNamed keeps the cells with these names, in matrix order (all when names
// is empty); a name that is not among them is an error.
func keepNamed(cells []upgrade.Cell, names []string) ([]upgrade.Cell, error) {
	if len(names) == 0 {
		return cells, nil
	}
	for _, n := range names {
		if !slices.ContainsFunc(cells, func(c upgrade.Cell) bool { return c.Name() == n }) {
			return nil, fault.BadInputErr(fmt.Errorf("cell %q is not among the selected cells (want one of %s)", n, cellNames(cells)))
		}
	}
	var kept []upgrade.Cell
	for _, c := range cells {
		if slices.Contains(names, c.Name()) {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

func filterText(in Input) string {
	var parts []string
	for _, f := range []struct {
		flag   string
		values []string
	}{{"-from", in.Filter.From}, {"-to", in.Filter.To}, {"-labels", in.Filter.Labels}} {
		if len(f.values) > 0 {
			parts = append(parts, f.flag+" "+strings.Join(f.values, ","))
		}
	}
	if in.Filter.Name != "" {
		parts = append(parts, "-cell "+in.Filter.Name)
	}
	if len(parts) == 0 {
		return "the selection"
	}
	return strings.Join(parts, " ")
}

func mustAllCells(cat *catalog.Catalog) []upgrade.Cell {
	all, _ := cat.Cells(catalog.Filter{})
	return all
}

// releasesOf lists the catalog releases the cells deploy, in the catalog's
// version order; a candidate is not one of them (AddCandidate checked it).
func releasesOf(cat *catalog.Catalog, cells []upgrade.Cell) []string {
	seen := map[string]bool{}
	for _, c := range cells {
		seen[c.From], seen[c.To] = true, true
	}
	var out []string
	for _, v := range cat.Versions() {
		if seen[v] {
			out = append(out, v)
		}
	}
	return out
}

// dirHolds says which manifest files a -manifests-dir holds, so a user sees
// at once which releases it can serve.
func dirHolds(cat *catalog.Catalog, mo catalog.ManifestOverride) string {
	have := cat.VersionsInDir(mo.Dir, mo.Pattern)
	if len(have) == 0 {
		return fmt.Sprintf("\n(%s holds no manifest file of catalog %s; want files named %s)", mo.Dir, cat.Name, catalog.DefaultManifestPattern)
	}
	return fmt.Sprintf("\n(%s holds the manifests of %s only; select cells among those releases)", mo.Dir, strings.Join(have, ", "))
}

// checkSimulated: every simulated image the cells deploy must name, by its
// tag, a release (or seeded fault) the simulated platform implements; images
// are built from their own tags, so a catalog release may borrow any of them.
func checkSimulated(cat *catalog.Catalog, cells []upgrade.Cell, remap map[string]string) error {
	sim, err := simulated.Default()
	if err != nil {
		return fault.BadInputErr(fmt.Errorf("catalog %s deploys simulated images, which cannot be checked: %w", cat.Name, err))
	}
	var problems []string
	for _, c := range cells {
		imgs, err := cat.ImagesFor(c)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			// A candidate's own build is no simulated release (checkCandidateImages).
			if !strings.HasPrefix(img, images.DefaultPrefix+"/") || slices.Contains(cat.CandidateOwnImages(), img) {
				continue
			}
			_, tag, _ := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
			if err := sim.Lookup(tag); err != nil && !slices.Contains(problems, img) {
				problems = append(problems, img)
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	why := fmt.Sprintf("catalog %s deploys simulated images", cat.Name)
	if len(remap) > 0 {
		why = fmt.Sprintf("-image-remap %q points catalog %s at the simulated images", catalog.FormatImageRemap(remap), cat.Name)
	}
	return fault.BadInputErr(fmt.Errorf("%s, but the simulated platform has no release for %s (want tags among %s)",
		why, strings.Join(problems, ", "), strings.Join(sim.Versions(), ", ")))
}

// reproCatalog is the catalog as `make repro CATALOG=` takes it: the name when
// it was found by name in the default directory, else the file's path.
func reproCatalog(in Input, cat *catalog.Catalog) string {
	if catalog.IsPath(in.Catalog) {
		return in.Catalog
	}
	if in.CatalogDir == "" || filepath.Clean(in.CatalogDir) == catalog.DefaultDir {
		return in.Catalog
	}
	return cat.File
}
