package bisect

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/ambient-e2e/upgrade-harness/harness/boundedfile"
	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	simplatform "github.com/ambient-e2e/upgrade-harness/harness/simulated"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// BuildsKind is the kind of a builds file.
const BuildsKind = "Builds"

// MaxBuilds bounds a build list (buildsSpec.MaxItems): as a catalog's lists, and ⌈log2 1000⌉ = 10 cells.
const MaxBuilds = 1000

// MaxListFile bounds a builds file and an ids file (a few KiB in practice).
const MaxListFile = 1 << 20

var (
	buildsFileKind = boundedfile.Kind{Want: "a builds YAML file", Readable: "a readable builds YAML file",
		Typical: "a builds file is a few KiB", Limit: MaxListFile}
	idsFileKind = boundedfile.Kind{Want: "a file of build ids, one a line", Readable: "a readable file of build ids",
		Typical: "an ids file is a few KiB", Limit: MaxListFile}
)

// buildNameRE: a build's name is a cell-name part safe in file names and make
// lines, as a candidate's (the repro line passes it as CANDIDATE_NAME).
var buildNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

const buildNameGrammar = "at most 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit, e.g. main-1a2b3c4 or pr-1234"

// Build is one build the bisect may upgrade to: a release-like target.
type Build struct {
	Name string `json:"name"`
	// Release is the build as a cell deploys it (Version is Name).
	Release catalog.Release `json:"-"`
	// Origin is where it was given: "builds.yaml:12", "ids.txt:3" or "catalog simulated".
	Origin string `json:"origin"`
	// InCatalog: the build is a release of the catalog.
	InCatalog bool `json:"inCatalog,omitempty"`
	// OwnManifests: it deploys manifests of its own, not the newest release's.
	OwnManifests bool `json:"ownManifests,omitempty"`
	// line is where its entry starts (0 for catalog releases), for problems.
	line  int
	field string
}

// CatalogBuilds are the catalog's releases after from, in version order.
func CatalogBuilds(cat *catalog.Catalog, from string) ([]Build, error) {
	vs := cat.Versions()
	i := slices.Index(vs, from)
	if i < 0 {
		return nil, fault.BadInputErr(fmt.Errorf("-from %q: not a release of catalog %s (want one of %s)", from, cat.Name, strings.Join(vs, ", ")))
	}
	var out []Build
	for _, v := range vs[i+1:] {
		r, _ := cat.Release(v)
		out = append(out, Build{Name: v, Release: r, Origin: "catalog " + cat.Name, InCatalog: true})
	}
	if len(out) < 2 {
		return nil, fault.BadInputErr(fmt.Errorf("-from %q: catalog %s has %d release(s) after it (want at least 2 to bisect: a good and a bad one; or give -builds FILE or -image-template with -ids FILE)",
			from, cat.Name, len(out)))
	}
	return out, nil
}

// newest is the catalog's newest release: what a build keeps of it (manifests,
// images it does not name), as a candidate does.
func newest(cat *catalog.Catalog) catalog.Release {
	vs := cat.Versions()
	r, _ := cat.Release(vs[len(vs)-1])
	return r
}

// problems collects what is wrong with a build list, each located.
type problems struct {
	file string
	list []yamlin.Problem
}

