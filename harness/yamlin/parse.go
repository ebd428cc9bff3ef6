package yamlin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"gopkg.in/yaml.v3"
)

// Spec is one kind of input file: its bounds, and the words its messages use
// for what such a file is and holds.
type Spec struct {
	// MaxDepth bounds nesting (block indentation levels, "- " entries and
	// flow brackets together); MaxEntries the lines and flow items;
	// MaxItems the keys of one mapping and the items of one list;
	// MaxDocuments the YAML documents, empty ones included.
	MaxDepth, MaxEntries, MaxItems, MaxDocuments int

	// A names the kind of file with its article ("a catalog"); Document its
	// one document ("Catalog document").
	A, Document string
	// TypicalDepth, TypicalEntries, TypicalKeys and TypicalItems say how
	// large a usual file is, e.g. "a catalog nests about 5".
	TypicalDepth, TypicalEntries, TypicalKeys, TypicalItems string

	// Empty is the message for a file without a document.
	Empty string
	// SecondDocument is the message for a file of held documents, at the
	// start of the second.
	SecondDocument func(held int) string
	// SyntaxPrefix starts the message of a YAML syntax error, e.g. "YAML syntax error: ".
	SyntaxPrefix string
}

// Parse bounds data (CheckDepth), parses it once and returns the root node
// of its one document, its collections bounded too (CheckCollectionSizes).
// Any problem comes back located; nothing is decoded yet.
func Parse(file string, data []byte, spec Spec) (*yaml.Node, *Problem) {
	if deep := CheckDepth(file, data, spec); deep != nil {
		return nil, deep
	}
	docs, syntax := documents(file, data, spec)
	switch {
	case syntax != nil:
		return nil, syntax
	case len(docs) == 0:
		return nil, &Problem{File: file, Message: spec.Empty}
	case len(docs) > 1:
		return nil, &Problem{File: file, Line: documentStart(data, docs[1].Content[0].Line), Message: spec.SecondDocument(len(docs))}
	}
	root := docs[0].Content[0]
	if wide := CheckCollectionSizes(file, root, spec); wide != nil {
		return nil, wide
	}
	return root, nil
}

// documents splits data into its YAML documents, dropping empty ones (a file
// may start or end with "---"). A syntax error comes back as a Problem with
// line and column.
func documents(file string, data []byte, spec Spec) ([]*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for n := 0; ; n++ {
		if n == spec.MaxDocuments {
			return nil, &Problem{File: file, Message: fmt.Sprintf("the file holds more than %d YAML documents (want exactly one %s per file)", spec.MaxDocuments, spec.Document)}
		}
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			p := syntaxProblem(file, data, err, spec.SyntaxPrefix)
			return nil, &p
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 && !IsNull(doc.Content[0]) {
			docs = append(docs, &doc)
		}
	}
}

// documentStart is the line of the "---" that opens the document whose
// content starts at line, or line itself.
func documentStart(data []byte, line int) int {
	lines := strings.Split(string(data), "\n")
	for l := min(line, len(lines)); l >= 1; l-- {
		if strings.HasPrefix(lines[l-1], "---") {
			return l
		}
	}
	return line
}

var (
	yamlLineRE      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`unknown anchor '([^']+)' referenced`)
)

// ErrorLine splits a yaml.v3 message into its line (0 when it names none)
// and the rest, without the "yaml: " prefix.
func ErrorLine(msg string) (int, string) {
	msg = strings.TrimSpace(msg)
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// syntaxProblem locates a YAML syntax error. yaml.v3 reports a line at best
// (and none for errors on the first line), so the position comes from
// goccy/go-yaml's parser, which reports line and column; yaml.v3's own line is
// the fallback when the two parsers disagree.
func syntaxProblem(file string, data []byte, err error, prefix string) Problem {
	line, msg := ErrorLine(err.Error())
	p := Problem{File: file, Line: line, Message: prefix + msg}
	if line, col, gmsg, ok := goccyPosition(data); ok {
		p.Line, p.Column, p.Message = line, col, prefix+strings.NewReplacer("\t", `\t`, "\r", `\r`).Replace(gmsg)
		return p
	}
	if m := unknownAnchorRE.FindStringSubmatch(err.Error()); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			p.Line = bytes.Count(data[:i], []byte("\n")) + 1
			p.Column = i - bytes.LastIndexByte(data[:i], '\n')
		}
	}
	return p
}

// goccyPosition parses data with goccy/go-yaml and returns the position of its
// first syntax error. A panic in that parser only loses the column.
func goccyPosition(data []byte) (line, col int, msg string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := goccyparser.ParseBytes(data, 0)
	var se *goccy.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil || se.Token.Position.Line < 1 {
		return 0, 0, "", false
	}
	return se.Token.Position.Line, max(se.Token.Position.Column, 1), se.Message, true
}

// IsNull reports whether n is YAML's null (an empty value or ~).
func IsNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// KindName says what n is, for "is … (want …)" messages.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "empty"
		}
		return fmt.Sprintf("the scalar %q", n.Value)
	}
	return "not a value"
}

// JoinField is the field path of key under parent ("" for the top level).
func JoinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
