package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"syscall"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"gopkg.in/yaml.v3"
)

// MaxFileSize caps a catalog file. The shipped catalogs are about 10 KiB; the
// cap stops an endless or huge file (e.g. /dev/zero, a wrong path) from being
// read until the machine runs out of memory.
const MaxFileSize = 1 << 20

// readCatalogFile reads a catalog file: a regular file of at most MaxFileSize
// bytes. The file is opened non-blocking, so a FIFO is refused at once instead
// of waiting for a writer.
func readCatalogFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s does not exist (want a catalog YAML file, or a catalog name such as simulated)", path)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("%s is not readable (want a catalog YAML file the harness may read)", path)
		}
		return nil, fmt.Errorf("%s cannot be opened: %v (want a catalog YAML file)", path, unwrapPathError(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %v (want a readable catalog YAML file)", path, unwrapPathError(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file (want a catalog YAML file)", path, fileKind(st.Mode()))
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes (want at most %d bytes: a catalog is a few KiB)", path, st.Size(), MaxFileSize)
	}
	// Files such as those in /proc report size 0: the limit holds while reading too.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v (want a readable catalog YAML file)", path, unwrapPathError(err))
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s holds more than %d bytes (want at most %d bytes: a catalog is a few KiB)", path, MaxFileSize, MaxFileSize)
	}
	return data, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileKind names what a non-regular file is, for error messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file"
}

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
