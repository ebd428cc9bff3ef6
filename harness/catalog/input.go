package catalog

import (
	"fmt"

	"github.com/ambient-e2e/upgrade-harness/harness/boundedfile"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
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

// The bounds of a catalog, checked before any YAML parser sees it (see
// yamlin.CheckDepth and yamlin.CheckCollectionSizes for what each costs).
const (
	// MaxDepth: the shipped catalogs nest 5 deep.
	MaxDepth = 32
	// MaxEntries: a catalog of 1 MiB written as usual has fewer than 50,000 lines.
	MaxEntries = 100_000
	// MaxItems: a catalog's widest mapping has about 10 keys and its longest
	// list a few dozen items; the checks compare releases pairwise.
	MaxItems = 1000
	// maxDocuments: each document costs the decoder a fresh start.
	maxDocuments = 1000
)

// catalogSpec is a catalog as yamlin parses it.
var catalogSpec = yamlin.Spec{
	MaxDepth: MaxDepth, MaxEntries: MaxEntries, MaxItems: MaxItems, MaxDocuments: maxDocuments,
	A: "a catalog", Document: "Catalog document",
	TypicalDepth: "a catalog nests about 5", TypicalEntries: "a catalog has a few hundred",
	TypicalKeys: "a catalog mapping has about 10", TypicalItems: "a catalog's lists have a few dozen",
	Empty: "file is empty (want a Catalog document)",
	SecondDocument: func(held int) string {
		return fmt.Sprintf("a second YAML document starts here; the file holds %d (want exactly one Catalog document per file)", held)
	},
	SyntaxPrefix: "YAML syntax error: ",
}

// checkDepth is yamlin.CheckDepth with a catalog's bounds.
func checkDepth(file string, data []byte) *yamlin.Problem {
	return yamlin.CheckDepth(file, data, catalogSpec)
}
