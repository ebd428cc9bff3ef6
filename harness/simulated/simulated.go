// Package simulated is what the harness knows of the simulated platform
// (fixtures/platform): the releases it can build and the seeded faults it can
// bake into one. The harness reads them as data, from File in the module,
// and never imports the simulated platform's code; a test under
// fixtures/platform/release fails when the data and that code disagree.
package simulated

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/blang/semver/v4"
	"gopkg.in/yaml.v3"

	"github.com/ambient-e2e/upgrade-harness/harness/boundedfile"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// ModulePath is the harness's Go module.
const ModulePath = "github.com/ambient-e2e/upgrade-harness"

// File is the simulated platform's list, relative to the module root.
const File = "fixtures/platform/simulated.yaml"

// Kind is the kind of that file.
const Kind = "SimulatedPlatform"

// Platform is the simulated platform's releases and seeded faults.
type Platform struct {
	// File is where it was read.
	File string
	// Releases are the simulated releases, in version order ("v0.2.0", …).
	Releases []string
	// Faults are the seeded faults' names, in name order ("header-name", …).
	Faults []string
	// FaultTagInfix separates a release from its fault in an image tag:
	// v0.2.7-fault-header-name is v0.2.7 with fault header-name.
	FaultTagInfix string
	// BakedVariable is the package variable (module-relative path.Name) that
	// an image build sets with -ldflags -X to bake a release into a binary.
	BakedVariable string
}

// Versions lists the simulated releases in version order.
func (p *Platform) Versions() []string { return slices.Clone(p.Releases) }

// Base is the release a tag builds on: v0.2.7 for v0.2.7-fault-header-name.
func (p *Platform) Base(tag string) string {
	base, _, _ := strings.Cut(tag, p.FaultTagInfix)
	return base
}

// HasFault reports whether name is a seeded fault.
func (p *Platform) HasFault(name string) bool { return slices.Contains(p.Faults, name) }

// FaultNames lists the seeded faults for messages.
func (p *Platform) FaultNames() string { return strings.Join(p.Faults, ", ") }

// Lookup checks that tag is a simulated release, or a release with a seeded
// fault ("v0.2.7-fault-header-name"); the error names what is valid.
func (p *Platform) Lookup(tag string) error {
	base, fault, hasFault := strings.Cut(tag, p.FaultTagInfix)
	if !slices.Contains(p.Releases, base) {
		return fmt.Errorf("release %q is not simulated; valid releases: %s (each also as <release>%s<fault>, faults: %s)",
			tag, strings.Join(p.Releases, ", "), p.FaultTagInfix, p.FaultNames())
	}
	if hasFault && !p.HasFault(fault) {
		return fmt.Errorf("release %q: fault %q is not seeded; valid faults: %s", tag, fault, p.FaultNames())
	}
	return nil
}

// Default reads File from the module root (ModuleDir), once per process.
func Default() (*Platform, error) { return loadDefault() }

var loadDefault = sync.OnceValues(func() (*Platform, error) {
	dir, err := ModuleDir()
	if err != nil {
		return nil, err
	}
	return Load(filepath.Join(dir, File))
})

// ModuleDir walks up from the working directory to the go.mod of this module:
// the harness builds its tools and simulated images from its own source, and
// reads the simulated platform's list there.
func ModuleDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod declaring module %s in %s or its parents (run the harness inside its repository)", ModulePath, wd)
		}
	}
}

var (
	fileKind = boundedfile.Kind{Want: "the simulated platform's YAML list (" + File + ")", Readable: "a readable " + File,
		Typical: "the list is under 1 KiB", Limit: 64 << 10}
	spec = yamlin.Spec{
		MaxDepth: 4, MaxEntries: 1000, MaxItems: 200, MaxDocuments: 10,
		A: "a simulated platform list", Document: Kind + " document",
		TypicalDepth: "the list nests 2 deep", TypicalEntries: "the list has a few dozen",
		TypicalKeys: "the list has 6 fields", TypicalItems: "a dozen releases or faults",
		Empty: "file is empty (want a " + Kind + " document)",
		SecondDocument: func(held int) string {
			return fmt.Sprintf("a second YAML document starts here; the file holds %d (want exactly one %s document)", held, Kind)
		},
		SyntaxPrefix: "YAML syntax error: ",
	}
	versionRE  = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	faultRE    = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	infixRE    = regexp.MustCompile(`^-[a-z0-9]+(-[a-z0-9]+)*-$`)
	variableRE = regexp.MustCompile(`^[a-z0-9_]+(/[a-z0-9_]+)*\.[A-Z][A-Za-z0-9_]*$`)
	fields     = []string{"apiVersion", "kind", "releases", "faults", "faultTagInfix", "bakedVariable"}
)

// APIVersion is the apiVersion of the file (that of every harness input).
const APIVersion = "upgrade-harness.ambient-e2e/v1alpha1"

