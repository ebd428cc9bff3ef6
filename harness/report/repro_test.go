package report

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

func order(t testing.TB, s string) upgrade.Order {
	t.Helper()
	o, err := upgrade.ParseOrder(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestReproCommandExample(t *testing.T) {
	c := upgrade.Cell{Catalog: "simulated", From: "v0.2.0", To: "v0.2.2", Order: order(t, "all-at-once"), Overrides: platform.Images{Backend: "quay.io/x/y:pr-1"}}
	opts := ReproOptions{NodeImage: "upgrade-harness/node:v1.33.13-abc123"}
	want := `make repro FROM=v0.2.0 TO=v0.2.2 ORDER=all-at-once CATALOG=simulated NODE_IMAGE=upgrade-harness/node:v1.33.13-abc123 OVERRIDES='backend=quay.io/x/y:pr-1'`
	if got := ReproCommand(c, opts); got != want {
		t.Fatalf("ReproCommand\n got %s\nwant %s", got, want)
	}
	got := ReproCommand(c, ReproOptions{Command: "make -C harness repro", Vars: map[string]string{"KEEP_CLUSTER": "always", "ARTIFACTS": "/tmp/a b"}})
	if !strings.HasPrefix(got, "make -C harness repro FROM=") || !strings.HasSuffix(got, ` ARTIFACTS='/tmp/a b' KEEP_CLUSTER=always`) {
		t.Fatalf("options not applied: %s", got)
	}
}

func reproCases(t testing.TB) []Repro {
	return []Repro{
		{Cell: upgrade.Cell{From: "v0.2.0", To: "v0.2.2"}},
		{Cell: upgrade.Cell{Catalog: "simulated", From: "v0.2.0", To: "v0.2.7", Order: order(t, "operator-first")}},
		{Cell: upgrade.Cell{Catalog: "simulated", From: "v0.2.0", To: "v0.2.2", Rollback: true}},
		{Cell: upgrade.Cell{Catalog: "upstream", From: "v0.2.2", To: "v0.2.3", Order: order(t, "operator,runner")}, NodeImage: "kindest/node:v1.35.0@sha256:0123abcd"},
		{Cell: upgrade.Cell{From: "v0.2.1", To: "v0.2.6", Overrides: platform.Images{
			Backend:   "quay.io/x/y:pr-1",
			Operator:  "reg.local:5000/op@sha256:deadbeef",
			StateSync: "localhost/ss:pr-2",
		}}},
		{Cell: upgrade.Cell{Catalog: "upstream", From: "v0.2.0", To: "v0.2.2"}, ManifestsDir: "/srv/upstream manifests",
			ImageRemap: map[string]string{"quay.io/ambient_code": "localhost/ambient-sim", "ghcr.io/x": "localhost:5000/y"}},
		{Cell: upgrade.Cell{Catalog: "/tmp/my catalogs/$HOME.yaml", From: "v0.2.0", To: "v0.2.2"}},
		{Cell: upgrade.Cell{Catalog: "cat with 'space' \"dq\" $HOME ${X} $$ ;|&><() `tick`", From: "v0.2.0", To: "v0.2.2"}, NodeImage: "node:'quoted'"},
		{Cell: upgrade.Cell{Catalog: "ünïcødé ≠", From: "v0.2.0", To: "v0.2.2"}},
	}
}

func TestReproRoundTrip(t *testing.T) {
	for _, want := range reproCases(t) {
		opts := want.Options()
		opts.Vars = map[string]string{"EXTRA": "ignored value"}
		line := ReproCommand(want.Cell, opts)
		got, err := ParseRepro(line)
		if err != nil {
			t.Fatalf("ParseRepro(%s): %v", line, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %s\n got %#v\nwant %#v", line, got, want)
		}
	}
}

// TestReproLineThroughRealShell proves the quoting is right for sh, not just
// for our own parser: sh must see the same words.
func TestReproLineThroughRealShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this machine")
	}
	for _, c := range reproCases(t) {
		opts := c.Options()
		opts.Command = "printf '%s\\n'"
		line := ReproCommand(c.Cell, opts)
		out, err := exec.Command(sh, "-c", line).Output()
		if err != nil {
			t.Fatalf("sh -c %s: %v", line, err)
		}
		words, err := shellSplit(line)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Join(words[1:], "\n") + "\n" // words[0] is printf's format
		want = strings.TrimPrefix(want, "%s\\n\n")
		if string(out) != want {
			t.Errorf("sh saw different words for %s\n sh: %q\nours: %q", line, out, want)
		}
	}
}

// TestReproLineCarriesWhatChangesTheCellOnly: labels select cells and repro
// ignores them, so they are not printed; a catalog given as a path is printed
// as that path, the remap and manifests dir are printed.
func TestReproLineCarriesWhatChangesTheCellOnly(t *testing.T) {
	c := upgrade.Cell{Catalog: "mine", From: "v0.2.0", To: "v0.2.2", Order: order(t, "operator,runner"), Labels: []string{"ci", "nightly"}}
	got := ReproCommand(c, ReproOptions{Catalog: "tests/cats/mine.yaml", ManifestsDir: "/m", ImageRemap: map[string]string{"quay.io/a": "localhost/b"}})
	want := `make repro FROM=v0.2.0 TO=v0.2.2 ORDER=operator,runner CATALOG=tests/cats/mine.yaml MANIFESTS_DIR=/m IMAGE_REMAP=quay.io/a=localhost/b`
	if got != want {
		t.Fatalf("ReproCommand\n got %s\nwant %s", got, want)
	}
	rp, err := ParseRepro(got)
	if err != nil {
		t.Fatal(err)
	}
	if rp.Cell.Catalog != "tests/cats/mine.yaml" || rp.ManifestsDir != "/m" || rp.ImageRemap["quay.io/a"] != "localhost/b" || rp.Cell.Labels != nil {
		t.Fatalf("ParseRepro(%s) = %+v", got, rp)
	}
}

func TestParseReproErrors(t *testing.T) {
	tests := []struct{ line, wantErr string }{
		{"make repro TO=v0.2.2", "FROM and TO are required"},
		{"make repro FROM=v0.2.0 FROM=v0.2.1 TO=v0.2.2", "set twice"},
		{"make repro FROM=v0.2.0 TO=v0.2.2 OVERRIDES=backend", "is not component=image"},
		{"make repro FROM=v0.2.0 TO=v0.2.2 OVERRIDES='backend=x:1,backend=y:1'", "given twice"},
		{"make repro FROM=v0.2.0 TO=v0.2.2 ORDER=sideways", "not a valid order"},
		{"make repro FROM=v0.2.0 TO='v0.2.2", "unbalanced quote"},
		{`make repro FROM=v0.2.0 TO=v0.2.2 \`, "unbalanced quote"},
		{"make repro FROM=v0.2.0 TO=v0.2.2; rm -rf /", "one simple command"},
		{"make repro FROM=v0.2.0 TO=v0.2.2 >out", "one simple command"},
		// Not run, and make would expand it: refused as a make reference.
		{"make repro FROM=$(whoami) TO=v0.2.2", "make reference"},
		{"make repro FROM='$HOME' TO=v0.2.2", "make reference"},
		{"make repro FROM=v0.2.0 TO=v0.2.2 IMAGE_REMAP=quay.io", "is not FROM=TO"},
		{"make repro FROM=v0.2.0 TO=v0.2.2 IMAGE_REMAP=a/b=c/d,a/b=e/f", "remapped twice"},
	}
	for _, tt := range tests {
		_, err := ParseRepro(tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseRepro(%q) error = %v, want it to contain %q", tt.line, err, tt.wantErr)
		}
	}
}

func TestFormatOverrides(t *testing.T) {
	in := platform.Images{Runner: "localhost/pr/ru:1", Operator: "localhost/pr/op:1"}
	if got := FormatOverrides(in); got != "operator=localhost/pr/op:1,runner=localhost/pr/ru:1" {
		t.Fatalf("FormatOverrides = %q, want component order", got)
	}
	got, err := catalog.ParseOverrides(FormatOverrides(in))
	if err != nil || got != in {
		t.Fatalf("catalog.ParseOverrides(FormatOverrides(%v)) = %v, %v", in, got, err)
	}
	if FormatOverrides(platform.Images{}) != "" {
		t.Fatal("no overrides must format as empty")
	}
}
