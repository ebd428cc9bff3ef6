package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/boundedfile"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"gopkg.in/yaml.v3"
)

// MaxFileSize caps a catalog file. The shipped catalogs are about 10 KiB; the
// cap stops an endless or huge file (e.g. /dev/zero, a wrong path) from being
// read until the machine runs out of memory.
const MaxFileSize = 1 << 20

// catalogFile is a catalog as boundedfile reads it.
var catalogFile = boundedfile.Kind{Want: "a catalog YAML file", Readable: "a readable catalog YAML file",
	NotExist: "a catalog YAML file, or a catalog name such as simulated", Typical: "a catalog is a few KiB", Limit: MaxFileSize}

// readCatalogFile reads a catalog file: a regular file of at most MaxFileSize bytes.
func readCatalogFile(path string) ([]byte, error) { return boundedfile.Read(path, catalogFile) }

// documents splits data into its YAML documents, dropping empty ones (a file
// may start or end with "---"). A syntax error comes back as a Problem with
// line and column.
func documents(file string, data []byte) ([]*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for n := 0; ; n++ {
		if n == maxDocuments {
			return nil, &Problem{File: file, Message: fmt.Sprintf("the file holds more than %d YAML documents (want exactly one Catalog document per file)", maxDocuments)}
		}
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			p := syntaxProblem(file, data, err)
			return nil, &p
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 && !isNull(doc.Content[0]) {
			docs = append(docs, &doc)
		}
	}
}

// maxDocuments bounds how many documents (empty ones too) documents decodes:
// each costs the decoder a fresh start.
const maxDocuments = 1000

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

// syntaxProblem locates a YAML syntax error. yaml.v3 reports a line at best
// (and none for errors on the first line), so the position comes from
// goccy/go-yaml's parser, which reports line and column; yaml.v3's own line is
// the fallback when the two parsers disagree.
func syntaxProblem(file string, data []byte, err error) Problem {
	msg := strings.TrimSpace(err.Error())
	p := Problem{File: file, Message: "YAML syntax error: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &p.Line)
		p.Message = "YAML syntax error: " + m[2]
	}
	if line, col, gmsg, ok := goccyPosition(data); ok {
		p.Line, p.Column, p.Message = line, col, "YAML syntax error: "+strings.NewReplacer("\t", `\t`, "\r", `\r`).Replace(gmsg)
		return p
	}
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
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