// Load reads and checks the simulated platform's list at path: every problem
// at once, each with file, line, field, the value and what would be valid.
func Load(path string) (*Platform, error) {
	data, err := boundedfile.Read(path, fileKind)
	if err != nil {
		return nil, err
	}
	root, bad := yamlin.Parse(path, data, spec)
	if bad != nil {
		return nil, &yamlin.ValidationError{Problems: []yamlin.Problem{*bad}}
	}
	r := reader{file: path}
	p := r.platform(root)
	if len(r.problems) > 0 {
		return nil, &yamlin.ValidationError{Problems: r.problems}
	}
	p.File = path
	return p, nil
}

type reader struct {
	file     string
	problems []yamlin.Problem
}

func (r *reader) add(line int, field, format string, args ...any) {
	r.problems = append(r.problems, yamlin.Problem{File: r.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (r *reader) platform(root *yaml.Node) *Platform {
	p := &Platform{}
	if root.Kind != yaml.MappingNode {
		r.add(root.Line, "", "is %s (want a mapping with fields %s)", yamlin.KindName(root), strings.Join(fields, ", "))
		return p
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			r.add(k.Line, k.Value, "is set twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "apiVersion":
			if s, ok := r.text(v, k.Value, APIVersion); ok && s != APIVersion {
				r.add(v.Line, k.Value, "%q is not supported (want %s)", s, APIVersion)
			}
		case "kind":
			if s, ok := r.text(v, k.Value, Kind); ok && s != Kind {
				r.add(v.Line, k.Value, "%q is not this file's kind (want %s)", s, Kind)
			}
		case "releases":
			p.Releases = r.list(v, k.Value, versionRE, "a release version vMAJOR.MINOR.PATCH", "v0.2.2")
			if !slices.IsSortedFunc(p.Releases, compareVersions) {
				r.add(v.Line, k.Value, "%s are not in version order (want %s)", strings.Join(p.Releases, ", "),
					strings.Join(slices.SortedFunc(slices.Values(p.Releases), compareVersions), ", "))
			}
		case "faults":
			p.Faults = r.list(v, k.Value, faultRE, "a fault name of lowercase letters, digits and '-'", "header-name")
			if !slices.IsSorted(p.Faults) {
				r.add(v.Line, k.Value, "%s are not in name order (want %s)", strings.Join(p.Faults, ", "), strings.Join(slices.Sorted(slices.Values(p.Faults)), ", "))
			}
		case "faultTagInfix":
			if s, ok := r.text(v, k.Value, "-fault-"); ok && !infixRE.MatchString(s) {
				r.add(v.Line, k.Value, "%q is not a tag infix (want lowercase letters, digits and '-' between two '-', e.g. -fault-)", s)
			} else if ok {
				p.FaultTagInfix = s
			}
		case "bakedVariable":
			if s, ok := r.text(v, k.Value, "fixtures/platform/release.Baked"); ok && !variableRE.MatchString(s) {
				r.add(v.Line, k.Value, "%q is not a package variable (want <module-relative package path>.<Variable>, e.g. fixtures/platform/release.Baked)", s)
			} else if ok {
				p.BakedVariable = s
			}
		default:
			r.add(k.Line, k.Value, "unknown field (valid fields: %s)", strings.Join(fields, ", "))
		}
	}
	for _, f := range fields {
		if _, ok := seen[f]; !ok {
			r.add(root.Line, f, "is required (valid fields: %s)", strings.Join(fields, ", "))
		}
	}
	return p
}

// text is n's value when n is a non-empty scalar.
func (r *reader) text(n *yaml.Node, field, example string) (string, bool) {
	if n.Kind != yaml.ScalarNode || yamlin.IsNull(n) || n.Value == "" {
		r.add(n.Line, field, "is %s (want a text value, e.g. %s)", yamlin.KindName(n), example)
		return "", false
	}
	return n.Value, true
}

// list is n's items when n is a non-empty list of unique values matching re.
func (r *reader) list(n *yaml.Node, field string, re *regexp.Regexp, want, example string) []string {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		r.add(n.Line, field, "is %s (want a non-empty list, each %s, e.g. %s)", yamlin.KindName(n), want, example)
		return nil
	}
	var out []string
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		s, ok := r.text(item, f, example)
		switch {
		case !ok:
		case !re.MatchString(s):
			r.add(item.Line, f, "%q is not valid (want %s, e.g. %s)", s, want, example)
		case slices.Contains(out, s):
			r.add(item.Line, f, "%q is listed twice (want each once)", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// compareVersions orders vMAJOR.MINOR.PATCH by semver; what semver refuses
// (a leading zero) sorts by text, and the order check then says so.
func compareVersions(a, b string) int {
	va, errA := semver.ParseTolerant(a)
	vb, errB := semver.ParseTolerant(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return va.Compare(vb)
}
