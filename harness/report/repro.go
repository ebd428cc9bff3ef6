package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Make variables of a repro line; the Makefile's repro target must accept them.
const (
	VarFrom      = "FROM"
	VarTo        = "TO"
	VarOrder     = "ORDER"
	VarCatalog   = "CATALOG"
	VarNodeImage = "NODE_IMAGE"
	VarOverrides = "OVERRIDES"
	VarLabels    = "LABELS"
)

// DefaultReproCommand is the command a repro line starts with.
const DefaultReproCommand = "make repro"

// ReproOptions shapes a repro line.
type ReproOptions struct {
	// Command precedes the variables; DefaultReproCommand when empty.
	Command string
	// Vars are extra make variables (e.g. KEEP_CLUSTER=always), printed sorted
	// after the cell's. ParseRepro ignores them.
	Vars map[string]string
}

// ReproCommand returns a copy-pasteable shell command that runs cell c again,
// e.g. `make repro FROM=v0.2.0 TO=v0.2.2 ORDER=all-at-once CATALOG=simulated
// OVERRIDES='backend=quay.io/x/y:pr-1'`. Empty fields are left out so the
// Makefile's defaults apply; ParseRepro(ReproCommand(c, o)) == c.
func ReproCommand(c verdict.Cell, opts ReproOptions) string {
	cmd := opts.Command
	if cmd == "" {
		cmd = DefaultReproCommand
	}
	words := []string{cmd}
	add := func(key, value string, alwaysQuote bool) {
		if value == "" {
			return
		}
		value = makeEscape(value)
		if alwaysQuote {
			words = append(words, key+"="+singleQuote(value))
		} else {
			words = append(words, key+"="+shellQuote(value))
		}
	}
	add(VarFrom, c.From, false)
	add(VarTo, c.To, false)
	add(VarOrder, c.Order, false)
	add(VarCatalog, c.Catalog, false)
	add(VarNodeImage, c.NodeImage, false)
	add(VarOverrides, FormatOverrides(c.Overrides), true)
	add(VarLabels, joinEscaped(c.Labels), false)
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

// ParseRepro reads a repro line back into the cell it runs. Words that are not
// VAR=value form the command and are ignored, as are unknown variables.
func ParseRepro(line string) (verdict.Cell, error) {
	var c verdict.Cell
	words, err := shellSplit(line)
	if err != nil {
		return c, fmt.Errorf("repro line %q: %w", line, err)
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
			return c, fmt.Errorf("repro line: variable %s is set twice; set each of FROM, TO, ORDER, CATALOG, NODE_IMAGE, OVERRIDES, LABELS at most once", key)
		}
		seen[key] = true
		value, err := makeUnescape(raw)
		if err != nil {
			return c, fmt.Errorf("repro line: %s: %w", key, err)
		}
		switch key {
		case VarFrom:
			c.From = value
		case VarTo:
			c.To = value
		case VarOrder:
			c.Order = value
		case VarCatalog:
			c.Catalog = value
		case VarNodeImage:
			c.NodeImage = value
		case VarOverrides:
			if c.Overrides, err = ParseOverrides(value); err != nil {
				return c, fmt.Errorf("repro line: OVERRIDES: %w", err)
			}
		case VarLabels:
			if c.Labels, err = splitEscaped(value); err != nil {
				return c, fmt.Errorf("repro line: LABELS: %w", err)
			}
		}
	}
	if c.From == "" || c.To == "" {
		return c, fmt.Errorf("repro line %q: FROM and TO are required (e.g. FROM=v0.2.0 TO=v0.2.2)", line)
	}
	return c, nil
}

func isCellVar(key string) bool {
	switch key {
	case VarFrom, VarTo, VarOrder, VarCatalog, VarNodeImage, VarOverrides, VarLabels:
		return true
	}
	return false
}

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

// FormatOverrides encodes component→image overrides as "comp=image,comp=image"
// sorted by component. "\", "," and (in components) "=" are backslash-escaped;
// ParseOverrides reverses it. The CLI's OVERRIDES flag uses the same syntax.
func FormatOverrides(overrides map[string]string) string {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, escape(k, `\,=`)+"="+escape(overrides[k], `\,`))
	}
	return strings.Join(parts, ",")
}

// ParseOverrides decodes FormatOverrides' syntax. An empty string gives nil.
func ParseOverrides(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	items, err := splitUnescaped(s, ',')
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(items))
	for _, item := range items {
		kv, err := splitUnescaped(item, '=')
		if err != nil {
			return nil, err
		}
		if len(kv) < 2 {
			return nil, fmt.Errorf("override %q has no '=': want component=image, e.g. backend=quay.io/org/vteam_backend:pr-1", unescape(item))
		}
		comp := unescape(kv[0])
		// Only the first unescaped '=' separates; image references may contain more.
		image := unescape(strings.Join(kv[1:], "="))
		if comp == "" || image == "" {
			return nil, fmt.Errorf("override %q: component and image must both be non-empty", unescape(item))
		}
		if _, dup := out[comp]; dup {
			return nil, fmt.Errorf("override for component %q is given twice", comp)
		}
		out[comp] = image
	}
	return out, nil
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

func isShellSafe(s string) bool {
	if s == "" {
		return false
	}
	for _, ch := range s {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.ContainsRune("_-./:@%+=,", ch)) {
			return false
		}
	}
	return true
}

func shellQuote(s string) string {
	if isShellSafe(s) {
		return s
	}
	return singleQuote(s)
}

func singleQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shellSplit splits a POSIX shell command line into words, honouring single
// quotes, double quotes and backslashes. Anything that makes the line more
// than one simple command (pipes, ;, &, redirections, substitutions) is an
// error, because a repro line must be just that.
func shellSplit(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at offset %d", i)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				switch line[j] {
				case '\\':
					if j+1 < len(line) && strings.IndexByte("$`\"\\\n", line[j+1]) >= 0 {
						j++
					}
				case '$', '`':
					return nil, fmt.Errorf("substitution %q inside double quotes at offset %d is not allowed in a repro line", line[j], j)
				}
				cur.WriteByte(line[j])
			}
			if j == len(line) {
				return nil, fmt.Errorf("unterminated double quote at offset %d", i)
			}
			i = j
			inWord = true
		case ch == '\\':
			if i+1 == len(line) {
				return nil, fmt.Errorf("line ends with a lone backslash")
			}
			i++
			if line[i] != '\n' {
				cur.WriteByte(line[i])
				inWord = true
			}
		case strings.IndexByte("|&;<>()$`", ch) >= 0:
			return nil, fmt.Errorf("shell operator %q at offset %d: a repro line is one simple command", ch, i)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
