package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/mattn/go-shellwords"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// Make variables of a repro line: every option that changes what a cell runs,
// and no other (labels and filters only select cells). The Makefile's repro
// target must accept them.
const (
	VarFrom         = "FROM"
	VarTo           = "TO"
	VarOrder        = "ORDER"
	VarCatalog      = "CATALOG"
	VarNodeImage    = "NODE_IMAGE"
	VarOverrides    = "OVERRIDES"
	VarManifestsDir = "MANIFESTS_DIR"
	VarImageRemap   = "IMAGE_REMAP"
	VarRollback     = "ROLLBACK"
)

// cellVars lists the variables ParseRepro reads, in the order ReproCommand writes them.
var cellVars = []string{VarFrom, VarTo, VarOrder, VarCatalog, VarNodeImage, VarOverrides, VarManifestsDir, VarImageRemap, VarRollback}

// DefaultReproCommand is the command a repro line starts with.
const DefaultReproCommand = "make repro"

// ReproOptions shapes a repro line.
type ReproOptions struct {
	// Command precedes the variables; DefaultReproCommand when empty.
	Command string
	// Catalog is the catalog as the run was given it: a name in the default
	// catalog directory or a file path. c.Catalog (its name) when empty.
	Catalog string
	// NodeImage is the kind node image the cell ran on ("" for the default).
	NodeImage string
	// ManifestsDir is the -manifests-dir the run used ("" for none).
	ManifestsDir string
	// ImageRemap are the -image-remap prefix rewrites the run used.
	ImageRemap map[string]string
	// Vars are extra make variables (e.g. KEEP_CLUSTER=always), printed sorted
	// after the cell's. ParseRepro ignores them.
	Vars map[string]string
}

// ReproCommand returns a copy-pasteable shell command that runs cell c again,
// e.g. `make repro FROM=v0.2.0 TO=v0.2.2 ORDER=all-at-once CATALOG=simulated
// OVERRIDES='backend=quay.io/x/y:pr-1'`. Empty fields are left out so the
// Makefile's defaults apply; ParseRepro(ReproCommand(c, o)) gives back c's
// from, to, order and overrides and o's catalog, node image, manifests dir
// and image remap.
func ReproCommand(c upgrade.Cell, opts ReproOptions) string {
	cmd := opts.Command
	if cmd == "" {
		cmd = DefaultReproCommand
	}
	words := []string{cmd}
	add := func(key, value string, alwaysQuote bool) {
		if value == "" {
			return
		}
		quoted := shellescape.Quote(makeEscape(value))
		if alwaysQuote && !strings.HasPrefix(quoted, "'") {
			// Quoted even when it needs none, so an edited value stays one word.
			quoted = "'" + quoted + "'"
		}
		words = append(words, key+"="+quoted)
	}
	add(VarFrom, c.From, false)
	add(VarTo, c.To, false)
	add(VarOrder, c.Order.Text, false)
	cat := opts.Catalog
	if cat == "" {
		cat = c.Catalog
	}
	add(VarCatalog, cat, false)
	add(VarNodeImage, opts.NodeImage, false)
	add(VarOverrides, FormatOverrides(c.Overrides), true)
	add(VarManifestsDir, opts.ManifestsDir, false)
	add(VarImageRemap, catalog.FormatImageRemap(opts.ImageRemap), false)
	if c.Rollback {
		add(VarRollback, "true", false)
	}
	keys := make([]string, 0, len(opts.Vars))
	for k := range opts.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, opts.Vars[k], false)
	}
	return strings.Join(words, " ")
}

// Repro is what a repro line runs: a cell (from, to, order, overrides; its
// Catalog is CATALOG as written, a name or a file path) and the options the
// run had that change what the cell runs.
type Repro struct {
	Cell         upgrade.Cell
	NodeImage    string
	ManifestsDir string
	ImageRemap   map[string]string
}

// Options returns the ReproOptions that print rp again.
func (rp Repro) Options() ReproOptions {
	return ReproOptions{Catalog: rp.Cell.Catalog, NodeImage: rp.NodeImage, ManifestsDir: rp.ManifestsDir, ImageRemap: rp.ImageRemap}
}