func (p *problems) add(line int, field, format string, args ...any) {
	p.list = append(p.list, yamlin.Problem{File: p.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return fault.BadInputErr(&yamlin.ValidationError{Problems: p.list})
}

// LoadBuildsFile reads and validates a builds file against the catalog
// (from and newest release): every problem at once, each with file, line,
// field, the value and what would be valid (exit code 2). Nothing is touched.
//
//	apiVersion: upgrade-harness.ambient-e2e/v1alpha1   # optional
//	kind: Builds                                       # optional
//	builds:
//	  - name: main-1a2b3c4
//	    images: {operator: quay.io/…:1a2b3c4, backend: …, runner: …, stateSync: …}
//	    manifests: {path: overlays/kind}               # optional, relative to this file
func LoadBuildsFile(path string, cat *catalog.Catalog) ([]Build, error) {
	data, err := boundedfile.Read(path, buildsFileKind)
	if err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("-builds %w", err))
	}
	p := &problems{file: path}
	root := parseDocument(p, data)
	if root == nil {
		return nil, p.err()
	}
	base := newest(cat)
	var builds []Build
	buildsSeen := false
	for _, kv := range pairs(p, root, "") {
		key, val := kv[0], kv[1]
		switch key.Value {
		case "apiVersion":
			if s, ok := scalar(p, val, "apiVersion"); ok && s != catalog.APIVersion {
				p.add(val.Line, "apiVersion", "%q is not supported (want %s)", s, catalog.APIVersion)
			}
		case "kind":
			if s, ok := scalar(p, val, "kind"); ok && s != BuildsKind {
				p.add(val.Line, "kind", "%q is not a builds file (want kind: %s)", s, BuildsKind)
			}
		case "builds":
			buildsSeen = true
			if val.Kind != yaml.SequenceNode {
				p.add(val.Line, "builds", "is %s (want a list of builds, each with name and images)", yamlin.KindName(val))
				continue
			}
			for i, n := range val.Content {
				if b, ok := buildEntry(p, n, fmt.Sprintf("builds[%d]", i), filepath.Dir(path), base); ok {
					b.Origin = fmt.Sprintf("%s:%d", path, n.Line)
					builds = append(builds, b)
				}
			}
		default:
			p.add(key.Line, key.Value, "unknown field (want apiVersion, kind or builds)")
		}
	}
	if !buildsSeen && !hasKey(root, "builds") {
		p.add(root.Line, "builds", "is required (want a list of at least 2 builds, oldest first)")
	}
	checkList(p, builds, cat)
	if err := p.err(); err != nil {
		return nil, err
	}
	return builds, nil
}

// hasKey reports whether mapping n has the key (whatever its value).
func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// buildsSpec is a builds file as yamlin parses it: bounded as a catalog.
var buildsSpec = yamlin.Spec{
	MaxDepth: catalog.MaxDepth, MaxEntries: catalog.MaxEntries, MaxItems: MaxBuilds, MaxDocuments: 1000,
	A: "a builds file", Document: "Builds document",
	TypicalDepth: "a builds file nests 3 deep", TypicalEntries: "a builds file has a few hundred",
	TypicalKeys: "a build has 4 fields", TypicalItems: "a bisect halves a few dozen builds",
	Empty:          "is empty (want a mapping with builds: a list of builds)",
	SecondDocument: func(int) string { return "holds more than one YAML document (want exactly one)" },
	SyntaxPrefix:   "is not valid YAML: ",
}

// parseDocument parses data as exactly one YAML document whose root is a mapping.
func parseDocument(p *problems, data []byte) *yaml.Node {
	root, bad := yamlin.Parse(p.file, data, buildsSpec)
	if bad != nil {
		p.list = append(p.list, *bad)
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "", "is %s (want a mapping with builds: a list of builds)", yamlin.KindName(root))
		return nil
	}
	return root
}

// pairs are a mapping's key/value nodes; duplicate and non-scalar keys,
// anchors and aliases are problems (a build list is plain data).
func pairs(p *problems, n *yaml.Node, field string) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kf := yamlin.JoinField(field, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode || k.Tag == "!!merge":
			p.add(k.Line, field, "has a key that is %s (want plain field names)", yamlin.KindName(k))
			continue
		case seen[k.Value]:
			p.add(k.Line, kf, "is given twice (want each field once)")
			continue
		case v.Kind == yaml.AliasNode || v.Anchor != "":
			p.add(v.Line, kf, "uses a YAML anchor or alias (want the value written out)")
			continue
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

// scalar is n's text when n is a non-empty scalar.
func scalar(p *problems, n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		p.add(n.Line, field, "is %s (want a text value)", yamlin.KindName(n))
		return "", false
	}
	return n.Value, true
}

