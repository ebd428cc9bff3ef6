package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
)

// parseFlags parses args into fs and refuses what the flag package lets
// through silently: a positional argument (which ends flag parsing, so every
// flag after it would be ignored) and a flag given twice (the last one would win).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := refuseRepeatedFlags(fs, args); err != nil {
		return exitcode.BadInputErr(err)
	}
	if err := fs.Parse(args); err != nil {
		return exitcode.BadInputErr(err)
	}
	if fs.NArg() > 0 {
		return exitcode.BadInputErr(positionalError(fs, fs.Args()))
	}
	return nil
}

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

// isSet reports whether flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// cellFlags are the flags that select cells and decide what they deploy. They
// are declared and turned into a matrix.Input in this one place, so every
// command that runs or lists cells takes and checks them alike.
type cellFlags struct {
	fs *flag.FlagSet
	// names are the flags declared here (a new cell flag needs no other list).
	names                                   map[string]bool
	catalog, catalogDir                     *string
	from, to, labels, cell                  *string
	order, overrides, manifestsDir, remapTo *string
	rollback                                *string
	// The candidate release (a platform PR's build): every cell goes to it.
	candManifests, candImages, candName, candExpect, candWhy *string
}

func addCellFlags(fs *flag.FlagSet) *cellFlags {
	before := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { before[f.Name] = true })
	cf := &cellFlags{
		fs:           fs,
		catalog:      fs.String("catalog", "simulated", "catalog name in -catalog-dir, or a catalog file (path with / or ending in .yaml)"),
		catalogDir:   fs.String("catalog-dir", catalog.DefaultDir, "directory of catalog files"),
		from:         fs.String("from", "", "only cells from these releases (comma list)"),
		to:           fs.String("to", "", "only cells to these releases (comma list)"),
		labels:       fs.String("labels", "", "only cells with one of these labels (comma list), e.g. ci"),
		cell:         fs.String("cell", "", "only cells whose name matches this glob, e.g. 'v0.2.0-*'"),
		order:        fs.String("order", "", "upgrade order: all-at-once, operator-first, backend-first, runner-only or a component list; with one -from and one -to an ad hoc cell when the matrix has none"),
		overrides:    fs.String("overrides", "", "replace images of the `to` release: component=image,… (PR gating)"),
		rollback:     fs.String("rollback", "", "only the cells that roll back to -from after the upgrade (true) or only the plain ones (false); default both"),
		manifestsDir: fs.String("manifests-dir", "", "deploy every release from rendered manifests kind-<version>.yaml in this directory (e.g. ../shared/upstream-manifests); each release the cells use must have its file"),
		remapTo:      fs.String("image-remap", "", "rewrite image prefixes of every release: FROM=TO,… (e.g. quay.io/ambient_code=localhost/ambient-sim runs upstream manifests with the simulated images); each FROM must match an image"),

		candManifests: fs.String("candidate-manifests", "", "ad-hoc `to` release (a PR's build): its kustomize dir or rendered manifest file; empty keeps the newest release's"),
		candImages:    fs.String("candidate-images", "", "images of the candidate: operator=…,backend=…,runner=…,stateSync=… (unset components keep the newest release's)"),
		candName:      fs.String("candidate-name", "", "name of the candidate release in cells and reports, e.g. pr-1234 (default "+catalog.DefaultCandidateName+")"),
		candExpect:    fs.String("candidate-expect", "", "expected verdict of the candidate cells: pass (default) or fail"),
		candWhy:       fs.String("candidate-why", "", "why that verdict is expected (required with -candidate-expect fail)"),
	}
	cf.names = map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		if !before[f.Name] {
			cf.names[f.Name] = true
		}
	})
	return cf
}

// anySelection reports whether a flag other than the catalog's was given.
func (f *cellFlags) anySelection() []string {
	var set []string
	f.fs.Visit(func(fl *flag.Flag) {
		if fl.Name != "catalog" && fl.Name != "catalog-dir" && f.names[fl.Name] {
			set = append(set, "-"+fl.Name)
		}
	})
	return set
}

// input turns the flags into a matrix.Input; matrix.Select checks the rest.
func (f *cellFlags) input() (matrix.Input, error) {
	in := matrix.Input{Catalog: *f.catalog, CatalogDir: *f.catalogDir, Order: strings.TrimSpace(*f.order),
		Filter: catalog.Filter{From: splitList(*f.from), To: splitList(*f.to), Labels: splitList(*f.labels), Name: *f.cell}}
	switch *f.rollback {
	case "":
	case "true", "false":
		b := *f.rollback == "true"
		in.Filter.Rollback = &b
	default:
		return in, exitcode.BadInputErr(fmt.Errorf("-rollback %q: want true or false", *f.rollback))
	}
	var err error
	if in.Overrides, err = catalog.ParseOverrides(*f.overrides); err != nil {
		return in, exitcode.BadInputErr(fmt.Errorf("-overrides %q: %w", *f.overrides, err))
	}
	if strings.TrimSpace(*f.remapTo) != "" {
		if in.ImageRemap, err = catalog.ParseImageRemap(*f.remapTo); err != nil {
			return in, exitcode.BadInputErr(fmt.Errorf("-image-remap: %w", err))
		}
	}
	if *f.manifestsDir != "" {
		in.ManifestOverride = &catalog.ManifestOverride{Dir: *f.manifestsDir}
	}
	if in.Candidate, err = f.candidate(in); err != nil {
		return in, err
	}
	return in, nil
}

// candidate is the release the -candidate-* flags describe, nil when neither
// -candidate-manifests nor -candidate-images is given (empty values, as make
// passes them, are no candidate). matrix.Select checks it against the catalog.
func (f *cellFlags) candidate(in matrix.Input) (*catalog.Candidate, error) {
	if strings.TrimSpace(*f.candManifests) == "" && strings.TrimSpace(*f.candImages) == "" {
		var set []string
		for _, v := range []struct {
			flag, value string
		}{{"-candidate-name", *f.candName}, {"-candidate-expect", *f.candExpect}, {"-candidate-why", *f.candWhy}} {
			if v.value != "" {
				set = append(set, fmt.Sprintf("%s %q", v.flag, v.value))
			}
		}
		if len(set) > 0 {
			return nil, exitcode.BadInputErr(fmt.Errorf("%s: -candidate-name, -candidate-expect and -candidate-why need -candidate-manifests or -candidate-images (a candidate is the newest release with those replaced)", strings.Join(set, " ")))
		}
		return nil, nil
	}
	c := &catalog.Candidate{Name: *f.candName, Manifests: strings.TrimSpace(*f.candManifests), From: in.Filter.From, Order: in.Order,
		Expect: *f.candExpect, Why: *f.candWhy}
	var err error
	if c.Images, err = catalog.ParseOverrides(*f.candImages); err != nil {
		return nil, exitcode.BadInputErr(fmt.Errorf("-candidate-images: %w", err))
	}
	return c, nil
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

// artifactsFlag declares -artifacts ($ARTIFACTS, default _artifacts).
func artifactsFlag(fs *flag.FlagSet, what string) *string {
	return fs.String("artifacts", envOr("ARTIFACTS", "_artifacts"), what)
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
		return exitcode.BadInputErr(fmt.Errorf("NODE_IMAGE=%q: %v", img, err))
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
