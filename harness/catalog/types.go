// Package catalog loads the release catalogs of fixtures/releases: which images
// make up a release, where its manifests come from, and which from→to matrix
// cells run with what expected outcome. All of it is data a release manager
// edits; this package only parses, validates and expands it.
package catalog

// APIVersion and Kind identify a catalog file.
const (
	APIVersion = "upgrade-harness.ambient-e2e/v1alpha1"
	Kind       = "Catalog"
)

// Build modes: how the images of a catalog's releases reach the cluster.
const (
	// BuildSimulated: the harness builds the images locally (harness/images).
	BuildSimulated = "simulated"
	// BuildPull: the images are pulled from their registry.
	BuildPull = "pull"
)

// Catalog is one catalog file.
type Catalog struct {
	APIVersion  string    `yaml:"apiVersion"`
	Kind        string    `yaml:"kind"`
	Name        string    `yaml:"name"`
	Description string    `yaml:"description,omitempty"`
	Build       string    `yaml:"build"`
	Releases    []Release `yaml:"releases"`
	Matrix      Matrix    `yaml:"matrix"`

	// File is the path the catalog was loaded from, as given to Load.
	File string `yaml:"-"`
	// lines maps a field path (e.g. "releases[1].images.operator") to its line.
	lines map[string]int
}

// Release is one release of the platform.
type Release struct {
	Version     string         `yaml:"version"`
	Images      Images         `yaml:"images"`
	Manifests   ManifestSource `yaml:"manifests"`
	Notes       string         `yaml:"notes,omitempty"`
	KnownIssues []KnownIssue   `yaml:"knownIssues,omitempty"`
}

// Images are the image references of a release's components.
type Images struct {
	Operator  string `yaml:"operator"`
	Backend   string `yaml:"backend"`
	Runner    string `yaml:"runner"`
	StateSync string `yaml:"stateSync,omitempty"`
}

// Get returns the image of component c ("" when unset or unknown).
func (i Images) Get(c Component) string {
	switch c {
	case Operator:
		return i.Operator
	case Backend:
		return i.Backend
	case Runner:
		return i.Runner
	case StateSync:
		return i.StateSync
	}
	return ""
}

func (i *Images) set(c Component, image string) {
	switch c {
	case Operator:
		i.Operator = image
	case Backend:
		i.Backend = image
	case Runner:
		i.Runner = image
	case StateSync:
		i.StateSync = image
	}
}

// List returns the set images in component order.
func (i Images) List() []string {
	var out []string
	for _, c := range ImageComponents {
		if img := i.Get(c); img != "" {
			out = append(out, img)
		}
	}
	return out
}

// ImageComponents are the image slots of a release; StateSync is optional.
var ImageComponents = []Component{Operator, Backend, Runner, StateSync}

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
	// ExpectRules pins individual verdict rules, e.g. {restarted-session-runs: fail}.
	ExpectRules map[string]string `yaml:"expectRules,omitempty"`
	Why         string            `yaml:"why,omitempty"`
	Labels      []string          `yaml:"labels,omitempty"`
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
	Why         string            `yaml:"why,omitempty"`
	Labels      []string          `yaml:"labels,omitempty"`
}

// Release returns the release with the given version.
func (c *Catalog) Release(version string) (Release, bool) {
	for _, r := range c.Releases {
		if r.Version == version {
			return r, true
		}
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
