package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// baseCatalog is valid; cases edit single lines so the expected line numbers
// below can be read off it.
var baseCatalog = []string{
	/* 1 */ "apiVersion: upgrade-harness.ambient-e2e/v1alpha1",
	/* 2 */ "kind: Catalog",
	/* 3 */ "name: test",
	/* 4 */ "build: simulated",
	/* 5 */ "releases:",
	/* 6 */ "  - version: v0.2.0",
	/* 7 */ "    images:",
	/* 8 */ "      operator: localhost/sim/op:v0.2.0",
	/* 9 */ "      backend: localhost/sim/be:v0.2.0",
	/* 10 */ "      runner: localhost/sim/run:v0.2.0",
	/* 11 */ "    manifests:",
	/* 12 */ "      path: m/v0.2.0",
	/* 13 */ "  - version: v0.2.2",
	/* 14 */ "    images:",
	/* 15 */ "      operator: localhost/sim/op:v0.2.2",
	/* 16 */ "      backend: localhost/sim/be:v0.2.2",
	/* 17 */ "      runner: localhost/sim/run:v0.2.2",
	/* 18 */ "    manifests:",
	/* 19 */ "      git: {url: https://github.com/ambient-code/platform, ref: v0.2.2, path: components/manifests/overlays/kind}",
	/* 20 */ "matrix:",
	/* 21 */ "  cells:",
	/* 22 */ `    - {from: v0.2.0, to: v0.2.2, expect: fail, why: "#1425", labels: [ci]}`,
}

