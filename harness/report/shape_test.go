package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// shapeResults is fixtureResults plus two runs of a repeated cell, so every
// field the matrix adds to a cell's result (run, repro, bundle dir, kept
// cluster) shows in every report.
func shapeResults() []cellrun.Report {
	results := fixtureResults()
	for i, v := range []verdict.Verdict{verdict.Fail, verdict.Pass} {
		r := results[2]
		r.Run, r.Verdict, r.Matched = i+1, v, v == verdict.Pass
		r.BundleDir = BundleDir(r.Cell, r.Run)
		if !r.Matched {
			r.KeptCluster = "kind-uh-matrix-2"
		}
		results = append(results, r)
	}
	return results
}

// TestReportsKeepTheirBytes checks that every file WriteAll writes is byte
// for byte what it was when the matrix's fields (run, repro, bundle dir,
// kept cluster) still lived on cellrun.Report (testdata/shape/, written then).
func TestReportsKeepTheirBytes(t *testing.T) {
	dir := t.TempDir()
	if err := WriteAll(WriteInput{Dir: dir, Results: shapeResults(), Getenv: func(string) string { return "" },
		Redactor: newTestRedactor(), Exit: exit(1)}); err != nil {
		t.Fatal(err)
	}
	var files []string
	if err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, rel)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("WriteAll wrote %v; want junit.xml, summary.md, results.json, report.html and bundle pages", files)
	}
	for _, rel := range files {
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(rel, ".html") {
			// The pages are drawn from the same data as the other files, and
			// htmlreport's own golden shows a page's text: a sum is enough here.
			sum := sha256.Sum256(got)
			checkGolden(t, filepath.Join("shape", filepath.ToSlash(rel)+".sha256"), []byte(hex.EncodeToString(sum[:])+"\n"))
			continue
		}
		checkGolden(t, filepath.Join("shape", filepath.ToSlash(rel)), got)
	}
}

// results.json read back as a ResultsDocument gives each run what the
// driver added (e2e tests read kept clusters and bundles this way).
func TestResultsDocumentReadsBackWhatTheDriverAdded(t *testing.T) {
	results := RedactResults(shapeResults(), newTestRedactor())
	js, err := RenderResults(results, exit(1), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc ResultsDocument
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != len(results) {
		t.Fatalf("%d results read back, want %d", len(doc.Results), len(results))
	}
	for i, got := range doc.Results {
		want := results[i]
		if got.Run != want.Run || got.Repro != want.Repro || got.BundleDir != want.BundleDir || got.KeptCluster != want.KeptCluster ||
			got.Cell.Name() != want.Cell.Name() || got.Matched != want.Matched || len(got.Ledger) != len(want.Ledger) {
			t.Errorf("result %d read back as run %d repro %q bundle %q kept %q matched %v, want run %d repro %q bundle %q kept %q matched %v",
				i, got.Run, got.Repro, got.BundleDir, got.KeptCluster, got.Matched, want.Run, want.Repro, want.BundleDir, want.KeptCluster, want.Matched)
		}
	}
}
