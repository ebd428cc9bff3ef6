package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"gopkg.in/yaml.v3"

	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// LoadOption tunes Load.
type LoadOption func(*loadOptions)

type loadOptions struct {
	checkPaths bool
	override   *ManifestOverride
	candidate  *Candidate
}

// WithPathChecks makes Load check that every local manifest path exists.
func WithPathChecks() LoadOption { return func(o *loadOptions) { o.checkPaths = true } }

// WithManifestOverride points the releases' manifests at local rendered files
// before validation (see ManifestOverride).
func WithManifestOverride(m ManifestOverride) LoadOption {
	return func(o *loadOptions) { o.override = &m }
}

// Load reads, decodes and validates a catalog file. Every error it returns maps
// to bad input (*fault.BadInput); a *ValidationError inside lists all problems found.
func Load(path string, opts ...LoadOption) (*Catalog, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	data, err := readCatalogFile(path)
	if err != nil {
		return nil, &fault.BadInput{File: path, Err: err}
	}
	return loadBytes(path, data, o)
}

// loadBytes is Load after the file was read (the fuzz target's entry).
func loadBytes(path string, data []byte, o loadOptions) (*Catalog, error) {
	c, unknown, err := parse(path, data)
	if err != nil {
		return nil, &fault.BadInput{File: path, Err: err}
	}
	if o.override != nil {
		if err := c.ApplyManifestOverride(*o.override); err != nil {
			return nil, err
		}
	}
	// Unknown fields do not stop the other checks: a user fixing a typo should
	// not discover the next problem only on the next run.
	problems := unknown
	var ve *yamlin.ValidationError
	if err := c.Validate(ValidateOptions{CheckPaths: o.checkPaths}); errors.As(err, &ve) {
		problems = append(problems, ve.Problems...)
	} else if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
		return nil, &fault.BadInput{File: path, Err: &yamlin.ValidationError{Problems: problems}}
	}
	if o.candidate != nil {
		if err := c.AddCandidate(*o.candidate); err != nil {
			return nil, err
		}
	}
	return c, nil
}

var catalogNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Open loads a catalog given as a file path (ends in .yaml or .yml, or
// contains a slash) or as a name in dir, the way every command accepts it.
func Open(nameOrPath, dir string, opts ...LoadOption) (*Catalog, error) {
	if IsPath(nameOrPath) {
		return Load(nameOrPath, opts...)
	}
	return LoadByName(dir, nameOrPath, opts...)
}

// IsPath reports whether Open takes nameOrPath as a file path, not a name.
func IsPath(nameOrPath string) bool {
	return strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") || strings.ContainsRune(nameOrPath, '/')
}

// LoadByName loads dir/<name>.yaml (e.g. "simulated" or "upstream") and checks
// that the file's name field agrees.
func LoadByName(dir, name string, opts ...LoadOption) (*Catalog, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fault.BadInputErr(fmt.Errorf("catalog directory %s does not exist or is not a directory (want the directory of catalog files, e.g. fixtures/releases from the repository root; or give the catalog as a file path)", dir))
	}
	if !catalogNameRE.MatchString(name) {
		return nil, fault.BadInputErr(fmt.Errorf("%q is not a catalog name (want %s, or a catalog file path)", name, availableText(dir)))
	}
	path := filepath.Join(dir, name+".yaml")
	if _, err := os.Stat(path); err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("%s does not exist (want %s, or a catalog file path)", path, availableText(dir)))
	}
	c, err := Load(path, opts...)
	if err != nil {
		return nil, err
	}
	if c.Name != name {
		return nil, fault.BadInputErr(&yamlin.ValidationError{Problems: []yamlin.Problem{{
			File: path, Line: c.lines["name"], Field: "name",
			Message: fmt.Sprintf("%q does not match the file name (want %q)", c.Name, name),
		}}})
	}
	return c, nil
}

// availableText says which catalog names dir holds, for error messages.
func availableText(dir string) string {
	names := Available(dir)
	if len(names) == 0 {
		return fmt.Sprintf("a catalog name, but %s holds no *.yaml catalog", dir)
	}
	return fmt.Sprintf("one of %s (the catalogs in %s)", strings.Join(names, ", "), dir)
}

