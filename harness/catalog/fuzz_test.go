package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// goInternals matches what a user must never read in a catalog error: Go
// type names and yaml.v3's tags and decoder wording. Quoted values (the
// user's own text, echoed) are taken out first.
var (
	goInternals = regexp.MustCompile(`\b(catalog|platform|upgrade|verdict|ledger|yaml|reflect)\.[A-Za-z]|\[\]|map\[|!!|unmarshal|<nil>|%!|panic`)
	quoted      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'`)
)

// FuzzLoad feeds arbitrary bytes to the catalog loader (parse and validate, no
// file system): it must never panic, every error must be bad input made of
// problems that name the file and read without Go internals, and a catalog
// it accepts must expand into cells whose releases and images it has.
// Seeds: testdata/fuzz/FuzzLoad, the shipped catalogs and pathologicalCatalogs.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"simulated", "upstream"} {
		if data, err := os.ReadFile(filepath.Join("..", "..", DefaultDir, name+".yaml")); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(catalogWith(nil)))
	// The shapes that cost parsers memory out of proportion (deep nesting,
	// wide collections, long lines), cut to 64 KiB so the fuzzer can mutate
	// them quickly; TestEveryCatalogUpTo1MiBIsBounded loads them whole.
	for _, p := range pathologicalCatalogs() {
		f.Add([]byte(p.data[:min(len(p.data), 64<<10)]))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxFileSize {
			return // refused before parsing; readCatalogFile's test covers it
		}
		c, err := loadBytes("fuzz.yaml", data, loadOptions{})
		if err != nil {
			if code := exitcode.Of(err); code != exitcode.BadInput {
				t.Fatalf("exit code %d for %v, want %d", code, err, exitcode.BadInput)
			}
			var ve *yamlin.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %v is not a list of problems", err)
			}
			for _, p := range ve.Problems {
				if p.File != "fuzz.yaml" || p.Message == "" || p.Line < 0 || p.Column < 0 {
					t.Fatalf("problem %+v does not name the file, or has no message", p)
				}
				// The field path is the user's keys; the message is ours.
				if m := goInternals.FindString(quoted.ReplaceAllString(p.Message, `"…"`)); m != "" {
					t.Fatalf("problem %q shows Go internals (%q)", p.String(), m)
				}
			}
			return
		}
		cells, err := c.Cells(Filter{})
		if err != nil {
			t.Fatalf("an accepted catalog does not expand: %v", err)
		}
		for _, cell := range cells {
			if _, err := c.ImagesFor(cell); err != nil {
				t.Fatalf("cell %s of an accepted catalog: %v", cell.Name(), err)
			}
		}
	})
}