// ParseRepro reads a repro line back into the cell it runs. Words that are not
// VAR=value form the command and are ignored, as are unknown variables.
func ParseRepro(line string) (Repro, error) {
	var rp Repro
	c := &rp.Cell
	words, err := shellSplit(line)
	if err != nil {
		return rp, fmt.Errorf("repro line %q: %w", line, err)
	}
	seen := map[string]bool{}
	for _, w := range words {
		key, raw, ok := strings.Cut(w, "=")
		if !ok || !isMakeVarName(key) {
			continue
		}
		if !isCellVar(key) {
			continue
		}
		if seen[key] {
			return rp, fmt.Errorf("repro line: variable %s is set twice; set each of %s at most once", key, strings.Join(cellVars, ", "))
		}
		seen[key] = true
		value, err := makeUnescape(raw)
		if err != nil {
			return rp, fmt.Errorf("repro line: %s: %w", key, err)
		}
		switch key {
		case VarFrom:
			c.From = value
		case VarTo:
			c.To = value
		case VarOrder:
			if err := c.Order.UnmarshalText([]byte(value)); err != nil {
				return rp, fmt.Errorf("repro line: ORDER: %w", err)
			}
		case VarCatalog:
			c.Catalog = value
		case VarNodeImage:
			rp.NodeImage = value
		case VarOverrides:
			if c.Overrides, err = catalog.ParseOverrides(value); err != nil {
				return rp, fmt.Errorf("repro line: OVERRIDES: %w", err)
			}
		case VarRollback:
			if value != "true" && value != "false" {
				return rp, fmt.Errorf("repro line: ROLLBACK=%q: want true or false", value)
			}
			c.Rollback = value == "true"
		case VarManifestsDir:
			rp.ManifestsDir = value
		case VarImageRemap:
			if rp.ImageRemap, err = catalog.ParseImageRemap(value); err != nil {
				return rp, fmt.Errorf("repro line: IMAGE_REMAP: %w", err)
			}
			if len(rp.ImageRemap) == 0 {
				rp.ImageRemap = nil
			}
		}
	}
	if c.From == "" || c.To == "" {
		return rp, fmt.Errorf("repro line %q: FROM and TO are required (e.g. FROM=v0.2.0 TO=v0.2.2)", line)
	}
	return rp, nil
}

func isCellVar(key string) bool { return slices.Contains(cellVars, key) }

func isMakeVarName(s string) bool {
	if s == "" {
		return false
	}
	for _, ch := range s {
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '_') {
			return false
		}
	}
	return true
}

// FormatOverrides encodes image overrides as "comp=image,comp=image" in
// component order, the syntax of the CLI's -overrides flag (and catalog's
// ParseOverrides reverses it).
func FormatOverrides(overrides platform.Images) string {
	var parts []string
	for _, c := range overrides.Components() {
		parts = append(parts, string(c)+"="+overrides.Get(c))
	}
	return strings.Join(parts, ",")
}

func joinEscaped(items []string) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = escape(it, `\,`)
	}
	return strings.Join(parts, ",")
}

func splitEscaped(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts, err := splitUnescaped(s, ',')
	if err != nil {
		return nil, err
	}
	for i := range parts {
		parts[i] = unescape(parts[i])
	}
	return parts, nil
}

func escape(s, special string) string {
	var b strings.Builder
	for _, ch := range s {
		if strings.ContainsRune(special, ch) {
			b.WriteByte('\\')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

// splitUnescaped splits at sep where it is not preceded by a backslash escape;
// the parts keep their escapes.
func splitUnescaped(s string, sep byte) ([]string, error) {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("value %q ends with a lone backslash; escape it as \\\\", s)
			}
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:]), nil
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// makeEscape doubles "$" because make expands command-line variable values.
func makeEscape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

func makeUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' {
			if i+1 < len(s) && s[i+1] == '$' {
				i++
			} else {
				return "", fmt.Errorf("value %q holds a make reference at offset %d; write a literal $ as $$", s, i)
			}
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// shellSplit splits a repro line into words as a POSIX shell would for the
// lines ReproCommand writes (single quotes, backslashes). Anything that makes
// the line more than one simple command (pipes, ;, &, redirections) is an
// error, because a repro line must be just that.
func shellSplit(line string) ([]string, error) {
	p := shellwords.NewParser() // no environment expansion, no command execution
	words, err := p.Parse(line)
	if err != nil {
		return nil, fmt.Errorf("unbalanced quote, substitution or trailing backslash (%v): a repro line is one simple command", err)
	}
	if p.Position >= 0 {
		r := []rune(line)
		return nil, fmt.Errorf("shell operator %q at offset %d: a repro line is one simple command", r[p.Position], p.Position)
	}
	return words, nil
}
