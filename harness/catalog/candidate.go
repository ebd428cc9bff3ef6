package catalog

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

const (
	// DefaultCandidateName names a candidate release when none is given.
	DefaultCandidateName = "candidate"
	// DefaultCandidateFromCount is how many of the newest releases a candidate
	// is upgraded from when no from is given.
	DefaultCandidateFromCount = 2
	// CandidateLabel is carried by every candidate cell.
	CandidateLabel = "candidate"
	// CandidateSource is the upgrade.Cell Source of candidate cells.
	CandidateSource = "candidate"
	// candidateOrigin stands in for the file name in a candidate's problems:
	// its fields come from flags, not from the catalog file.
	candidateOrigin = "command line"
)

// Field names of a candidate in problems: the flags that set them.
const (
	CandidateFieldName      = "-candidate-name"
	CandidateFieldManifests = "-candidate-manifests"
	CandidateFieldImages    = "-candidate-images"
	CandidateFieldFrom      = "-from"
	CandidateFieldOrder     = "-order"
	CandidateFieldExpect    = "-candidate-expect"
	CandidateFieldWhy       = "-candidate-why"
)

// Candidate is an ad-hoc release that is not in the catalog file, e.g. the
// build of a platform pull request: its manifests from the PR's checkout and
// the images it built. It is the newest release with those replaced, and the
// only `to` of the cells: every selected from → the candidate.
type Candidate struct {
	// Name is the release name cells and reports use, e.g. pr-1234
	// (DefaultCandidateName when empty).
	Name string
	// Manifests is a kustomize directory or a rendered file, relative to the
	// working directory; empty keeps the newest release's manifests.
	Manifests string
	// Images replace the newest release's; unset components keep them.
	Images platform.Images
	// From lists the releases upgraded to the candidate; the
	// DefaultCandidateFromCount newest when empty.
	From []string
	// Order is the upgrade order of every candidate cell (the catalog's default
	// order when empty).
	Order string
	// Expect is the expected verdict, pass when empty; Why is required for fail.
	Expect string
	Why    string
}

// IsZero reports whether nothing of a candidate was given.
func (c Candidate) IsZero() bool {
	return c.Name == "" && c.Manifests == "" && c.Images.IsZero() && len(c.From) == 0 && c.Order == "" && c.Expect == "" && c.Why == ""
}

// WithCandidate makes Load add the candidate release and its cells after the
// catalog file validated (see AddCandidate).
func WithCandidate(c Candidate) LoadOption {
	return func(o *loadOptions) { o.candidate = &c }
}

