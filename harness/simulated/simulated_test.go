package simulated

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `apiVersion: upgrade-harness.ambient-e2e/v1alpha1
kind: SimulatedPlatform
releases: [v0.2.0, v0.2.2, v0.2.10]
faults: [header-name, other-session]
faultTagInfix: -fault-
bakedVariable: fixtures/platform/release.Baked
`

func write(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "simulated.yaml")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLookup(t *testing.T) {
	p, err := Load(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v0.2.0", "v0.2.10", "v0.2.2-fault-other-session"} {
		if err := p.Lookup(tag); err != nil {
			t.Errorf("Lookup(%q): %v", tag, err)
		}
	}
	for tag, want := range map[string]string{
		"v0.2.1":                   `release "v0.2.1" is not simulated; valid releases: v0.2.0, v0.2.2, v0.2.10 (each also as <release>-fault-<fault>, faults: header-name, other-session)`,
		"v0.2.2-fault-nope":        `release "v0.2.2-fault-nope": fault "nope" is not seeded; valid faults: header-name, other-session`,
		"v0.2.9-fault-header-name": `release "v0.2.9-fault-header-name" is not simulated`,
	} {
		if err := p.Lookup(tag); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Lookup(%q) = %v, want %q", tag, err, want)
		}
	}
	if p.Base("v0.2.2-fault-header-name") != "v0.2.2" || !p.HasFault("header-name") || p.HasFault("x") {
		t.Errorf("Base/HasFault wrong for %+v", p)
	}
}

// Every problem at once, each with file, line, field, value and what is valid.
func TestLoadRefusesBadLists(t *testing.T) {
	bad := `apiVersion: v1
kind: Catalog
releases: [v0.2.2, 0.2.3, v0.2.2, v0.2.0]
faults: [Header_Name]
faultTagInfix: fault
bakedVariable: release.baked
colour: red
`
	path := write(t, bad)
	_, err := Load(path)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		path + `:1: apiVersion: "v1" is not supported (want upgrade-harness.ambient-e2e/v1alpha1)`,
		path + `:2: kind: "Catalog" is not this file's kind (want SimulatedPlatform)`,
		path + `:3: releases[1]: "0.2.3" is not valid (want a release version vMAJOR.MINOR.PATCH, e.g. v0.2.2)`,
		path + `:3: releases[2]: "v0.2.2" is listed twice (want each once)`,
		path + `:3: releases: v0.2.2, v0.2.0 are not in version order (want v0.2.0, v0.2.2)`,
		path + `:4: faults[0]: "Header_Name" is not valid (want a fault name of lowercase letters, digits and '-', e.g. header-name)`,
		path + `:5: faultTagInfix: "fault" is not a tag infix`,
		path + `:6: bakedVariable: "release.baked" is not a package variable`,
		path + `:7: colour: unknown field (valid fields: apiVersion, kind, releases, faults, faultTagInfix, bakedVariable)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	_, err = Load(write(t, "kind: SimulatedPlatform\n"))
	if err == nil || !strings.Contains(err.Error(), ":1: releases: is required") {
		t.Errorf("missing fields: %v", err)
	}
	for _, path := range []string{"/dev/zero", filepath.Join(t.TempDir(), "none.yaml")} {
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%s) = %v, want an error naming the path", path, err)
		}
	}
}

// The module's own list is found from a package directory and is valid.
func TestDefault(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Releases) == 0 || len(p.Faults) == 0 || !strings.HasSuffix(p.File, File) {
		t.Errorf("default platform %+v", p)
	}
}