// buildEntry reads builds[i].
func buildEntry(p *problems, n *yaml.Node, field, dir string, base catalog.Release) (Build, bool) {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, field, "is %s (want a mapping with name, images and optionally manifests)", yamlin.KindName(n))
		return Build{}, false
	}
	b := Build{line: n.Line, field: field, Release: catalog.Release{Images: base.Images, Manifests: base.Manifests}}
	ok := true
	var imagesGiven bool
	for _, kv := range pairs(p, n, field) {
		key, val := kv[0], kv[1]
		f := yamlin.JoinField(field, key.Value)
		switch key.Value {
		case "name":
			s, good := scalar(p, val, f)
			if good && !buildNameRE.MatchString(s) {
				p.add(val.Line, f, "%q is not a valid build name (want %s)", s, buildNameGrammar)
				good = false
			}
			b.Name, ok = s, ok && good
		case "images":
			imagesGiven = true
			if !buildImages(p, val, f, &b.Release.Images) {
				ok = false
			}
		case "manifests":
			if !buildManifests(p, val, f, dir, &b) {
				ok = false
			}
		case "notes":
			if s, good := scalar(p, val, f); good {
				b.Release.Notes = s
			}
		default:
			p.add(key.Line, f, "unknown field (want name, images, manifests or notes)")
			ok = false
		}
	}
	if b.Name == "" && ok {
		p.add(n.Line, yamlin.JoinField(field, "name"), "is required (want %s)", buildNameGrammar)
		ok = false
	}
	if !imagesGiven && !b.OwnManifests && ok {
		p.add(n.Line, yamlin.JoinField(field, "images"), "is required (want the build's images, e.g. {operator: quay.io/ambient_code/vteam_operator:<tag>, …}; components left out keep the newest release's)")
		ok = false
	}
	b.Release.Version = b.Name
	return b, ok
}

func buildImages(p *problems, n *yaml.Node, field string, imgs *platform.Images) bool {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		p.add(n.Line, field, "is %s (want a mapping of component to image: operator, backend, runner, stateSync)", yamlin.KindName(n))
		return false
	}
	ok := true
	for _, kv := range pairs(p, n, field) {
		key, val := kv[0], kv[1]
		f := yamlin.JoinField(field, key.Value)
		comp := platform.Component(key.Value)
		if !slices.Contains(platform.ImageComponents, comp) {
			p.add(key.Line, f, "unknown component (want operator, backend, runner or stateSync)")
			ok = false
			continue
		}
		s, good := scalar(p, val, f)
		if good {
			if msg := pinnedImage(s); msg != "" {
				p.add(val.Line, f, "%s", msg)
				good = false
			}
		}
		if !good {
			ok = false
			continue
		}
		imgs.Set(comp, s)
	}
	return ok
}

// pinnedImage is "" for an image reference with a tag or digest.
func pinnedImage(img string) string {
	ref, err := catalog.ParseImageRef(img)
	if err != nil {
		return err.Error()
	}
	if !ref.Pinned() {
		return fmt.Sprintf("%q has neither tag nor digest (want a pinned reference such as %s:<build id>: a build is one build)", img, ref.Name())
	}
	return ""
}

func buildManifests(p *problems, n *yaml.Node, field, dir string, b *Build) bool {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, field, "is %s (want path: <file or kustomize directory, relative to the builds file>)", yamlin.KindName(n))
		return false
	}
	var path string
	for _, kv := range pairs(p, n, field) {
		key, val := kv[0], kv[1]
		f := yamlin.JoinField(field, key.Value)
		if key.Value != "path" {
			p.add(key.Line, f, "unknown field (want path: a manifest file or kustomize directory; a git source belongs in a catalog)")
			return false
		}
		s, ok := scalar(p, val, f)
		if !ok {
			return false
		}
		path = s
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if err := deploy.CheckManifests(path); err != nil {
			p.add(val.Line, f, "%q (resolved to %s): %v", s, path, err)
			return false
		}
	}
	if path == "" {
		p.add(n.Line, yamlin.JoinField(field, "path"), "is required (want a manifest file or kustomize directory, relative to the builds file)")
		return false
	}
	b.Release.Manifests = catalog.LocalManifests(path)
	b.OwnManifests = true
	return true
}

// checkList checks what holds across builds: at least two, unique names,
// none a release of the catalog, simulated images the simulated platform has.
func checkList(p *problems, builds []Build, cat *catalog.Catalog) {
	if len(builds) < 2 && len(p.list) == 0 {
		p.add(0, "builds", "has %d build(s) (want at least 2: a good one and a bad one, oldest first)", len(builds))
	}
	seen := map[string]string{}
	for _, b := range builds {
		f, imgField := b.field+".name", b.field+".images"
		if b.field == "" {
			f, imgField = "id", "id"
		}
		if first, dup := seen[b.Name]; dup {
			p.add(b.line, f, "%q is given twice (first at %s; want each build once)", b.Name, first)
			continue
		}
		seen[b.Name] = b.Origin
		if _, isRelease := cat.Release(b.Name); isRelease {
			p.add(b.line, f, "%q is a release of catalog %s (want a build name of its own; to bisect the catalog's releases give -catalog %s -from without a build list)",
				b.Name, cat.Name, cat.Name)
		}
		if msg := unsimulated(cat, b.Release.Images); msg != "" {
			p.add(b.line, imgField, "%s", msg)
		}
	}
}