// candidateNameRE: a cell name part that is safe in file names and make lines.
var candidateNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// AddCandidate validates cand like a release of the catalog (the same
// messages for images and manifests, every problem at once, exit code 2) and
// adds it: c.Candidate becomes the release, and Cells returns only the
// candidate's cells, from each of cand.From to it.
func (c *Catalog) AddCandidate(cand Candidate) error {
	if c.Candidate != nil {
		return fault.BadInputErr(fmt.Errorf("catalog %s already has the candidate %s (want one candidate)", c.Name, c.Candidate.Version))
	}
	if len(c.Releases) == 0 {
		return fault.BadInputErr(fmt.Errorf("catalog %s has no release a candidate could replace", c.Name))
	}
	// A validator over a catalog without file or lines: problems name the flag.
	v := &validator{c: &Catalog{File: candidateOrigin, Name: c.Name, Matrix: Matrix{DefaultOrder: c.Matrix.DefaultOrder}}}
	sorted := sortedReleases(c.Releases)
	newest := sorted[len(sorted)-1]

	name := cand.Name
	if name == "" {
		name = DefaultCandidateName
	}
	switch {
	case !candidateNameRE.MatchString(name):
		v.add(CandidateFieldName, "%q is not a valid candidate name (want at most 63 lowercase letters, digits, '.' and '-', e.g. pr-1234)", name)
	case releaseExists(c, name):
		v.add(CandidateFieldName, "%q is a release of catalog %s already (want a name of its own, e.g. pr-1234)", name, c.Name)
	}

	images := newest.Images.With(cand.Images)
	v.images(CandidateFieldImages, images)

	manifests := newest.Manifests
	if cand.Manifests != "" {
		abs, err := filepath.Abs(cand.Manifests)
		if err != nil {
			abs = cand.Manifests
		}
		manifests = ManifestSource{Path: cand.Manifests, resolved: abs}
		v.manifests(CandidateFieldManifests, manifests, ValidateOptions{CheckPaths: true})
	}

	from := cand.From
	if len(from) == 0 {
		for _, r := range sorted[max(len(sorted)-DefaultCandidateFromCount, 0):] {
			from = append(from, r.Version)
		}
	}
	for i, f := range from {
		switch {
		case !releaseExists(c, f):
			v.add(CandidateFieldFrom, "%q is not a release of this catalog (want one of %s)", f, validVersionsText(c))
		case slices.Index(from, f) < i:
			v.add(CandidateFieldFrom, "%q is given twice (want each release once)", f)
		}
	}

	orderText := v.order(CandidateFieldOrder, cand.Order)

	expect := cand.Expect
	if expect == "" {
		expect = ExpectPass
	}
	if expect != ExpectPass && expect != ExpectFail {
		v.add(CandidateFieldExpect, "%q is not a valid expectation (want %s or %s)", expect, ExpectPass, ExpectFail)
	}
	why := strings.TrimSpace(cand.Why)
	if why == "" && expect == ExpectFail {
		v.add(CandidateFieldWhy, "is required when a failure is expected (want the reason, e.g. \"upstream #1425\")")
	}
	if len(v.problems) > 0 {
		// The validator's manifest checks name the catalog field "path".
		for i := range v.problems {
			v.problems[i].Field = strings.TrimSuffix(v.problems[i].Field, ".path")
		}
		return fault.BadInputErr(&yamlin.ValidationError{Problems: v.problems})
	}

	if why == "" {
		why = fmt.Sprintf("candidate %s (the newest release %s with its images and manifests replaced): an upgrade to it is expected not to break", name, newest.Version)
	}
	order, _ := upgrade.ParseOrder(orderText) // validated above
	rel := Release{Version: name, Images: images, Manifests: manifests,
		Notes: fmt.Sprintf("candidate release: %s with %s replaced", newest.Version, candidateChanges(cand))}
	c.Candidate = &rel
	c.candidateManifests = cand.Manifests != ""
	c.candidateCells = nil
	for _, f := range from {
		c.candidateCells = append(c.candidateCells, upgrade.Cell{
			Catalog: c.Name, From: f, To: name, Order: order,
			Expect: verdict.Expectation{Verdict: verdict.Verdict(expect), Why: why, Working: c.WorkingLevel()},
			Labels: []string{CandidateLabel}, Source: CandidateSource,
		})
	}
	return nil
}

// CandidateHasOwnManifests reports whether the candidate deploys manifests of
// its own rather than the newest release's.
func (c *Catalog) CandidateHasOwnManifests() bool { return c.Candidate != nil && c.candidateManifests }

// CandidateOwnImages lists the candidate's images that no release of the
// catalog has (its build, as opposed to images it kept), in component order.
func (c *Catalog) CandidateOwnImages() []string {
	if c.Candidate == nil {
		return nil
	}
	known := map[string]bool{}
	for _, r := range c.Releases {
		for _, img := range r.Images.List() {
			known[img] = true
		}
	}
	var out []string
	for _, img := range c.Candidate.Images.List() {
		if !known[img] {
			out = append(out, img)
		}
	}
	return out
}

// ReleasesOfImages lists the catalog releases (oldest first) whose images the
// candidate kept, e.g. to build them when they are simulated.
func (c *Catalog) ReleasesOfImages(imgs []string) []string {
	var out []string
	for _, r := range sortedReleases(c.Releases) {
		for _, img := range r.Images.List() {
			if slices.Contains(imgs, img) {
				out = append(out, r.Version)
				break
			}
		}
	}
	return out
}

func releaseExists(c *Catalog, version string) bool {
	for _, r := range c.Releases {
		if r.Version == version {
			return true
		}
	}
	return false
}

func candidateChanges(cand Candidate) string {
	var parts []string
	if cand.Manifests != "" {
		parts = append(parts, "manifests "+cand.Manifests)
	}
	for _, comp := range cand.Images.Components() {
		parts = append(parts, string(comp)+" "+cand.Images.Get(comp))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
