package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

func TestLoadRefusesWhatIsNotACatalogFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		// Opened non-blocking: a FIFO without a writer is refused at once, not waited on.
		{fifo, fifo + " is a named pipe (FIFO), not a regular file (want a catalog YAML file)"},
		{"/dev/zero", "/dev/zero is a character device, not a regular file"},
		{dir, dir + " is a directory, not a regular file"},
		{big, big + " is 1048577 bytes (want at most 1048576 bytes"},
		{filepath.Join(dir, "nope.yaml"), "nope.yaml does not exist"},
	}
	for _, tt := range tests {
		_, err := Load(tt.path)
		if err == nil || exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want bad input saying %q", tt.path, err, tt.want)
		}
	}
}

func TestLoadReadsAtMostTheCapFromFilesWithoutASize(t *testing.T) {
	// /proc files report size 0 and are read under the same cap.
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("no /proc on this machine")
	}
	_, err := Load("/proc/self/environ")
	if err == nil || exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("Load(/proc/self/environ) = %v, want bad input", err)
	}
}

func TestYAMLProblemsHavePositions(t *testing.T) {
	tests := []struct{ content, want string }{
		{"apiVersion: x\n  kind: : :\n", "broken.yaml:2:9: YAML syntax error: "},
		{"a: b: c\n", "broken.yaml:1:4: YAML syntax error: mapping value is not allowed in this context"},
		{"name: x\nreleases:\n  - version: v1\n   images: {}\n", "broken.yaml:4:4: YAML syntax error: "},
		{"name: *nope\n", "broken.yaml:1:7: YAML syntax error: unknown anchor 'nope' referenced"},
		{catalogWith(nil) + "---\n" + catalogWith(nil), "broken.yaml:23: a second YAML document starts here; the file holds 2 (want exactly one Catalog document per file)"},
	}
	for _, tt := range tests {
		got := problemLines(t, tt.content)
		if len(got) != 1 || !strings.HasPrefix(got[0], tt.want) {
			t.Errorf("%q: problems %q, want one starting %q", tt.content, got, tt.want)
		}
	}
	// Empty documents around the one catalog are not a second document.
	if got := problemLines(t, "---\n"+catalogWith(nil)+"---\n"); got != nil {
		t.Errorf("leading and trailing ---: %q", got)
	}
}

func TestMergeKeysAreFieldsOfTheMapping(t *testing.T) {
	content := catalogWith(map[int]string{
		6:  "  - &first",
		7:  "    version: v0.2.0\n    images:",
		13: "  - <<: *first\n    version: v0.2.2\n    imagez: {}",
	})
	// Release 2 takes images and manifests of release 1 by merge; a typo next to the merge still counts.
	got := problemLines(t, content)
	if len(got) != 1 || !strings.Contains(got[0], `releases[1].imagez: unknown field "imagez"`) {
		t.Fatalf("problems %q, want the one unknown field", got)
	}
	if got := problemLines(t, strings.Replace(content, "    imagez: {}\n", "", 1)); got != nil {
		t.Fatalf("a merge key is a valid way to repeat fields, got %q", got)
	}
}

// TestAliasExpansionIsBounded: aliases that repeat subtrees N×N times are
// refused quickly: lists longer than MaxItems before decoding, shorter ones
// by yaml.v3's alias limit or the walker's budget.
func TestAliasExpansionIsBounded(t *testing.T) {
	for _, n := range []int{3000, MaxItems - 1} {
		var b strings.Builder
		b.WriteString("apiVersion: upgrade-harness.ambient-e2e/v1alpha1\nkind: Catalog\nname: bomb\nbuild: pull\n")
		b.WriteString("k: &k {title: t, url: 'https://example.com/1'}\n")
		b.WriteString("ks: &ks [" + strings.Repeat("*k, ", n) + "*k]\n")
		b.WriteString("r: &r {version: v0.2.0, images: {operator: a/b:1, backend: a/c:1, runner: a/d:1}, manifests: {path: m}, knownIssues: *ks}\n")
		b.WriteString("releases: [" + strings.Repeat("*r, ", n) + "*r]\n")
		got := problemLines(t, b.String())
		joined := strings.Join(got, "\n")
		if !strings.Contains(joined, "aliasing") && !strings.Contains(joined, "expands to more than") && !strings.Contains(joined, "items (want at most") {
			t.Fatalf("%d aliases: problems %q, want the alias expansion refused", n, got)
		}
	}
}
