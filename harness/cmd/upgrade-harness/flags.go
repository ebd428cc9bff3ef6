package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// refuseRepeatedFlags walks args the way flag.FlagSet.Parse does (-name,
// --name, -name=value; a non-bool flag takes the next argument; "--" or the
// first non-flag ends the flags) and reports a flag given twice. Flags fs does
// not define are left to Parse.
func refuseRepeatedFlags(fs *flag.FlagSet, args []string) error {
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			return nil
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			return nil
		}
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		isBool := ok && b.IsBoolFlag()
		if seen[name] {
			hint := fmt.Sprintf("; lists are comma-separated, e.g. -%s a,b", name)
			if isBool {
				hint = ""
			}
			return fmt.Errorf("flag -%s is given twice (want it once%s)", name, hint)
		}
		seen[name] = true
		if !hasValue && !isBool {
			i++ // its value
		}
	}
	return nil
}

func positionalError(fs *flag.FlagSet, rest []string) error {
	msg := fmt.Sprintf("unexpected argument %q: %s takes flags only", rest[0], fs.Name())
	if len(rest) > 1 {
		msg += fmt.Sprintf(" (and %s after it were not read)", strings.Join(quoteAll(rest[1:]), " "))
	}
	// A version is most likely meant for the command's version flag.
	hint := "; want -flag value pairs, see -h"
	if versionRE.MatchString(rest[0]) {
		switch {
		case fs.Lookup("from") != nil:
			hint = fmt.Sprintf("; want e.g. -from %s or -to %s", rest[0], rest[0])
		case fs.Lookup("releases") != nil:
			hint = fmt.Sprintf("; want e.g. -releases %s", rest[0])
		case fs.Lookup("kubernetes-version") != nil:
			hint = fmt.Sprintf("; want e.g. -kubernetes-version %s", rest[0])
		}
	}
	return fmt.Errorf("%s%s", msg, hint)
}

var versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+`)

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// Flags shared by several commands, declared once.
var (
	catalogFlag = flagSpec{name: "catalog", def: "simulated", arg: "NAME|FILE", path: true, makeVar: "CATALOG",
		usage: "catalog name in -catalog-dir (simulated: the harness's own releases; upstream: the platform's), or a catalog file (a path with / or ending in .yaml)"}
	catalogDirFlag = flagSpec{name: "catalog-dir", def: catalog.DefaultDir, arg: "DIR", path: true,
		noMake: "make runs the checkout's catalogs; CATALOG=path/file.yaml names another file",
		usage:  "directory of the named catalogs"}
	manifestsDirFlag = flagSpec{name: "manifests-dir", arg: "DIR", path: true, makeVar: "MANIFESTS_DIR",
		usage: "deploy every release from rendered manifests kind-<version>.yaml in this directory; each release the cells use must have its file"}
	imageRemapFlag = flagSpec{name: "image-remap", arg: "FROM=TO,…", makeVar: "IMAGE_REMAP",
		usage: "rewrite image prefixes of every release, e.g. quay.io/ambient_code=localhost/ambient-sim runs upstream manifests with the simulated images; each FROM must match an image"}
	keepFlag = flagSpec{name: "keep", def: "on-failure", choices: []string{"on-failure", "always", "never"}, makeVar: "KEEP",
		usage: "keep the kind cluster after the run: on-failure, always or never"}
	kubeconfigFlag = flagSpec{name: "kubeconfig", arg: "FILE", path: true,
		noMake: "make runs on kind clusters; run bin/upgrade-harness directly for an existing cluster",
		usage:  "run on the existing cluster of this kubeconfig instead of kind (not with -existing or -cluster)"}
	contextFlag = flagSpec{name: "context", arg: "NAME",
		noMake: "make runs on kind clusters",
		usage:  "kubeconfig context of the existing cluster (default: its current context); needs -kubeconfig or -existing"}
	existingFlag = flagSpec{name: "existing", kind: kindBool, def: "false",
		noMake: "make runs on kind clusters",
		usage:  "run on the cluster of $KUBECONFIG (else ~/.kube/config) instead of kind (not with -kubeconfig or -cluster)"}
	dryRunFlag = flagSpec{name: "dry-run", kind: kindBool, def: "false", makeVar: "DRY_RUN",
		usage: "check every input, print the plan and exit (0 valid, 2 bad input) without touching the engine, an image or a cluster"}
)

// artifactsFlagSpec is -artifacts ($ARTIFACTS when set, else _artifacts).
func artifactsFlagSpec(what string) flagSpec {
	return flagSpec{name: "artifacts", def: "_artifacts", arg: "DIR", path: true, makeVar: "ARTIFACTS",
		usage: what + " ($ARTIFACTS when set; created when missing)"}
}

// clusterFlagSpec is the kind cluster a command creates or reuses.
func clusterFlagSpec(def string) flagSpec {
	return flagSpec{name: "cluster", def: def, arg: "NAME", makeVar: "CLUSTER",
		usage: "kind cluster to create or reuse (lowercase letters, digits and -; not with -kubeconfig or -existing)"}
}

// cellFlagSpecs select cells and decide what they deploy: matrix and cells
// take them alike.
var cellFlagSpecs = []flagSpec{
	catalogFlag,
	catalogDirFlag,
	{name: "from", kind: kindList, arg: "RELEASES", makeVar: "FROM", usage: "only cells from these releases"},
	{name: "to", kind: kindList, arg: "RELEASES", makeVar: "TO", usage: "only cells to these releases"},
	{name: "labels", kind: kindList, arg: "LABELS", makeVar: "LABELS", usage: "only cells with one of these labels, e.g. ci or nightly"},
	{name: "cell", arg: "GLOB", makeVar: "CELL", usage: "only cells whose name matches this glob, e.g. v0.2.0-v0.2.2 or 'v0.2.0-*' (names as cells prints them)"},
	{name: "order", arg: "ORDER", makeVar: "ORDER",
		usage: "upgrade order: all-at-once, operator-first, backend-first, runner-only or a component list; with one -from and one -to an ad hoc cell when the matrix has none"},
	{name: "overrides", arg: "COMPONENT=IMAGE,…", makeVar: "OVERRIDES", usage: "replace images of each cell's to release (PR gating)"},
	{name: "rollback", choices: []string{"true", "false"}, makeVar: "ROLLBACK",
		usage: "only the cells that roll back to -from after the upgrade (true) or only the plain ones (false); default both. true with no such cell is refused"},
	{name: "working", arg: "LEVEL", choices: []string{string(verdict.WorkingRunFinished), string(verdict.WorkingRunStarted)},
		noMake: "make judges each cell at its catalog's working level (working:, per cell); run bin/upgrade-harness matrix -working to override it",
		usage:  "what evidence a session needs to count as working, over the catalog's working: (default run-finished): run-finished, a run finished after the upgrade; run-started, the runner accepted a run (a 2xx answer and RUN_STARTED, no RUN_ERROR), for a runner without a model key that never finishes one. A 401 fails a cell at either level"},
	manifestsDirFlag,
	imageRemapFlag,
	{name: "candidate-manifests", arg: "DIR|FILE", path: true, makeVar: "CANDIDATE_MANIFESTS",
		usage: "ad hoc to release (a PR's build): its kustomize directory or rendered manifest file; empty keeps the newest release's"},
	{name: "candidate-images", arg: "operator=IMG,backend=IMG,runner=IMG,stateSync=IMG", makeVar: "CANDIDATE_IMAGES",
		usage: "images of the candidate (unset components keep the newest release's)"},
	{name: "candidate-name", arg: "NAME", makeVar: "CANDIDATE_NAME",
		usage: "name of the candidate release in cells and reports, e.g. pr-1234 (default " + catalog.DefaultCandidateName + ")"},
	{name: "candidate-expect", choices: []string{"pass", "fail"}, makeVar: "CANDIDATE_EXPECT",
		usage: "expected verdict of the candidate cells (default pass)"},
	{name: "candidate-why", arg: "TEXT", makeVar: "CANDIDATE_WHY", usage: "why that verdict is expected (required with -candidate-expect fail)"},
}

// concat joins flag tables into one command's.
func concat(groups ...[]flagSpec) []flagSpec {
	var out []flagSpec
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// cellInput turns the cell flags into a matrix.Input; matrix.Select checks the rest.
func cellInput(fv *flagValues) (matrix.Input, error) {
	in := matrix.Input{ExitCode: exitcode.Of, Catalog: fv.str("catalog"), CatalogDir: fv.str("catalog-dir"), Order: strings.TrimSpace(fv.str("order")),
		Filter: catalog.Filter{From: fv.list("from"), To: fv.list("to"), Labels: fv.list("labels"), Name: fv.str("cell")}}
	in.Working = verdict.WorkingLevel(fv.str("working")) // one of its choices, or "" for the catalog's
	if r := fv.str("rollback"); r != "" {
		b := r == "true"
		in.Filter.Rollback = &b
	}
	var err error
	if in.Overrides, err = catalog.ParseOverrides(fv.str("overrides")); err != nil {
		return in, fault.BadInputErr(fmt.Errorf("-overrides %q: %w", cut(fv.str("overrides")), err))
	}
	if strings.TrimSpace(fv.str("image-remap")) != "" {
		if in.ImageRemap, err = catalog.ParseImageRemap(fv.str("image-remap")); err != nil {
			return in, fault.BadInputErr(fmt.Errorf("-image-remap: %w", err))
		}
	}
	if d := fv.str("manifests-dir"); d != "" {
		in.ManifestOverride = &catalog.ManifestOverride{Dir: d}
	}
	if in.Candidate, err = candidateInput(fv, in); err != nil {
		return in, err
	}
	return in, nil
}

// selectionFlags are the cell flags given other than the catalog's.
func selectionFlags(fv *flagValues) []string {
	var set []string
	for _, sp := range cellFlagSpecs {
		if sp.name != "catalog" && sp.name != "catalog-dir" && fv.isSet(sp.name) {
			set = append(set, "-"+sp.name)
		}
	}
	return set
}

// checkRollbackPlanned refuses -rollback true (or false) when a planned cell
// is not of that kind: an ad hoc cell for a pair without a rollback cell is a
// plain one, and running it would silently drop the rollback asked for.
func checkRollbackPlanned(in matrix.Input, plan matrix.Plan) error {
	want := in.Filter.Rollback
	if want == nil {
		return nil
	}
	for _, c := range plan.Cells {
		if c.Rollback != *want {
			what := "rollback cell"
			if !*want {
				what = "plain (no rollback) cell"
			}
			return fault.BadInputErr(fmt.Errorf("-rollback %t: catalog %s has no %s matching the selection; the plan would run %s instead (want -rollback %t or a selection with such a cell; cells lists them)",
				*want, plan.Catalog.Name, what, c.Name(), !*want))
		}
	}
	return nil
}

// candidateInput is the release the -candidate-* flags describe, nil when neither
// -candidate-manifests nor -candidate-images is given (empty values, as make
// passes them, are no candidate). matrix.Select checks it against the catalog.
func candidateInput(fv *flagValues, in matrix.Input) (*catalog.Candidate, error) {
	manifests, images := strings.TrimSpace(fv.str("candidate-manifests")), strings.TrimSpace(fv.str("candidate-images"))
	name, expect, why := fv.str("candidate-name"), fv.str("candidate-expect"), fv.str("candidate-why")
	if manifests == "" && images == "" {
		var set []string
		for _, v := range []struct {
			flag, value string
		}{{"-candidate-name", name}, {"-candidate-expect", expect}, {"-candidate-why", why}} {
			if v.value != "" {
				set = append(set, fmt.Sprintf("%s %q", v.flag, cut(v.value)))
			}
		}
		if len(set) > 0 {
			return nil, fault.BadInputErr(fmt.Errorf("%s: -candidate-name, -candidate-expect and -candidate-why need -candidate-manifests or -candidate-images (a candidate is the newest release with those replaced)", strings.Join(set, " ")))
		}
		return nil, nil
	}
	c := &catalog.Candidate{Name: name, Manifests: manifests, From: in.Filter.From, Order: in.Order, Expect: expect, Why: why}
	var err error
	if c.Images, err = catalog.ParseOverrides(images); err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("-candidate-images: %w", err))
	}
	return c, nil
}

// targetInput decides where a run goes: a kind cluster (-cluster) or an
// existing one (-kubeconfig, -existing, -context). Conflicting flags are
// refused rather than one of them ignored.
func targetInput(fv *flagValues, in *matrix.Input) error {
	kc, existing, cl, ctxName := fv.str("kubeconfig"), fv.boolean("existing"), fv.str("cluster"), fv.str("context")
	switch {
	case existing && fv.isSet("kubeconfig"):
		return fault.BadInputErr(fmt.Errorf("-existing and -kubeconfig %s: -existing means the kubeconfig of $KUBECONFIG (else ~/.kube/config), -kubeconfig names one (want one of the two)", cut(kc)))
	case (existing || kc != "") && fv.isSet("cluster"):
		return fault.BadInputErr(fmt.Errorf("-cluster %q: names a kind cluster, but -kubeconfig/-existing runs on an existing one (want one of the two)", cut(cl)))
	case fv.isSet("kubeconfig") && strings.TrimSpace(kc) == "":
		return fault.BadInputErr(fmt.Errorf("-kubeconfig is empty (want a kubeconfig file, or -existing for $KUBECONFIG)"))
	case ctxName != "" && !existing && kc == "":
		return fault.BadInputErr(fmt.Errorf("-context %q: applies to an existing cluster only (want it with -kubeconfig FILE or -existing)", cut(ctxName)))
	}
	in.Kubeconfig, in.Context = kc, ctxName
	if existing {
		in.Kubeconfig = defaultKubeconfig()
	}
	if in.Kubeconfig != "" {
		return nil
	}
	if err := cluster.CheckName(cl); err != nil {
		return fault.BadInputErr(fmt.Errorf("-cluster %w", err))
	}
	in.ClusterName = cl
	return checkNodeImageEnv()
}

// existingContext adds to err that -existing chose the kubeconfig it is about.
func existingContext(fv *flagValues, in matrix.Input, err error) error {
	if err != nil && fv.boolean("existing") && strings.Contains(err.Error(), in.Kubeconfig) {
		return fmt.Errorf("-existing (the kubeconfig of $KUBECONFIG, else ~/.kube/config): %w", err) // keeps err's kind
	}
	return err
}

// splitList splits a comma list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// checkNodeImageEnv refuses a $NODE_IMAGE that is not an image reference
// before anything uses it (kind would fail on it after the engine step).
func checkNodeImageEnv() error {
	img := os.Getenv("NODE_IMAGE")
	if img == "" {
		return nil
	}
	if _, err := catalog.ParseImageRef(img); err != nil {
		return fault.BadInputErr(fmt.Errorf("NODE_IMAGE=%q: %v", cut(img), err))
	}
	return nil
}

// defaultKubeconfig is the kubeconfig -existing means: $KUBECONFIG, else ~/.kube/config.
func defaultKubeconfig() string {
	if k := os.Getenv("KUBECONFIG"); k != "" {
		return k
	}
	return filepath.Join(os.Getenv("HOME"), ".kube", "config")
}
