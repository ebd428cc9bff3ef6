package yamlin

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// CheckDepth scans data once, without parsing it, and reports the first
// place where collections nest deeper than spec.MaxDepth or the file holds
// more than spec.MaxEntries entries. Depth must be refused before parsing,
// not by it: parsers spend memory per level (a 100 KB file of 50,000 "["
// took 4 GB), and entries bound the parser's nodes (a 1 MiB flow list of
// 350,000 items took 87 MB). It follows just enough YAML to count: indentation
// and "- " of block collections; flow brackets outside quoted and plain
// scalars, anchors, tags and comments; block scalars' text skipped.
func CheckDepth(file string, data []byte, spec Spec) *Problem {
	MaxDepth, MaxEntries := spec.MaxDepth, spec.MaxEntries
	var (
		levels       []int // indentation of the open block collections
		flow         int   // open flow collections
		entries      int
		inSingle     bool
		inDouble     bool
		scalarIndent = -1 // a block scalar's parent indentation while its text runs
	)
	tooDeep := func(line, col int) *Problem {
		return &Problem{File: file, Line: line, Column: col,
			Message: fmt.Sprintf("collections nest more than %d levels deep here (want at most %d: %s; is a bracket or an indentation off?)", MaxDepth, MaxDepth, spec.TypicalDepth)}
	}
	tooMany := func(line, col int) *Problem {
		return &Problem{File: file, Line: line, Column: col,
			Message: fmt.Sprintf("the file holds more than %d entries (lines or list and mapping items) by here (want %s of at most %d; %s)", MaxEntries, spec.A, MaxEntries, spec.TypicalEntries)}
	}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		start, indent := 0, 0
		if !inSingle && !inDouble && flow == 0 {
			for indent < len(line) && line[indent] == ' ' {
				indent++
			}
			rest := line[indent:]
			if len(bytes.TrimSpace(rest)) == 0 || rest[0] == '#' {
				continue
			}
			if scalarIndent >= 0 {
				if indent > scalarIndent {
					continue // a line of a block scalar's text
				}
				scalarIndent = -1
			}
			if entries++; entries > MaxEntries {
				return tooMany(lineNo, indent+1)
			}
			if bytes.HasPrefix(rest, []byte("---")) || bytes.HasPrefix(rest, []byte("...")) {
				levels = levels[:0] // a new document
				continue
			}
			for len(levels) > 0 && levels[len(levels)-1] > indent {
				levels = levels[:len(levels)-1]
			}
			if len(levels) == 0 || levels[len(levels)-1] < indent {
				levels = append(levels, indent)
			}
			// "- - x": each dash opens a list whose item starts further right.
			col := indent
			for col < len(line) && line[col] == '-' && (col+1 == len(line) || line[col+1] == ' ') {
				col++
				for col < len(line) && line[col] == ' ' {
					col++
				}
				levels = append(levels, col)
				if len(levels) > MaxDepth {
					return tooDeep(lineNo, col)
				}
			}
			if len(levels) > MaxDepth {
				return tooDeep(lineNo, indent+1)
			}
			start = col
		}
		// plain: inside a plain scalar; word: inside an anchor, alias or tag.
		plain, word := false, false
		for j := start; j < len(line); j++ {
			c := line[j]
			spaceAfter := j+1 == len(line) || line[j+1] == ' ' || line[j+1] == '\t'
			spaceBefore := j == 0 || line[j-1] == ' ' || line[j-1] == '\t'
			flowIndicator := flow > 0 && bytes.IndexByte([]byte(",[]{}"), c) >= 0
			switch {
			case inDouble:
				if c == '\\' {
					j++
				} else if c == '"' {
					inDouble = false
				}
				continue
			case inSingle:
				if c == '\'' {
					if j+1 < len(line) && line[j+1] == '\'' {
						j++
					} else {
						inSingle = false
					}
				}
				continue
			case c == '#' && spaceBefore:
				j = len(line) // a comment runs to the end of the line
				continue
			case word:
				if c != ' ' && c != '\t' && !flowIndicator {
					continue
				}
				word = false
			case plain:
				if c == ':' && (spaceAfter || flow > 0 && j+1 < len(line) && bytes.IndexByte([]byte(",[]{}"), line[j+1]) >= 0) {
					plain = false
					continue
				}
				if !flowIndicator {
					continue
				}
				plain = false
			}
			switch c {
			case ' ', '\t':
			case '-', '?', ':':
				plain = !spaceAfter && !(flow > 0 && c == ':')
			case '"':
				inDouble = true
			case '\'':
				inSingle = true
			case '&', '*', '!':
				word = true
			case '[', '{':
				flow++
				if len(levels)+flow > MaxDepth {
					return tooDeep(lineNo, j+1)
				}
				fallthrough
			case ',':
				if entries++; entries > MaxEntries {
					return tooMany(lineNo, j+1)
				}
			case ']', '}':
				if flow > 0 {
					flow--
				}
			case '|', '>':
				if flow == 0 {
					scalarIndent = indent
					j = len(line) // the rest is the block scalar's header
				}
			default:
				plain = true
			}
		}
	}
	return nil
}

// CheckCollectionSizes reports the first mapping or list with more than
// spec.MaxItems entries: yaml.v3 compares every key of a mapping with every
// other (1 MiB of keys took 4 minutes), so a wider collection is refused
// before decoding. Aliases are not followed: what they point at is counted
// where it is written.
func CheckCollectionSizes(file string, root *yaml.Node, spec Spec) *Problem {
	MaxItems := spec.MaxItems
	stack := []*yaml.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case n.Kind == yaml.MappingNode && len(n.Content)/2 > MaxItems:
			return &Problem{File: file, Line: n.Line, Column: n.Column,
				Message: fmt.Sprintf("this mapping has %d keys (want at most %d: %s)", len(n.Content)/2, MaxItems, spec.TypicalKeys)}
		case n.Kind == yaml.SequenceNode && len(n.Content) > MaxItems:
			return &Problem{File: file, Line: n.Line, Column: n.Column,
				Message: fmt.Sprintf("this list has %d items (want at most %d: %s)", len(n.Content), MaxItems, spec.TypicalItems)}
		}
		if n.Kind != yaml.AliasNode {
			stack = append(stack, n.Content...)
		}
	}
	return nil
}
