package catalog

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// DefaultManifestPattern names upstream's rendered kind overlay per release.
const DefaultManifestPattern = "kind-{version}.yaml"

// ManifestOverride points releases at local rendered manifest files instead of
// their catalog source, for tests and offline runs (e.g. the upstream catalog
// with a directory of upstream's rendered kind overlays).
type ManifestOverride struct {
	// Dir holds the files; a relative Dir is taken from the working directory.
	Dir string
	// Pattern is the file name below Dir; "{version}" is replaced by the release
	// version. Default DefaultManifestPattern.
	Pattern string
	// Only limits the override to these versions (all releases when empty), for
	// a directory that holds files for some releases only.
	Only []string
}

// ApplyManifestOverride replaces the manifest source of every selected release
// with Dir/Pattern. A selected release whose file is missing is an error naming
// the file; all missing files are reported together.
func (c *Catalog) ApplyManifestOverride(o ManifestOverride) error {
	if o.Dir == "" {
		return fault.BadInputErr(fmt.Errorf("manifest override: dir is empty (want a directory of rendered manifests)"))
	}
	pattern := o.Pattern
	if pattern == "" {
		pattern = DefaultManifestPattern
	}
	if !strings.Contains(pattern, "{version}") {
		return fault.BadInputErr(fmt.Errorf("manifest override: pattern %q has no {version} placeholder (want e.g. %s)", pattern, DefaultManifestPattern))
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fault.BadInputErr(fmt.Errorf("manifest override: dir %q: %w", o.Dir, err))
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fault.BadInputErr(fmt.Errorf("manifest override: dir %s does not exist or is not a directory", dir))
	}
	var problems []string
	for _, v := range o.Only {
		if _, ok := c.Release(v); !ok {
			problems = append(problems, fmt.Sprintf("manifest override: only %q is not a release of catalog %s (want one of %s)", v, c.Name, validVersionsText(c)))
		}
	}
	resolved := map[int]string{}
	for i, r := range c.Releases {
		if len(o.Only) > 0 && !contains(o.Only, r.Version) {
			continue
		}
		file := filepath.Join(dir, strings.ReplaceAll(pattern, "{version}", r.Version))
		if st, err := os.Stat(file); err != nil {
			problems = append(problems, fmt.Sprintf("manifest override: release %s: %s does not exist (dir %s, pattern %q)", r.Version, file, dir, pattern))
			continue
		} else if !st.Mode().IsRegular() {
			problems = append(problems, fmt.Sprintf("manifest override: release %s: %s is not a regular file (want rendered manifests, e.g. kustomize build output)", r.Version, file))
			continue
		}
		resolved[i] = file
	}
	if len(problems) > 0 {
		return fault.BadInputErr(fmt.Errorf("%s", strings.Join(problems, "\n")))
	}
	for i, file := range resolved {
		c.Releases[i].Manifests = ManifestSource{Path: file, resolved: file}
	}
	// A candidate without manifests of its own deploys the newest release's.
	if c.Candidate != nil && !c.candidateManifests {
		sorted := sortedReleases(c.Releases)
		c.Candidate.Manifests = sorted[len(sorted)-1].Manifests
	}
	return nil
}

// RemapRegistry rewrites every image of every release whose reference starts
// with from (a registry/namespace prefix such as quay.io/ambient_code) to start
// with to instead, e.g. to run upstream's manifests with locally built or
// mirrored images. It returns how many references changed; a rewritten
// reference that is not valid is an error naming it.
func (c *Catalog) RemapRegistry(from, to string) (int, error) {
	from, to = strings.TrimRight(from, "/"), strings.TrimRight(to, "/")
	if from == "" || to == "" {
		return 0, fault.BadInputErr(fmt.Errorf("image remap %q=%q: want FROM=TO prefixes, e.g. quay.io/ambient_code=localhost/ambient-sim", from, to))
	}
	n := 0
	// The candidate too: the images it kept from the newest release must move with it.
	sets := map[string]*platform.Images{}
	var fields []string
	for i := range c.Releases {
		f := fmt.Sprintf("releases[%d].images", i)
		sets[f], fields = &c.Releases[i].Images, append(fields, f)
	}
	if c.Candidate != nil {
		sets[CandidateFieldImages], fields = &c.Candidate.Images, append(fields, CandidateFieldImages)
	}
	for _, f := range fields {
		imgs := sets[f]
		for _, comp := range platform.ImageComponents {
			img := imgs.Get(comp)
			if !strings.HasPrefix(img, from+"/") {
				continue
			}
			next := to + strings.TrimPrefix(img, from)
			if _, err := ParseImageRef(next); err != nil {
				return n, fault.BadInputErr(fmt.Errorf("image remap of %s.%s: %w", f, comp, err))
			}
			imgs.Set(comp, next)
			n++
		}
	}
	return n, nil
}

// ParseImageRemap parses "FROM=TO,…" image prefix rewrites as given on a
// command line (see RemapRegistry).
func ParseImageRemap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		from, to, ok := strings.Cut(pair, "=")
		from, to = strings.TrimRight(strings.TrimSpace(from), "/"), strings.TrimRight(strings.TrimSpace(to), "/")
		if !ok || from == "" || to == "" {
			return nil, fault.BadInputErr(fmt.Errorf("%q is not FROM=TO (want image prefixes, e.g. quay.io/ambient_code=localhost/ambient-sim)", pair))
		}
		for _, p := range []string{from, to} {
			if _, err := ParseImageRef(p + "/image:tag"); err != nil {
				return nil, fault.BadInputErr(fmt.Errorf("%q: %q is not an image repository prefix (want host[:port]/path, e.g. quay.io/ambient_code)", pair, p))
			}
		}
		if prev, dup := out[from]; dup {
			return nil, fault.BadInputErr(fmt.Errorf("%q: %s is remapped twice (already to %s; want each prefix once)", pair, from, prev))
		}
		out[from] = to
	}
	return out, nil
}

// FormatImageRemap writes remaps as ParseImageRemap reads them, sorted.
func FormatImageRemap(remap map[string]string) string {
	parts := make([]string, 0, len(remap))
	for _, from := range slices.Sorted(maps.Keys(remap)) {
		parts = append(parts, from+"="+remap[from])
	}
	return strings.Join(parts, ",")
}

// ImagePrefixes lists the distinct repository prefixes (the reference without
// its last path element and tag) of every release's images, for "want" texts.
func (c *Catalog) ImagePrefixes() []string {
	seen := map[string]bool{}
	for _, r := range c.Releases {
		for _, img := range r.Images.List() {
			ref, err := ParseImageRef(img)
			if err != nil {
				continue
			}
			if i := strings.LastIndexByte(ref.Name(), '/'); i > 0 {
				seen[ref.Name()[:i]] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// VersionsInDir lists the releases of the catalog whose manifest file (pattern,
// default DefaultManifestPattern) exists in dir: the Only of a ManifestOverride
// for a directory that holds some releases.
func (c *Catalog) VersionsInDir(dir, pattern string) []string {
	if pattern == "" {
		pattern = DefaultManifestPattern
	}
	var out []string
	for _, r := range c.Releases {
		if _, err := os.Stat(filepath.Join(dir, strings.ReplaceAll(pattern, "{version}", r.Version))); err == nil {
			out = append(out, r.Version)
		}
	}
	return out
}
