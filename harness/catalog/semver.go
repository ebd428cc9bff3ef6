package catalog

import (
	"regexp"
	"sort"
	"strconv"
)

// Release versions are upstream git tags: vMAJOR.MINOR.PATCH[-prerelease].
var versionRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z.-]+))?$`)

type semver struct {
	nums  [3]int
	pre   string
	valid bool
}

func parseVersion(v string) semver {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return semver{}
	}
	var s semver
	for i := 0; i < 3; i++ {
		s.nums[i], _ = strconv.Atoi(m[i+1])
	}
	s.pre = m[4]
	s.valid = true
	return s
}

// compareVersions orders invalid versions after valid ones so that validation,
// not sorting, is what reports them.
func compareVersions(a, b string) int {
	va, vb := parseVersion(a), parseVersion(b)
	switch {
	case va.valid != vb.valid:
		if va.valid {
			return -1
		}
		return 1
	case !va.valid:
		return cmpString(a, b)
	}
	for i := 0; i < 3; i++ {
		if va.nums[i] != vb.nums[i] {
			if va.nums[i] < vb.nums[i] {
				return -1
			}
			return 1
		}
	}
	// A prerelease sorts before its release.
	switch {
	case va.pre == vb.pre:
		return 0
	case va.pre == "":
		return 1
	case vb.pre == "":
		return -1
	}
	return cmpString(va.pre, vb.pre)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedReleases(in []Release) []Release {
	out := append([]Release(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return compareVersions(out[i].Version, out[j].Version) < 0 })
	return out
}
