package report

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

func TestReproCommandExample(t *testing.T) {
	c := verdict.Cell{
		Catalog: "simulated", From: "v0.2.0", To: "v0.2.2", Order: "all-at-once",
		NodeImage: "upgrade-harness/node:v1.33.13-abc123",
		Overrides: map[string]string{"backend": "quay.io/x/y:pr-1"},
	}
	want := `make repro FROM=v0.2.0 TO=v0.2.2 ORDER=all-at-once CATALOG=simulated NODE_IMAGE=upgrade-harness/node:v1.33.13-abc123 OVERRIDES='backend=quay.io/x/y:pr-1'`
	if got := ReproCommand(c, ReproOptions{}); got != want {
		t.Fatalf("ReproCommand\n got %s\nwant %s", got, want)
	}
	got := ReproCommand(c, ReproOptions{Command: "make -C harness repro", Vars: map[string]string{"KEEP_CLUSTER": "always", "ARTIFACTS": "/tmp/a b"}})
	if !strings.HasPrefix(got, "make -C harness repro FROM=") || !strings.HasSuffix(got, ` ARTIFACTS='/tmp/a b' KEEP_CLUSTER=always`) {
		t.Fatalf("options not applied: %s", got)
	}
}

func reproCells() []verdict.Cell {
	return []verdict.Cell{
		{From: "v0.2.0", To: "v0.2.2"},
		{Catalog: "simulated", From: "v0.2.0", To: "v0.2.7", Order: "operator-first"},
		{Catalog: "upstream", From: "v0.2.2", To: "v0.2.3", Order: "operator,runner", NodeImage: "kindest/node:v1.35.0@sha256:0123abcd"},
		{From: "v0.2.1", To: "v0.2.6", Overrides: map[string]string{
			"backend":    "quay.io/x/y:pr-1",
			"operator":   "reg.local:5000/op@sha256:deadbeef",
			"runner":     "img:with,comma=and=equals",
			"state=sync": `back\slash and 'quote' "dq" $HOME ${X} $$ ;|&><()` + "`tick`",
			"sp ace":     "tab\there",
		}},
		{From: "v0.2.0", To: "v0.2.2", Order: "it's \"odd\" $(rm -rf /)", Labels: []string{"nightly", "a,b", `c\d`, "$x"}},
		{Catalog: "cat with space", From: "v0.2.0", To: "v0.2.2", NodeImage: "node:'quoted'"},
		{From: "v0.2.0", To: "v0.2.2", Overrides: map[string]string{"x": "ünïcødé/≠:1"}},
	}
}

func TestReproRoundTrip(t *testing.T) {
	for _, c := range reproCells() {
		line := ReproCommand(c, ReproOptions{Vars: map[string]string{"EXTRA": "ignored value"}})
		got, err := ParseRepro(line)
		if err != nil {
			t.Fatalf("ParseRepro(%s): %v", line, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip of %s\n got %#v\nwant %#v", line, got, c)
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
	for _, c := range reproCells() {
		line := ReproCommand(c, ReproOptions{Command: "printf '%s\\n'"})
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

func TestParseReproErrors(t *testing.T) {
	tests := []struct{ line, wantErr string }{
		{"make repro TO=v0.2.2", "FROM and TO are required"},
		{"make repro FROM=v0.2.0 FROM=v0.2.1 TO=v0.2.2", "set twice"},
		{"make repro FROM=v0.2.0 TO=v0.2.2 OVERRIDES=backend", "has no '='"},
		{"make repro FROM=v0.2.0 TO=v0.2.2 OVERRIDES='a=x,a=y'", "given twice"},
		{"make repro FROM=v0.2.0 TO='v0.2.2", "unterminated single quote"},
		{"make repro FROM=v0.2.0 TO=v0.2.2; rm -rf /", "one simple command"},
		{"make repro FROM=$(whoami) TO=v0.2.2", "one simple command"},
		{"make repro FROM='$HOME' TO=v0.2.2", "make reference"},
	}
	for _, tt := range tests {
		_, err := ParseRepro(tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseRepro(%q) error = %v, want it to contain %q", tt.line, err, tt.wantErr)
		}
	}
}

func TestOverridesRoundTrip(t *testing.T) {
	in := map[string]string{"a,b": `x\y`, "c=d": "e=f,g"}
	got, err := ParseOverrides(FormatOverrides(in))
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("ParseOverrides(FormatOverrides(%v)) = %v, %v", in, got, err)
	}
	if m, err := ParseOverrides(""); m != nil || err != nil {
		t.Fatalf("empty overrides = %v, %v; want nil, nil", m, err)
	}
}
