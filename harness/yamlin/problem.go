// Package yamlin reads the YAML files users hand the harness (catalogs,
// build lists, the simulated platform's release list): one parse, bounded
// before any parser sees the file, every problem located by file, line and
// field, in words that say what would be valid.
package yamlin

import (
	"fmt"
	"strconv"
	"strings"
)

// Problem is one thing wrong with an input file, located in it.
type Problem struct {
	File string
	// Line is 1-based; 0 when the position is unknown. Column (1-based) is
	// set for YAML syntax errors and bounds only.
	Line   int
	Column int
	// Field is the path of the offending field, e.g. "releases[1].images.operator".
	Field   string
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteString(":" + strconv.Itoa(p.Column))
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError collects every problem of a file, so one run shows them all.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	shown := e.Problems
	if len(shown) > MaxShownProblems {
		shown = shown[:MaxShownProblems]
	}
	lines := make([]string, len(shown), len(shown)+1)
	for i, p := range shown {
		lines[i] = p.String()
	}
	if more := len(e.Problems) - len(shown); more > 0 {
		lines = append(lines, fmt.Sprintf("… and %d more problems (the first %d are shown; fix them and run again)", more, len(shown)))
	}
	return strings.Join(lines, "\n")
}

// MaxShownProblems caps the problems an error message lists: a generated
// file can have thousands, and the first ones say what is wrong.
const MaxShownProblems = 50