// unsimulated says which simulated images of a simulated catalog's build the
// simulated platform cannot build ("" when all can).
func unsimulated(cat *catalog.Catalog, imgs platform.Images) string {
	if cat.Build != catalog.BuildSimulated {
		return ""
	}
	sim, err := simplatform.Default()
	if err != nil {
		return fmt.Sprintf("the simulated images cannot be checked: %v", err)
	}
	var bad []string
	for _, img := range imgs.List() {
		if !strings.HasPrefix(img, images.DefaultPrefix+"/") {
			continue
		}
		_, tag, _ := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
		if err := sim.Lookup(tag); err != nil {
			bad = append(bad, img)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: the simulated platform has no such release (want tags among %s, or <release>%s<fault>)",
		strings.Join(bad, ", "), strings.Join(sim.Versions(), ", "), sim.FaultTagInfix)
}

// Image-template placeholders.
const (
	PlaceholderComponent = "{component}"
	PlaceholderID        = "{id}"
)

// templateNames are the image names {component} stands for, per component
// (upstream's vteam_operator, vteam_backend, vteam_claude_runner, vteam_state_sync).
var templateNames = map[platform.Component]string{
	platform.Operator: "operator", platform.Backend: "backend", platform.Runner: "claude_runner", platform.StateSync: "state_sync",
}

// TemplateBuilds are the builds of an image template and an ids file (one id
// a line; blank lines and # comments skipped): each id's images are the
// template with {component} and {id} replaced; manifests are the newest
// release's.
func TemplateBuilds(template, idsFile string, cat *catalog.Catalog) ([]Build, error) {
	if !strings.Contains(template, PlaceholderComponent) || !strings.Contains(template, PlaceholderID) {
		return nil, fault.BadInputErr(fmt.Errorf("-image-template %q: want both %s and %s, e.g. quay.io/ambient_code/vteam_{component}:{id} ({component} is operator, backend, claude_runner or state_sync)",
			template, PlaceholderComponent, PlaceholderID))
	}
	if msg := pinnedImage(expand(template, platform.Operator, "id")); msg != "" {
		return nil, fault.BadInputErr(fmt.Errorf("-image-template %q: with {id} replaced: %s", template, msg))
	}
	if idsFile == "" {
		return nil, fault.BadInputErr(fmt.Errorf("-image-template %q needs -ids FILE (the build ids, one a line, oldest first)", template))
	}
	data, err := boundedfile.Read(idsFile, idsFileKind)
	if err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("-ids %w", err))
	}
	p := &problems{file: idsFile}
	base := newest(cat)
	var builds []Build
	for i, line := range strings.Split(string(data), "\n") {
		id := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if id == "" || strings.HasPrefix(id, "#") {
			continue
		}
		if len(builds) == MaxBuilds {
			p.add(i+1, "id", "more than %d ids (want at most %d builds)", MaxBuilds, MaxBuilds)
			break
		}
		if !buildNameRE.MatchString(id) {
			p.add(i+1, "id", "%q is not a valid build id (want %s; it is the image tag and the build's name)", cut(id), buildNameGrammar)
			continue
		}
		b := Build{Name: id, Origin: fmt.Sprintf("%s:%d", idsFile, i+1), line: i + 1,
			Release: catalog.Release{Version: id, Manifests: base.Manifests}}
		for _, comp := range platform.ImageComponents {
			img := expand(template, comp, id)
			if msg := pinnedImage(img); msg != "" {
				p.add(i+1, "id", "%q: %s", id, msg)
				continue
			}
			b.Release.Images.Set(comp, img)
		}
		builds = append(builds, b)
	}
	checkList(p, builds, cat)
	if err := p.err(); err != nil {
		return nil, err
	}
	return builds, nil
}

func expand(template string, comp platform.Component, id string) string {
	return strings.ReplaceAll(strings.ReplaceAll(template, PlaceholderComponent, templateNames[comp]), PlaceholderID, id)
}

// cut shortens a value a message repeats.
func cut(s string) string {
	if len(s) <= 100 {
		return s
	}
	i := 100
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + fmt.Sprintf("… (%d bytes)", len(s))
}