// catalogWith returns baseCatalog with lines replaced (1-based line → new text,
// which may span several lines) and extra lines appended.
func catalogWith(replace map[int]string, extra ...string) string {
	lines := append([]string(nil), baseCatalog...)
	for n, text := range replace {
		lines[n-1] = text
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

func writeCatalog(t *testing.T, content string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// problemLines loads content and returns the error's lines with the temp dir
// stripped, so they read "broken.yaml:14: …".
func problemLines(t *testing.T, content string, opts ...LoadOption) []string {
	t.Helper()
	dir, path := writeCatalog(t, content)
	_, err := Load(path, opts...)
	if err == nil {
		return nil
	}
	if code := exitcode.Of(err); code != exitcode.BadInput {
		t.Fatalf("exitcode.Of(%v) = %d, want %d (bad input)", err, code, exitcode.BadInput)
	}
	var ve *yamlin.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v does not wrap *ValidationError", err)
	}
	return strings.Split(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), "\n")
}

func TestBaseCatalogIsValid(t *testing.T) {
	if got := problemLines(t, catalogWith(nil)); got != nil {
		t.Fatalf("base catalog has problems:\n%s", strings.Join(got, "\n"))
	}
}

// ruleList is what an unknown rule pin is told it may use.
var ruleList = strings.Join(verdict.DefaultRules().Names(), ", ")

func TestValidationErrors(t *testing.T) {
	digest := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		content string
		want    []string // exactly these problems, in order
	}{
		{
			name:    "unknown top-level field",
			content: catalogWith(map[int]string{4: "build: simulated\nbuidl: pull"}),
			want:    []string{`broken.yaml:5: buidl: unknown field "buidl" (valid fields: apiVersion, kind, name, description, build, working, releases, matrix)`},
		},
		{
			name:    "unknown nested field",
			content: catalogWith(map[int]string{10: "      runner: localhost/sim/run:v0.2.0\n      frontend: quay.io/x/f:1"}),
			want:    []string{`broken.yaml:11: releases[0].images.frontend: unknown field "frontend" (valid fields: operator, backend, runner, stateSync)`},
		},
		{
			name:    "unknown field in a flow cell",
			content: catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, expect: fail, why: "#1425", lables: [ci]}`}),
			want:    []string{`broken.yaml:22: matrix.cells[0].lables: unknown field "lables" (valid fields: from, to, order, expect, rollback, expectRules, expect401, expectNo401, expectDiagnosis, working, fault, why, labels)`},
		},
		{
			name: "unknown field and a semantic problem are reported together",
			content: catalogWith(map[int]string{
				10: "      runner: localhost/sim/run:v0.2.0\n      frontend: quay.io/x/f:1",
				22: `    - {from: v0.2.0, to: v0.2.9, expect: fail, why: "#1425"}`,
			}),
			want: []string{
				`broken.yaml:11: releases[0].images.frontend: unknown field "frontend" (valid fields: operator, backend, runner, stateSync)`,
				`broken.yaml:23: matrix.cells[0].to: "v0.2.9" is not a release of this catalog (want one of v0.2.0, v0.2.2)`,
			},
		},
		{
			name:    "field set twice",
			content: catalogWith(map[int]string{3: "name: test\nname: again"}),
			want:    []string{`broken.yaml:4: name: is set twice (first at line 3)`},
		},
		{
			name:    "unknown release in a cell",
			content: catalogWith(map[int]string{22: `    - {from: v0.1.9, to: v0.2.9, expect: fail, why: "#1425"}`}),
			want: []string{
				`broken.yaml:22: matrix.cells[0].from: "v0.1.9" is not a release of this catalog (want one of v0.2.0, v0.2.2)`,
				`broken.yaml:22: matrix.cells[0].to: "v0.2.9" is not a release of this catalog (want one of v0.2.0, v0.2.2)`,
			},
		},
		{
			name:    "duplicate release",
			content: catalogWith(map[int]string{13: "  - version: v0.2.0"}),
			want: []string{
				`broken.yaml:13: releases[1].version: "v0.2.0" is a duplicate release (already defined by releases[0] at line 6)`,
				`broken.yaml:22: matrix.cells[0].to: "v0.2.2" is not a release of this catalog (want one of v0.2.0)`,
			},
		},
		{
			name:    "malformed version",
			content: catalogWith(map[int]string{6: "  - version: 0.2.0"}),
			want: []string{
				`broken.yaml:6: releases[0].version: "0.2.0" is not a release tag (want vMAJOR.MINOR.PATCH, e.g. v0.2.0)`,
				`broken.yaml:22: matrix.cells[0].from: "v0.2.0" is not a release of this catalog (want one of v0.2.2)`,
			},
		},
		{
			name:    "malformed image reference",
			content: catalogWith(map[int]string{15: "      operator: quay.io/x::1"}),
			want:    []string{`broken.yaml:15: releases[1].images.operator: "quay.io/x::1" is not a valid image reference (want [registry/]repository[:tag][@sha256:<64 hex>])`},
		},
		{
			name:    "malformed digest",
			content: catalogWith(map[int]string{16: "      backend: localhost/sim/be:v0.2.2@sha256:abc"}),
			want:    []string{`broken.yaml:16: releases[1].images.backend: "localhost/sim/be:v0.2.2@sha256:abc" is not a valid image reference (want [registry/]repository[:tag][@sha256:<64 hex>])`},
		},
		{
			name:    "digest-pinned image is fine, unpinned is not",
			content: catalogWith(map[int]string{16: "      backend: localhost/sim/be@sha256:" + digest, 17: "      runner: localhost/sim/run"}),
			want:    []string{`broken.yaml:17: releases[1].images.runner: "localhost/sim/run" has neither tag nor digest (want a pinned reference such as localhost/sim/run:v0.2.0)`},
		},
		{
			name:    "missing required image",
			content: catalogWith(map[int]string{9: "      stateSync: localhost/sim/ss:v0.2.0"}),
			want:    []string{`broken.yaml:7: releases[0].images.backend: is required (want an image reference [registry/]repository[:tag][@sha256:<64 hex>])`},
		},
		{
			name:    "missing manifest source",
			content: catalogWith(map[int]string{11: "    notes: no manifests", 12: "    knownIssues: [{title: x, url: https://example.com/1}]"}),
			want:    []string{`broken.yaml:6: releases[0].manifests: no manifest source (want exactly one of path: <file or kustomize dir> or git: {url, ref, path})`},
		},
		{
			name:    "both path and git",
			content: catalogWith(map[int]string{12: "      path: m/v0.2.0\n      git: {url: https://example.com/r, ref: v1}"}),
			want:    []string{`broken.yaml:11: releases[0].manifests: both path and git are set (want exactly one manifest source)`},
		},
		{
			name:    "git source without ref and with an escaping path",
			content: catalogWith(map[int]string{19: "      git: {url: ftp://example.com/r, path: ../up}"}),
			want: []string{
				`broken.yaml:19: releases[1].manifests.git.url: "ftp://example.com/r" is not a git URL (want https://, http://, ssh://, git://, file:// or user@host:path)`,
				`broken.yaml:19: releases[1].manifests.git.ref: is required (want a tag, branch or commit, e.g. v0.2.0)`,
				`broken.yaml:19: releases[1].manifests.git.path: "../up" must stay inside the repository (want a relative path such as components/manifests/overlays/kind)`,
			},
		},
		{
			name:    "unknown order component",
			content: catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, order: "operator,frontend", expect: fail, why: "#1425"}`}),
			want:    []string{`broken.yaml:22: matrix.cells[0].order: "operator,frontend" is not a valid order: unknown component "frontend" (want all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner)`},
		},
		{
			name:    "unknown default order is reported once",
			content: catalogWith(map[int]string{21: "  defaultOrder: sideways\n  cells:"}),
			want:    []string{`broken.yaml:21: matrix.defaultOrder: "sideways" is not a valid order: unknown component "sideways" (want all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner)`},
		},
		{
			name:    "unknown expect value",
			content: catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, expect: maybe}`}),
			want:    []string{`broken.yaml:22: matrix.cells[0].expect: "maybe" is not a valid expectation (want pass, fail or inconclusive)`},
		},
		{
			name:    "missing expect and a bad rule pin",
			content: catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, why: x, expectRules: {restarted-session-runs: broken, Bad_Rule: pass}}`}),
			want: []string{
				`broken.yaml:22: matrix.cells[0].expect: is required (want pass, fail or inconclusive)`,
				`broken.yaml:22: matrix.cells[0].expectRules.Bad_Rule: "Bad_Rule" is not a verdict rule (want one of ` + ruleList + `)`,
				`broken.yaml:22: matrix.cells[0].expectRules.restarted-session-runs: "broken" is not a valid rule expectation (want pass, fail or inconclusive)`,
			},
		},
		{
			name:    "unknown rule pinned",
			content: catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, expect: fail, why: x, expectRules: {no-401: fail}}`}),
			want:    []string{`broken.yaml:22: matrix.cells[0].expectRules.no-401: "no-401" is not a verdict rule (want one of ` + ruleList + `)`},
		},
		{
			name:    "bad 401 attributions",
			content: catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, expect: fail, why: x, expect401: [{caller: frontend, family: "/"}], expectNo401: [{caller: operator, family: workflow}]}`}),
			want: []string{
				`broken.yaml:22: matrix.cells[0].expect401[0].caller: "frontend" is not a runner caller (want backend, operator or kubelet)`,
				`broken.yaml:22: matrix.cells[0].expectNo401[0].family: "workflow" is not a runner path family (want a path such as /, /events or /workflow)`,
			},
		},
		{
			name:    "bad expected diagnosis and fault",
			content: catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, expect: fail, why: x, fault: no-such-fault, expectDiagnosis: [{caller: frontend, class: caller-sends-no-valid-token}, {class: gremlins}, {caller: backend, class: wrong-token, detail: somebody}, {caller: backend, class: no-header, detail: X-Ambient-Token}, {caller: backend, class: header-name-mismatch, detail: "X Token"}]}`}),
			want: []string{
				`broken.yaml:22: matrix.cells[0].expectDiagnosis[0].caller: "frontend" is not a runner caller (want backend, operator or kubelet, or no caller for a restart break)`,
				`broken.yaml:22: matrix.cells[0].expectDiagnosis[1].class: "gremlins" is not a diagnosis class (want one of no-header, header-name-mismatch, wrong-token, guards-health, runner-rejects-secret-token, caller-sends-no-valid-token, no-auth, accepts-any-token, secret-lacks-key, restart-failed, not-probed)`,
				`broken.yaml:22: matrix.cells[0].expectDiagnosis[2].detail: "somebody" is not whose token (want other-session, unknown or other-key <key>)`,
				`broken.yaml:22: matrix.cells[0].expectDiagnosis[3].detail: class no-header names no detail (only header-name-mismatch names a header and wrong-token whose token)`,
				`broken.yaml:22: matrix.cells[0].expectDiagnosis[4].detail: "X Token" is not an HTTP header name (letters, digits, '-' and '_')`,
				`broken.yaml:22: matrix.cells[0].fault: "no-such-fault" is not a seeded fault of the simulated platform (want one of header-name, health-auth, no-run-finished, old-secrets, operator-key, operator-no-header, operator-sends-key, other-session, spec-conflict, spec-refused, websocket-no-header)`,
			},
		},
		{
			name:    "expected failure without why",
			content: catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, expect: fail}`}),
			want:    []string{`broken.yaml:22: matrix.cells[0].why: is required when a failure is expected (want the reason, e.g. "upstream #1425")`},
		},
		{
			name:    "unknown generate strategy",
			content: catalogWith(nil, "  generate:", "    - {strategy: random, expect: pass, labels: [Nightly]}"),
			want: []string{
				`broken.yaml:24: matrix.generate[0].strategy: "random" is not a generate strategy (want every-to-newest or each-to-next)`,
				`broken.yaml:24: matrix.generate[0].labels[0]: "Nightly" is not a valid label (want lowercase letters, digits and '-', e.g. ci)`,
			},
		},
		{
			name:    "duplicate cell (default order equals all-at-once)",
			content: catalogWith(nil, `    - {from: v0.2.0, to: v0.2.2, order: all-at-once, expect: pass}`),
			want:    []string{`broken.yaml:23: matrix.cells[1]: duplicates matrix.cells[0] at line 22 (same from v0.2.0, to v0.2.2 and order all-at-once; want each cell once)`},
		},
		{
			name:    "header fields",
			content: catalogWith(map[int]string{1: "apiVersion: v1", 2: "kind: Matrix", 3: "name: Test Catalog", 4: "build: docker"}),
			want: []string{
				`broken.yaml:1: apiVersion: "v1" is not supported (want "upgrade-harness.ambient-e2e/v1alpha1")`,
				`broken.yaml:2: kind: "Matrix" is not supported (want "Catalog")`,
				`broken.yaml:3: name: "Test Catalog" is not a valid catalog name (want lowercase letters, digits and '-', e.g. "simulated")`,
				`broken.yaml:4: build: "docker" is not a build mode (want simulated or pull)`,
			},
		},
		{
			name:    "wrong kinds",
			content: catalogWith(map[int]string{7: "    images: [a, b]", 8: "    notes: {a: b}", 9: "    #", 10: "    #"}),
			want: []string{
				`broken.yaml:7: releases[0].images: is a list (want a mapping)`,
				`broken.yaml:8: releases[0].notes: is a mapping (want a string)`,
			},
		},
		{
			name:    "yaml syntax error",
			content: "apiVersion: x\n  kind: : :\n",
			want:    []string{`broken.yaml:2:9: YAML syntax error: found an invalid key for this map`},
		},
		{
			name:    "empty file",
			content: "",
			want:    []string{`broken.yaml: file is empty (want a Catalog document)`},
		},
		{
			name: "problems are collected, not just the first",
			content: catalogWith(map[int]string{
				8:  "      operator: quay.io/x::1",
				19: "      git: {url: https://github.com/ambient-code/platform, ref: v0.2.2}\n      path: x",
				22: `    - {from: v0.2.0, to: v0.3.0, order: runner-first, expect: maybe}`,
			}),
			want: []string{
				`broken.yaml:8: releases[0].images.operator: "quay.io/x::1" is not a valid image reference (want [registry/]repository[:tag][@sha256:<64 hex>])`,
				`broken.yaml:18: releases[1].manifests: both path and git are set (want exactly one manifest source)`,
				`broken.yaml:23: matrix.cells[0].to: "v0.3.0" is not a release of this catalog (want one of v0.2.0, v0.2.2)`,
				`broken.yaml:23: matrix.cells[0].order: "runner-first" is not a valid order: unknown component "runner-first" (want all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner)`,
				`broken.yaml:23: matrix.cells[0].expect: "maybe" is not a valid expectation (want pass, fail or inconclusive)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemLines(t, tt.content)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestValidatePathChecks(t *testing.T) {
	content := catalogWith(nil)
	dir, path := writeCatalog(t, content)
	_, err := Load(path, WithPathChecks())
	want := filepath.Join(dir, "m", "v0.2.0")
	if err == nil || !strings.Contains(err.Error(), `broken.yaml:12: releases[0].manifests.path: "m/v0.2.0" does not exist (resolved to `+want+`; want a manifest file or kustomize directory)`) {
		t.Fatalf("Load with path checks: err = %v, want the missing path named", err)
	}
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, WithPathChecks())
	if err != nil {
		t.Fatalf("Load with existing path: %v", err)
	}
	if got := c.Releases[0].Manifests.ResolvedPath(); got != want {
		t.Fatalf("ResolvedPath = %q, want %q", got, want)
	}
	if got := c.Releases[1].Manifests.ResolvedPath(); got != "" {
		t.Fatalf("git source ResolvedPath = %q, want empty", got)
	}
}

func TestLoadMissingFileIsBadInput(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("Load(missing) = %v (exit %d), want bad input naming the file", err, exitcode.Of(err))
	}
}

func TestLoadByName(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte(catalogWith(nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadByName(dir, "missing")
	if err == nil || exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), filepath.Join(dir, "missing.yaml")+` does not exist (want one of other (the catalogs in `+dir+`), or a catalog file path)`) {
		t.Fatalf("LoadByName(missing) = %v", err)
	}
	_, err = LoadByName(dir, "other")
	if err == nil || !strings.Contains(err.Error(), `other.yaml:3: name: "test" does not match the file name (want "other")`) {
		t.Fatalf("LoadByName(other) = %v, want a name mismatch", err)
	}
	_, err = LoadByName(dir, "../etc/passwd")
	if err == nil || exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("LoadByName(../etc/passwd) = %v, want bad input", err)
	}
}
