package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
)

// Problem is one thing wrong with a catalog, located in its file.
type Problem struct {
	File string
	// Line is 1-based; 0 when the position is unknown.
	Line int
	// Field is the path of the offending field, e.g. "releases[1].images.operator".
	Field   string
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError collects every problem of a catalog, so one run shows them all.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadOption tunes Load.
type LoadOption func(*loadOptions)

type loadOptions struct {
	checkPaths bool
	override   *ManifestOverride
}

// WithPathChecks makes Load check that every local manifest path exists.
func WithPathChecks() LoadOption { return func(o *loadOptions) { o.checkPaths = true } }

// WithManifestOverride points the releases' manifests at local rendered files
// before validation (see ManifestOverride).
func WithManifestOverride(m ManifestOverride) LoadOption {
	return func(o *loadOptions) { o.override = &m }
}

// Load reads, decodes and validates a catalog file. Every error it returns maps
// to exitcode.BadInput; a *ValidationError inside lists all problems found.
func Load(path string, opts ...LoadOption) (*Catalog, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, exitcode.BadInputErr(fmt.Errorf("read catalog: %w", err))
	}
	c, unknown, err := parse(path, data)
	if err != nil {
		return nil, exitcode.BadInputErr(err)
	}
	if o.override != nil {
		if err := c.ApplyManifestOverride(*o.override); err != nil {
			return nil, err
		}
	}
	// Unknown fields do not stop the other checks: a user fixing a typo should
	// not discover the next problem only on the next run.
	problems := unknown
	var ve *ValidationError
	if err := c.Validate(ValidateOptions{CheckPaths: o.checkPaths}); errors.As(err, &ve) {
		problems = append(problems, ve.Problems...)
	} else if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
		return nil, exitcode.BadInputErr(&ValidationError{Problems: problems})
	}
	return c, nil
}

var catalogNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Open loads a catalog given as a file path (ends in .yaml or contains a
// slash) or as a name in dir, the way every command accepts it.
func Open(nameOrPath, dir string, opts ...LoadOption) (*Catalog, error) {
	if strings.HasSuffix(nameOrPath, ".yaml") || strings.Contains(nameOrPath, "/") {
		return Load(nameOrPath, opts...)
	}
	return LoadByName(dir, nameOrPath, opts...)
}

// LoadByName loads dir/<name>.yaml (e.g. "simulated" or "upstream") and checks
// that the file's name field agrees.
func LoadByName(dir, name string, opts ...LoadOption) (*Catalog, error) {
	if !catalogNameRE.MatchString(name) {
		return nil, exitcode.BadInputErr(fmt.Errorf("catalog name %q is not valid (want lowercase letters, digits and '-'; available in %s: %s)",
			name, dir, strings.Join(Available(dir), ", ")))
	}
	path := filepath.Join(dir, name+".yaml")
	if _, err := os.Stat(path); err != nil {
		return nil, exitcode.BadInputErr(fmt.Errorf("catalog %q: %s does not exist (available in %s: %s)",
			name, path, dir, strings.Join(Available(dir), ", ")))
	}
	c, err := Load(path, opts...)
	if err != nil {
		return nil, err
	}
	if c.Name != name {
		return nil, exitcode.BadInputErr(&ValidationError{Problems: []Problem{{
			File: path, Line: c.lines["name"], Field: "name",
			Message: fmt.Sprintf("%q does not match the file name (want %q)", c.Name, name),
		}}})
	}
	return c, nil
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

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parse decodes data and reports structural problems (syntax, duplicate
// fields, wrong kinds) with their lines. Unknown fields alone do not stop it:
// they come back as problems next to a decoded catalog, so that Validate can
// add its own. Semantic checks are Validate's.
func parse(file string, data []byte) (*Catalog, []Problem, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, &ValidationError{Problems: []Problem{yamlProblem(file, err.Error())}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil, &ValidationError{Problems: []Problem{{File: file, Message: "file is empty (want a Catalog document)"}}}
	}
	root := doc.Content[0]
	w := &walker{file: file, lines: map[string]int{}}
	w.walk(root, reflect.TypeOf(Catalog{}), "")

	c := &Catalog{}
	if err := root.Decode(c); err != nil {
		var te *yaml.TypeError
		switch {
		case errors.As(err, &te):
			if !w.decodeErrorsCovered {
				for _, msg := range te.Errors {
					w.problems = append(w.problems, yamlProblem(file, msg))
				}
			}
		default:
			w.problems = append(w.problems, yamlProblem(file, err.Error()))
		}
	}
	if len(w.problems) > len(w.unknown) {
		return nil, nil, &ValidationError{Problems: w.problems}
	}
	c.File = file
	c.lines = w.lines
	c.resolveManifestPaths()
	return c, w.unknown, nil
}

func yamlProblem(file, msg string) Problem {
	if m := yamlLineRE.FindStringSubmatch(strings.TrimSpace(msg)); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Message: m[2]}
	}
	return Problem{File: file, Message: strings.TrimPrefix(msg, "yaml: ")}
}

// walker checks the node tree against the Go types, because yaml.v3's strict
// mode stops at names without field paths and does not report every problem.
type walker struct {
	file     string
	lines    map[string]int
	problems []Problem
	// unknown are the problems that are unknown fields only (also in problems).
	unknown []Problem
	// decodeErrorsCovered: the walker reported the wrong kinds or duplicate keys
	// that also make yaml.v3's Decode fail, so Decode's copies are dropped.
	decodeErrorsCovered bool
}

func (w *walker) add(line int, field, format string, args ...any) {
	w.problems = append(w.problems, Problem{File: w.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (w *walker) record(path string, line int) {
	if _, ok := w.lines[path]; !ok && path != "" {
		w.lines[path] = line
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func (w *walker) wrongKind(n *yaml.Node, path, want string) {
	w.decodeErrorsCovered = true
	w.add(n.Line, path, "is %s (want %s)", kindName(n), want)
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	w.record(path, n.Line)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isNull(n) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.wrongKind(n, path, "a mapping")
			return
		}
		fields, names := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			child := joinPath(path, key.Value)
			if prev, dup := seen[key.Value]; dup {
				w.decodeErrorsCovered = true
				w.add(key.Line, child, "is set twice (first at line %d)", prev)
				continue
			}
			seen[key.Value] = key.Line
			ft, ok := fields[key.Value]
			if !ok {
				w.add(key.Line, child, "unknown field %q (valid fields: %s)", key.Value, strings.Join(names, ", "))
				w.unknown = append(w.unknown, w.problems[len(w.problems)-1])
				continue
			}
			w.record(child, key.Line)
			w.walk(val, ft, child)
		}
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
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			child := joinPath(path, key.Value)
			if prev, dup := seen[key.Value]; dup {
				w.decodeErrorsCovered = true
				w.add(key.Line, child, "is set twice (first at line %d)", prev)
				continue
			}
			seen[key.Value] = key.Line
			w.record(child, key.Line)
			w.walk(val, t.Elem(), child)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.wrongKind(n, path, "a string")
		}
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
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