// Available lists the catalog names (*.yaml basenames) in dir.
func Available(dir string) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var names []string
	for _, m := range matches {
		names = append(names, strings.TrimSuffix(filepath.Base(m), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// parse decodes data and reports structural problems (syntax, more than one
// document, duplicate fields, wrong kinds) with their lines. Unknown fields
// alone do not stop it: they come back as problems next to a decoded catalog,
// so that Validate can add its own. Semantic checks are Validate's.
func parse(file string, data []byte) (*Catalog, []yamlin.Problem, error) {
	root, bad := yamlin.Parse(file, data, catalogSpec)
	if bad != nil {
		return nil, nil, &yamlin.ValidationError{Problems: []yamlin.Problem{*bad}}
	}

	// Decode first: yaml.v3 refuses alias bombs ("excessive aliasing"), which
	// the walker below would otherwise expand.
	c := &Catalog{}
	decodeErr := root.Decode(c)
	var te *yaml.TypeError
	if decodeErr != nil && !errors.As(decodeErr, &te) && strings.Contains(decodeErr.Error(), "aliasing") {
		return nil, nil, &yamlin.ValidationError{Problems: []yamlin.Problem{yamlProblem(file, decodeErr.Error())}}
	}
	w := &walker{file: file, lines: map[string]int{}, budget: maxWalkNodes}
	w.walk(root, reflect.TypeOf(Catalog{}), "")
	if w.budget < 0 {
		return nil, nil, &yamlin.ValidationError{Problems: []yamlin.Problem{{File: file, Line: root.Line,
			Message: fmt.Sprintf("the document expands to more than %d nodes through its aliases (want a catalog of at most a few thousand fields)", maxWalkNodes)}}}
	}
	switch {
	case decodeErr == nil || w.decodeErrorsCovered:
	case te != nil:
		for _, msg := range te.Errors {
			w.problems = append(w.problems, yamlProblem(file, msg))
		}
	default:
		w.problems = append(w.problems, yamlProblem(file, decodeErr.Error()))
	}
	if len(w.problems) > len(w.unknown) {
		return nil, nil, &yamlin.ValidationError{Problems: w.problems}
	}
	c.File = file
	c.lines = w.lines
	c.resolveManifestPaths()
	return c, w.unknown, nil
}

// maxWalkNodes bounds the walk of a document whose aliases repeat subtrees.
const maxWalkNodes = 1 << 20

// yamlProblem turns a yaml.v3 decode message into a Problem in the user's
// words: its tags (!!int, !!seq, …) named, its Go types not shown.
func yamlProblem(file, msg string) yamlin.Problem {
	p := yamlin.Problem{File: file}
	p.Line, p.Message = yamlin.ErrorLine(msg)
	if i := strings.Index(p.Message, " into "); i >= 0 && strings.HasPrefix(p.Message, "cannot unmarshal") {
		p.Message = p.Message[:i] + " into this field (want the kind of value fixtures/releases/README.md gives it)"
	}
	p.Message = yamlTagRE.ReplaceAllStringFunc(strings.Replace(p.Message, "cannot unmarshal", "cannot read", 1), func(m string) string {
		tag := m[strings.Index(m, "!!"):]
		if name, ok := yamlTagNames[tag]; ok {
			return name
		}
		return "a value tagged " + strings.TrimPrefix(tag, "!!")
	})
	return p
}

var (
	yamlTagRE    = regexp.MustCompile(`(?:\ban? )?!!\w+`)
	yamlTagNames = map[string]string{"!!null": "null", "!!bool": "a boolean", "!!int": "an integer", "!!float": "a number",
		"!!str": "a string", "!!seq": "a list", "!!map": "a mapping", "!!timestamp": "a timestamp", "!!binary": "binary data", "!!merge": "a merge key"}
)

// walker checks the node tree against the Go types, because yaml.v3's strict
// mode stops at names without field paths and does not report every problem.
type walker struct {
	file     string
	lines    map[string]int
	problems []yamlin.Problem
	// unknown are the problems that are unknown fields only (also in problems).
	unknown []yamlin.Problem
	// decodeErrorsCovered: the walker reported the wrong kinds or duplicate keys
	// that also make yaml.v3's Decode fail, so Decode's copies are dropped.
	decodeErrorsCovered bool
	// budget is how many more nodes the walk may visit; below 0 it stopped.
	budget int
}

func (w *walker) add(line int, field, format string, args ...any) {
	w.problems = append(w.problems, yamlin.Problem{File: w.file, Line: line, Field: field, Message: fmt.Sprintf(format, shortValues(args)...)})
}

func (w *walker) record(path string, line int) {
	if _, ok := w.lines[path]; !ok && path != "" {
		w.lines[path] = line
	}
}

func (w *walker) wrongKind(n *yaml.Node, path, want string) {
	w.decodeErrorsCovered = true
	w.add(n.Line, path, "is %s (want %s)", yamlin.KindName(n), want)
}

// scalarKey reports a mapping key that is not a plain name (YAML allows
// "? {a: b}: c"; a catalog field never is one).
func (w *walker) scalarKey(key *yaml.Node, path string) bool {
	if key.Kind == yaml.ScalarNode {
		return true
	}
	w.decodeErrorsCovered = true
	where := path
	if where == "" {
		where = "the top level"
	}
	w.add(key.Line, path, "a key in %s is %s (want a field name)", where, yamlin.KindName(key))
	return false
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.budget--; w.budget < 0 {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	w.record(path, n.Line)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if yamlin.IsNull(n) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.wrongKind(n, path, "a mapping")
			return
		}
		fields, names := yamlFields(t)
		w.eachKey(n, path, func(key, val *yaml.Node, child string) {
			ft, ok := fields[key.Value]
			if !ok {
				w.add(key.Line, child, "unknown field %q (valid fields: %s)", key.Value, strings.Join(names, ", "))
				w.unknown = append(w.unknown, w.problems[len(w.problems)-1])
				return
			}
			w.record(child, key.Line)
			w.walk(val, ft, child)
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.wrongKind(n, path, "a list")
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.wrongKind(n, path, "a mapping")
			return
		}
		w.eachKey(n, path, func(key, val *yaml.Node, child string) {
			w.record(child, key.Line)
			w.walk(val, t.Elem(), child)
		})
	default:
		if n.Kind != yaml.ScalarNode {
			w.wrongKind(n, path, "a string")
			return
		}
		// An explicit tag can make a scalar unreadable (name: !!int x); let
		// yaml.v3 say so here, where the field and line are known.
		var v string
		if err := n.Decode(&v); err != nil {
			w.decodeErrorsCovered = true
			w.add(n.Line, path, "%s", yamlProblem(w.file, err.Error()).Message)
		}
	}
}

// eachKey calls visit for each key of mapping n (merge keys resolved) that
// is a plain name set once; other keys are problems.
func (w *walker) eachKey(n *yaml.Node, path string, visit func(key, val *yaml.Node, child string)) {
	seen := map[string]int{}
	for _, kv := range mappingPairs(n) {
		key, val := kv[0], kv[1]
		if !w.scalarKey(key, path) {
			continue
		}
		child := yamlin.JoinField(path, key.Value)
		if prev, dup := seen[key.Value]; dup {
			w.decodeErrorsCovered = true
			w.add(key.Line, child, "is set twice (first at line %d)", prev)
			continue
		}
		seen[key.Value] = key.Line
		visit(key, val, child)
	}
}

// mappingPairs lists the key/value pairs of a mapping with YAML merge keys
// ("<<: *anchor") resolved as yaml.v3 decodes them: the mapping's own keys,
// then the merged keys it does not set itself.
func mappingPairs(n *yaml.Node) [][2]*yaml.Node {
	var own, merged [][2]*yaml.Node
	has := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.AliasNode && key.Alias != nil {
			key = key.Alias // a key may be an alias too: its name is the anchored value
		}
		if key.Kind == yaml.ScalarNode && key.ShortTag() == "!!merge" {
			merges = append(merges, val)
			continue
		}
		own = append(own, [2]*yaml.Node{key, val})
		has[key.Value] = true
	}
	var add func(m *yaml.Node, depth int)
	add = func(m *yaml.Node, depth int) {
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			m = m.Alias
		}
		if depth > 8 {
			return // yaml.v3 refuses such documents; do not follow them here
		}
		switch m.Kind {
		case yaml.MappingNode:
			for _, kv := range mappingPairs(m) {
				if !has[kv[0].Value] {
					has[kv[0].Value] = true
					merged = append(merged, kv)
				}
			}
		case yaml.SequenceNode:
			for _, item := range m.Content {
				add(item, depth+1)
			}
		}
	}
	for _, m := range merges {
		add(m, 0)
	}
	return append(own, merged...)
}

// yamlFields maps the yaml names of t's fields to their types.
func yamlFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

// resolveManifestPaths makes local manifest paths absolute against the catalog
// file's directory, so callers need not know where the catalog lives.
func (c *Catalog) resolveManifestPaths() {
	base := filepath.Dir(c.File)
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	for i := range c.Releases {
		m := &c.Releases[i].Manifests
		switch {
		case m.Path == "":
			m.resolved = ""
		case filepath.IsAbs(m.Path):
			m.resolved = filepath.Clean(m.Path)
		default:
			m.resolved = filepath.Join(base, m.Path)
		}
	}
}
