package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

func prImages() platform.Images {
	return platform.Images{
		Operator: "localhost/pr/vteam_operator:pr-1", Backend: "localhost/pr/vteam_backend:pr-1",
		Runner: "localhost/pr/vteam_claude_runner:pr-1", StateSync: "localhost/pr/vteam_state_sync:pr-1",
	}
}

func TestCandidateCellsGoFromEachSelectedReleaseToTheCandidate(t *testing.T) {
	manifests := filepath.Join(repoRoot(t), "fixtures", "manifests", "v0.2.3")
	c, err := LoadByName(releasesDir(t), "simulated", WithPathChecks(),
		WithCandidate(Candidate{Name: "pr-1", Manifests: manifests, Images: platform.Images{Backend: "localhost/pr/vteam_backend:pr-1"}}))
	if err != nil {
		t.Fatalf("load with candidate: %v", err)
	}
	cells, err := c.Cells(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cellNames(cells), []string{"v0.2.6-pr-1", "v0.2.7-pr-1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("default candidate cells = %v, want %v (the two newest releases → the candidate, and no catalog cell)", got, want)
	}
	for _, cl := range cells {
		if cl.Expect.Verdict != verdict.Pass || cl.Expect.Why == "" || !cl.HasLabel(CandidateLabel) || cl.Source != CandidateSource || cl.Order.Text != "all-at-once" {
			t.Errorf("cell %s: expect %+v, labels %v, source %q, order %q; want pass with a why, label %s, source %s, all-at-once",
				cl.Name(), cl.Expect, cl.Labels, cl.Source, cl.Order.Text, CandidateLabel, CandidateSource)
		}
	}
	rel, ok := c.Release("pr-1")
	if !ok {
		t.Fatal("Release(pr-1) does not find the candidate")
	}
	newest, _ := c.Release("v0.2.7")
	want := newest.Images
	want.Backend = "localhost/pr/vteam_backend:pr-1"
	if rel.Images != want {
		t.Errorf("candidate images = %+v, want the newest release's with the backend replaced: %+v", rel.Images, want)
	}
	if rel.Manifests.ResolvedPath() != manifests {
		t.Errorf("candidate manifests resolve to %q, want %q", rel.Manifests.ResolvedPath(), manifests)
	}
	if got := c.CandidateOwnImages(); !reflect.DeepEqual(got, []string{"localhost/pr/vteam_backend:pr-1"}) {
		t.Errorf("CandidateOwnImages = %v, want only the backend it built", got)
	}
	if got := c.ReleasesOfImages(rel.Images.List()); !reflect.DeepEqual(got, []string{"v0.2.7"}) {
		t.Errorf("ReleasesOfImages = %v, want v0.2.7 (whose operator, runner and state-sync it kept)", got)
	}
	if vs := c.Versions(); vs[len(vs)-1] != "v0.2.7" {
		t.Errorf("Versions() = %v: the candidate must not be listed (generated cells and -latest use it)", vs)
	}
	from, to, err := c.ReleaseImages(cells[0])
	if err != nil || from != newest.Images && cells[0].From == "v0.2.7" || to != want {
		t.Errorf("ReleaseImages(%s) = %+v, %+v, %v", cells[0].Name(), from, to, err)
	}
}

func TestCandidateFromOrderExpectationAndFilters(t *testing.T) {
	c, err := LoadByName(releasesDir(t), "simulated", WithCandidate(Candidate{Name: "pr-9", Images: prImages(),
		From: []string{"v0.2.0", "v0.2.2"}, Order: "operator-first", Expect: "fail", Why: "known: the PR keeps #1555"}))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := c.Cells(Filter{To: []string{"pr-9"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cellNames(cells), []string{"v0.2.0-pr-9-operator-first", "v0.2.2-pr-9-operator-first"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("cells = %v, want %v", got, want)
	}
	if cells[0].Expect.Verdict != verdict.Fail || cells[0].Expect.Why != "known: the PR keeps #1555" {
		t.Errorf("expectation = %+v, want fail with the given why", cells[0].Expect)
	}
	newest, _ := c.Release("v0.2.7")
	if rel, _ := c.Release("pr-9"); rel.Manifests.ResolvedPath() != newest.Manifests.ResolvedPath() {
		t.Errorf("without -candidate-manifests the candidate keeps the newest release's manifests, got %q", rel.Manifests.ResolvedPath())
	}
	if got := c.CandidateOwnImages(); len(got) != 4 {
		t.Errorf("CandidateOwnImages = %v, want all four PR images", got)
	}
	if _, err := c.Cells(Filter{Labels: []string{"ci"}}); exitcode.Of(err) != exitcode.BadInput {
		t.Errorf("filter label ci with a candidate: err %v, want bad input (only candidate cells exist)", err)
	}
}

// badImageCatalog is a catalog whose one release has the operator image img.
func badImageCatalog(t *testing.T, img string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	content := `apiVersion: upgrade-harness.ambient-e2e/v1alpha1
kind: Catalog
name: cand
build: simulated
releases:
  - version: v0.2.0
    images: {operator: "` + img + `", backend: localhost/sim/be:v0.2.0, runner: localhost/sim/run:v0.2.0}
    manifests: {path: m}
matrix:
  cells:
    - {from: v0.2.0, to: v0.2.0, expect: pass}
`
	p := filepath.Join(dir, "cand.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// problems returns the problems of a bad-input error.
func problems(t *testing.T, err error) []yamlin.Problem {
	t.Helper()
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("err %v: exit code %d, want %d (bad input)", err, exitcode.Of(err), exitcode.BadInput)
	}
	var ve *yamlin.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v does not wrap *ValidationError", err)
	}
	return ve.Problems
}

func TestCandidateImagesAreValidatedWithTheCatalogsMessages(t *testing.T) {
	good := badImageCatalog(t, "localhost/sim/op:v0.2.0")
	for _, img := range []string{"localhost/pr/vteam_operator::1", "localhost/pr/Vteam_operator:pr-1", "localhost/pr/vteam_operator"} {
		_, catErr := Load(badImageCatalog(t, img))
		want := problems(t, catErr)
		if len(want) != 1 {
			t.Fatalf("catalog with operator %q: %v, want one problem", img, want)
		}
		_, err := Load(good, WithCandidate(Candidate{Images: platform.Images{Operator: img}}))
		got := problems(t, err)
		if len(got) != 1 {
			t.Fatalf("candidate operator %q: %v, want one problem", img, got)
		}
		if got[0].Message != want[0].Message {
			t.Errorf("candidate operator %q:\n got  %q\n want %q (the catalog's message)", img, got[0].Message, want[0].Message)
		}
		if got[0].Field != "-candidate-images.operator" || got[0].File != "command line" {
			t.Errorf("problem %q: want it located at command line: -candidate-images.operator", got[0])
		}
	}
}

func TestCandidateInputErrorsAreReportedTogether(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-overlay")
	_, err := LoadByName(releasesDir(t), "simulated", WithCandidate(Candidate{
		Name: "v0.2.3", Manifests: missing, Images: platform.Images{Runner: "localhost/pr/run"},
		From: []string{"v0.2.0", "v9.9.9", "v0.2.0"}, Order: "sideways", Expect: "fail",
	}))
	got := problems(t, err)
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		`command line: -candidate-name: "v0.2.3" is a release of catalog simulated already`,
		`command line: -candidate-images.runner: "localhost/pr/run" has neither tag nor digest`,
		`command line: -candidate-manifests: "` + missing + `" does not exist (resolved to ` + missing,
		`command line: -from: "v9.9.9" is not a release of this catalog (want one of v0.2.0, v0.2.1, v0.2.2, v0.2.3, v0.2.6, v0.2.7)`,
		`command line: -from: "v0.2.0" is given twice`,
		`command line: -order: `,
		`command line: -candidate-why: is required when a failure is expected`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
	if len(got) != 7 {
		t.Errorf("%d problems, want 7:\n%s", len(got), text)
	}

	for _, tc := range []struct {
		cand Candidate
		want string
	}{
		{Candidate{Name: "PR_1", Images: prImages()}, `-candidate-name: "PR_1" is not a valid candidate name`},
		{Candidate{Images: prImages(), Expect: "green"}, `-candidate-expect: "green" is not a valid expectation (want pass or fail)`},
	} {
		_, err := LoadByName(releasesDir(t), "simulated", WithCandidate(tc.cand))
		if ps := problems(t, err); len(ps) != 1 || !strings.Contains(ps[0].String(), tc.want) {
			t.Errorf("candidate %+v: problems %v, want one containing %q", tc.cand, ps, tc.want)
		}
	}
}

func TestCandidateNeedsAValidCatalogFirst(t *testing.T) {
	_, err := Load(badImageCatalog(t, "localhost/sim/op::0"), WithCandidate(Candidate{Images: prImages()}))
	ps := problems(t, err)
	if len(ps) != 1 || !strings.HasSuffix(ps[0].File, "cand.yaml") {
		t.Fatalf("problems %v: want the catalog file's own problem, reported before any candidate check", ps)
	}
}

func TestRemapRegistryMovesTheCandidatesKeptImages(t *testing.T) {
	c, err := LoadByName(releasesDir(t), "upstream", WithCandidate(Candidate{Name: "pr-7", Images: platform.Images{Backend: "localhost/pr/vteam_backend:pr-7"}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemapRegistry("quay.io/ambient_code", "localhost/ambient-sim"); err != nil {
		t.Fatal(err)
	}
	want := platform.Images{Operator: "localhost/ambient-sim/vteam_operator:v0.2.7", Backend: "localhost/pr/vteam_backend:pr-7",
		Runner: "localhost/ambient-sim/vteam_claude_runner:v0.2.7", StateSync: "localhost/ambient-sim/vteam_state_sync:v0.2.7"}
	if got, _ := c.Release("pr-7"); got.Images != want {
		t.Errorf("candidate images after the remap = %+v, want %+v", got.Images, want)
	}
	if got := c.CandidateOwnImages(); !reflect.DeepEqual(got, []string{"localhost/pr/vteam_backend:pr-7"}) {
		t.Errorf("CandidateOwnImages after the remap = %v, want only the PR's backend", got)
	}
}
