package catalog

import (
	"slices"
	"strings"

	"github.com/blang/semver/v4"
)

// releaseVersion is a release's upstream git tag, vMAJOR.MINOR.PATCH[-prerelease],
// parsed by semver 2.0's rules (build metadata is not part of a tag here).
type releaseVersion struct {
	v     semver.Version
	valid bool
}

func parseVersion(tag string) releaseVersion {
	rest, ok := strings.CutPrefix(tag, "v")
	if !ok || strings.Contains(rest, "+") {
		return releaseVersion{}
	}
	v, err := semver.Parse(rest)
	return releaseVersion{v: v, valid: err == nil}
}

// compareVersions orders invalid versions after valid ones so that validation,
// not sorting, is what reports them.
func compareVersions(a, b string) int {
	va, vb := parseVersion(a), parseVersion(b)
	switch {
	case va.valid && vb.valid:
		return va.v.Compare(vb.v)
	case va.valid:
		return -1
	case vb.valid:
		return 1
	}
	return strings.Compare(a, b)
}

func sortedReleases(in []Release) []Release {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(x, y Release) int { return compareVersions(x.Version, y.Version) })
	return out
}
