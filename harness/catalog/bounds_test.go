package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// maxLoadAlloc is what loading any catalog of at most MaxFileSize bytes may
// allocate in all (not only at its peak).
const maxLoadAlloc = 100 << 20

// pathological is a catalog shape that once cost a parser memory or time out
// of proportion to its size, and the words its refusal must say ("" when it
// is refused for its content, e.g. missing fields).
type pathological struct {
	name, data, want string
}

// pathologicalCatalogs are the shapes a loader must bound, each close to
// MaxFileSize (or the size that was reported to break it).
func pathologicalCatalogs() []pathological {
	const size = MaxFileSize - 64
	fill := func(b *strings.Builder, next func(i int) string) string {
		for i := 0; ; i++ {
			s := next(i)
			if b.Len()+len(s) > size {
				return b.String()
			}
			b.WriteString(s)
		}
	}
	var keys, block, releases, blockLists strings.Builder
	fill(&keys, func(i int) string { return "key" + strconv.Itoa(i) + ": 1\n" })
	fill(&block, func(i int) string { return strings.Repeat(" ", i%1000) + "a:\n" })
	fill(&blockLists, func(i int) string { return strings.Repeat(" ", 2*(i%400)) + "-\n" })
	releases.WriteString(validHeader + "releases:\n")
	fill(&releases, func(int) string {
		return "  - {version: v0.0.1, images: {operator: o, backend: b, runner: r}, manifests: {path: p}}\n"
	})
	return []pathological{
		{"deep [ (100 KB, was out of memory at 4 GB)", "a: " + strings.Repeat("[", 50000) + strings.Repeat("]", 50000) + "\n", "nest more than"},
		{"deep [ (40 KB, was 700 MB)", "a: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", "nest more than"},
		{"deep [ never closed", "a: " + strings.Repeat("[", size) + "\n", "nest more than"},
		{"deep {", "a: " + strings.Repeat("{a: ", size/5) + strings.Repeat("}", size/5) + "\n", "nest more than"},
		{"deep [ in a quoted key's neighbour", `"a]": ` + strings.Repeat("[", size/2) + "\n", "nest more than"},
		{"deep block mappings", block.String(), "nest more than"},
		{"deep block lists", "a:\n" + strings.Repeat("- ", size/2) + "x\n", "nest more than"},
		{"deep block lists, one a line", blockLists.String(), "nest more than"},
		{"many aliases", "a: &a x\nb:\n" + strings.Repeat("  - *a\n", size/7), ""},
		{"aliases of aliases", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
			"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nreleases: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", ""},
		{"a long line", "name: " + strings.Repeat("x", size) + "\n", ""},
		{"a long quoted line", `name: "` + strings.Repeat(`x\"`, size/3) + "\"\n", ""},
		{"1 MiB of keys", keys.String(), "keys (want at most 1000"},
		{"1,000 documents", strings.Repeat("---\n", 1001), "more than 1000 YAML documents"},
		{"1 MiB of releases", releases.String(), "items (want at most 1000"},
		{"1 MiB of comments", strings.Repeat("# [[[[{{{{\n", size/11), "file is empty"},
		{"1 MiB of documents", strings.Repeat("---\n", size/4), "entries"},
		{"1 MiB of one flow list", "a: [" + strings.Repeat("x, ", size/3) + "]\n", ""},
	}
}

// validHeader is a catalog's header, for shapes that should reach the checks
// of its releases.
const validHeader = "apiVersion: upgrade-harness.ambient-e2e/v1alpha1\nkind: Catalog\nname: big\nbuild: pull\n"

// TestEveryCatalogUpTo1MiBIsBounded: each pathological shape of at most
// MaxFileSize bytes is refused as bad input, with a message that says why,
// and allocates less than maxLoadAlloc in all (the deep ones took 700 MB and
// more than 4 GB before the depth scan).
func TestEveryCatalogUpTo1MiBIsBounded(t *testing.T) {
	for _, p := range pathologicalCatalogs() {
		t.Run(p.name, func(t *testing.T) {
			if len(p.data) > MaxFileSize {
				t.Fatalf("the shape is %d bytes, more than MaxFileSize", len(p.data))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			t0 := time.Now()
			_, err := loadBytes("p.yaml", []byte(p.data), loadOptions{})
			took := time.Since(t0)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: %v, %.1f MB allocated, heap in use %.1f MB after", len(p.data), took.Round(time.Millisecond), float64(alloc)/(1<<20), float64(after.HeapInuse)/(1<<20))
			if alloc > maxLoadAlloc {
				t.Errorf("loading allocated %d MB, want less than %d MB", alloc>>20, maxLoadAlloc>>20)
			}
			if err == nil {
				t.Fatalf("accepted, want refused")
			}
			if code := exitcode.Of(err); code != exitcode.BadInput {
				t.Errorf("exit code %d, want %d", code, exitcode.BadInput)
			}
			var ve *yamlin.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a list of problems", err)
			}
			msg := err.Error()
			if len(msg) > 64<<10 {
				t.Errorf("the message is %d bytes, want a readable one (at most %d problems shown)", len(msg), yamlin.MaxShownProblems)
			}
			if p.want != "" && !strings.Contains(msg, p.want) {
				t.Errorf("message does not say %q:\n%.500s", p.want, msg)
			}
		})
	}
}

// TestDepthScanLeavesShippedCatalogsAlone: the scan must not refuse what a
// catalog legitimately holds (block scalars, quoted brackets, comments).
func TestDepthScanLeavesShippedCatalogsAlone(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", DefaultDir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no catalog in %s", DefaultDir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if p := checkDepth(f, data); p != nil {
			t.Errorf("%s refused: %s", f, p)
		}
	}
	ok := "a: |\n" + strings.Repeat("  [[[[[[[[[[\n", 10) + "b: \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\nc: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['\n" +
		"d: x # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\ne: a[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
	if p := checkDepth("ok.yaml", []byte(ok)); p != nil {
		t.Errorf("brackets in text refused: %s", p)
	}
	for depth, want := range map[int]bool{MaxDepth: false, MaxDepth + 1: true} {
		flow := "a: " + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + "\n"
		if got := checkDepth("f.yaml", []byte(flow)) != nil; got != want {
			t.Errorf("flow depth %d: refused %v, want %v", depth, got, want)
		}
		var b strings.Builder
		for i := 0; i < depth; i++ {
			b.WriteString(strings.Repeat(" ", i) + "a:\n")
		}
		if got := checkDepth("b.yaml", []byte(b.String())) != nil; got != want {
			t.Errorf("block depth %d: refused %v, want %v", depth, got, want)
		}
	}
}
