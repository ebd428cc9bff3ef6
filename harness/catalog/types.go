// Package catalog loads the release catalogs of fixtures/releases: which images
// make up a release, where its manifests come from, and which from→to matrix
// cells run with what expected outcome. All of it is data a release manager
// edits; this package only parses, validates and expands it.
package catalog

import (
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// DefaultDir holds the shipped catalogs, relative to the repository root.
const DefaultDir = "fixtures/releases"

// APIVersion and Kind identify a catalog file.
const (
	APIVersion = "upgrade-harness.ambient-e2e/v1alpha1"
	Kind       = "Catalog"
)

// Build modes: how the images of a catalog's releases reach the cluster.
const (
	// BuildSimulated: the harness builds the images locally (harness/env/images).
	BuildSimulated = "simulated"
	// BuildPull: the images are pulled from their registry.
	BuildPull = "pull"
)

// Catalog is one catalog file.
type Catalog struct {
	APIVersion  string `yaml:"apiVersion"`
	Kind        string `yaml:"kind"`
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	Build       string `yaml:"build"`
	// Working is the evidence a session needs to count as working in every
	// cell that names none: run-finished (the default) or run-started
	// (verdict.WorkingLevel). -working overrides it and every cell's.
	Working  string    `yaml:"working,omitempty"`
	Releases []Release `yaml:"releases"`
	Matrix   Matrix    `yaml:"matrix"`

	// File is the path the catalog was loaded from, as given to Load.
	File string `yaml:"-"`
	// lines maps a field path (e.g. "releases[1].images.operator") to its line.
	lines map[string]int

	// Candidate is the ad-hoc release added by AddCandidate (nil without one);
	// Release finds it, Versions does not list it.
	Candidate *Release `yaml:"-"`
	// candidateCells replace the matrix when there is a candidate.
	candidateCells []upgrade.Cell
	// candidateManifests: the candidate has manifests of its own; without,
	// it keeps the newest release's (and a manifest override of them).
	candidateManifests bool
}

// Release is one release of the platform.
type Release struct {
	Version     string          `yaml:"version"`
	Images      platform.Images `yaml:"images"`
	Manifests   ManifestSource  `yaml:"manifests"`
	Notes       string          `yaml:"notes,omitempty"`
	KnownIssues []KnownIssue    `yaml:"knownIssues,omitempty"`
}

// ManifestSource says where a release's manifests come from: exactly one of
// Path (a file or kustomize directory, relative to the catalog file) or Git.
type ManifestSource struct {
	Path string     `yaml:"path,omitempty"`
	Git  *GitSource `yaml:"git,omitempty"`

	resolved string
}

// ResolvedPath is Path made absolute against the catalog file's directory, or
// the file chosen by a ManifestOverride; "" for a Git source.
func (m ManifestSource) ResolvedPath() string { return m.resolved }

// GitSource is a path inside a git repository at a ref (tag, branch or commit).
type GitSource struct {
	URL  string `yaml:"url"`
	Ref  string `yaml:"ref"`
	Path string `yaml:"path,omitempty"`
}

// KnownIssue is an upstream issue a release is known to carry.
type KnownIssue struct {
	Title   string `yaml:"title"`
	URL     string `yaml:"url,omitempty"`
	FixedIn string `yaml:"fixedIn,omitempty"`
}

// Matrix is the set of from→to cells to run.
type Matrix struct {
	// DefaultOrder applies to cells without an order; all-at-once when empty.
	DefaultOrder string         `yaml:"defaultOrder,omitempty"`
	Cells        []CellSpec     `yaml:"cells,omitempty"`
	Generate     []GenerateSpec `yaml:"generate,omitempty"`
}

// Expect values of a cell, and the extra values a single rule may be pinned to.
const (
	ExpectPass         = "pass"
	ExpectFail         = "fail"
	ExpectInconclusive = "inconclusive"
)

// CellSpec is one explicit matrix cell as written in the file.
type CellSpec struct {
	From   string `yaml:"from"`
	To     string `yaml:"to"`
	Order  string `yaml:"order,omitempty"`
	Expect string `yaml:"expect"`
	// Rollback rolls back to from in place after the upgrade (cell name
	// from-to-from); sessions created on to must keep working on from.
	Rollback bool `yaml:"rollback,omitempty"`
	// ExpectRules pins individual verdict rules, e.g. {restarted-session-runs: fail}.
	ExpectRules map[string]string `yaml:"expectRules,omitempty"`
	// Expect401 lists callers and path families that must get runner 401s;
	// ExpectNo401 those that must get none (a missing family means any).
	Expect401   []Attribution `yaml:"expect401,omitempty"`
	ExpectNo401 []Attribution `yaml:"expectNo401,omitempty"`
	// ExpectDiagnosis lists the diagnosis classes the matrix's probes must
	// establish, e.g. {caller: backend, class: caller-sends-no-valid-token};
	// a restart break names no caller.
	ExpectDiagnosis []DiagnosisSpec `yaml:"expectDiagnosis,omitempty"`
	// Working is the evidence a session needs to count as working in this
	// cell (the catalog's working: when empty).
	Working string `yaml:"working,omitempty"`
	// Fault names the seeded fault the cell's to (or from) release carries
	// (a faults catalog): the cell counts in the harness's score.
	Fault  string   `yaml:"fault,omitempty"`
	Why    string   `yaml:"why,omitempty"`
	Labels []string `yaml:"labels,omitempty"`
}

// DiagnosisSpec is an expected diagnosis as written in a catalog.
type DiagnosisSpec struct {
	Caller string `yaml:"caller,omitempty"`
	Class  string `yaml:"class"`
	// Detail is what the class must name (verdict.Diagnosis.Detail): the
	// header name of a header-name-mismatch, whose token a wrong-token is.
	Detail string `yaml:"detail,omitempty"`
}

func (d DiagnosisSpec) diagnosis() verdict.Diagnosis {
	return verdict.Diagnosis{Caller: ledger.Caller(d.Caller), Class: verdict.DiagnosisClass(d.Class), Detail: d.Detail}
}

// Attribution is a caller and runner path family as written in a catalog,
// e.g. {caller: backend, family: "/events"}.
type Attribution struct {
	Caller string `yaml:"caller"`
	Family string `yaml:"family,omitempty"`
}

func (a Attribution) attribution() verdict.Attribution {
	return verdict.Attribution{Caller: ledger.Caller(a.Caller), Family: a.Family}
}

// Generate strategies.
const (
	// GenerateEveryToNewest: each release → the newest release.
	GenerateEveryToNewest = "every-to-newest"
	// GenerateEachToNext: each release → the next newer one.
	GenerateEachToNext = "each-to-next"
)

// GenerateStrategies lists the valid strategies.
var GenerateStrategies = []string{GenerateEveryToNewest, GenerateEachToNext}

// GenerateSpec produces cells from the release list. An explicit cell with the
// same from, to and order wins over a generated one.
type GenerateSpec struct {
	Strategy    string            `yaml:"strategy"`
	Order       string            `yaml:"order,omitempty"`
	Expect      string            `yaml:"expect"`
	ExpectRules map[string]string `yaml:"expectRules,omitempty"`
	Expect401   []Attribution     `yaml:"expect401,omitempty"`
	ExpectNo401 []Attribution     `yaml:"expectNo401,omitempty"`
	// Working is the working level of the generated cells (the catalog's when empty).
	Working string   `yaml:"working,omitempty"`
	Why     string   `yaml:"why,omitempty"`
	Labels  []string `yaml:"labels,omitempty"`
}

// Release returns the release with the given version.
func (c *Catalog) Release(version string) (Release, bool) {
	for _, r := range c.Releases {
		if r.Version == version {
			return r, true
		}
	}
	if c.Candidate != nil && c.Candidate.Version == version {
		return *c.Candidate, true
	}
	return Release{}, false
}

// Versions lists the release versions, oldest first.
func (c *Catalog) Versions() []string {
	out := make([]string, 0, len(c.Releases))
	for _, r := range sortedReleases(c.Releases) {
		out = append(out, r.Version)
	}
	return out
}
