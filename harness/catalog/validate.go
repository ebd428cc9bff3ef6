package catalog

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/simulated"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
	"github.com/ambient-e2e/upgrade-harness/harness/yamlin"
)

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	// CheckPaths checks that every local manifest path exists. Off by default
	// because manifests may be produced after the catalog is read.
	CheckPaths bool
}

var (
	labelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	scpLikeRE = regexp.MustCompile(`^[\w.-]+@[\w.-]+:[\w./~-]+$`)
)

type validator struct {
	c        *Catalog
	problems []yamlin.Problem
}

func (v *validator) add(field, format string, args ...any) {
	v.problems = append(v.problems, yamlin.Problem{File: v.c.File, Line: v.c.lineOf(field), Field: field, Message: fmt.Sprintf(format, shortValues(args)...)})
}

// maxCatalogName bounds a catalog's name, which becomes part of cell names,
// file names and repro lines (a Kubernetes label value's limit).
const maxCatalogName = 63

// maxEchoed bounds how much of a user's value a message repeats.
const maxEchoed = 1000

// shortValues cuts long string values to their start and their length, so
// that a message about a 1 MiB value stays a line.
func shortValues(args []any) []any {
	out := args
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxEchoed {
			if &out[0] == &args[0] {
				out = append([]any(nil), args...)
			}
			out[i] = fmt.Sprintf("%s… (%d bytes)", strings.ToValidUTF8(s[:maxEchoed/2], ""), len(s))
		}
	}
	return out
}

// lineOf finds the line of field, or of its nearest ancestor that was written.
func (c *Catalog) lineOf(field string) int {
	for field != "" {
		if l, ok := c.lines[field]; ok {
			return l
		}
		cut := strings.LastIndexAny(field, ".[")
		if cut < 0 {
			break
		}
		field = field[:cut]
	}
	return 0
}

// Validate checks the catalog's semantics and returns every problem found,
// wrapped as bad input (*fault.BadInput).
func (c *Catalog) Validate(opts ValidateOptions) error {
	v := &validator{c: c}
	v.header()
	versions := v.releases(opts)
	v.matrix(versions)
	if len(v.problems) == 0 {
		return nil
	}
	return fault.BadInputErr(&yamlin.ValidationError{Problems: v.problems})
}

func (v *validator) header() {
	c := v.c
	if c.APIVersion != APIVersion {
		v.add("apiVersion", "%q is not supported (want %q)", c.APIVersion, APIVersion)
	}
	if c.Kind != Kind {
		v.add("kind", "%q is not supported (want %q)", c.Kind, Kind)
	}
	switch {
	case !catalogNameRE.MatchString(c.Name):
		v.add("name", "%q is not a valid catalog name (want lowercase letters, digits and '-', e.g. \"simulated\")", c.Name)
	case len(c.Name) > maxCatalogName:
		v.add("name", "%q is %d characters long (want a catalog name of at most %d, e.g. \"simulated\")", c.Name, len(c.Name), maxCatalogName)
	}
	if c.Build != BuildSimulated && c.Build != BuildPull {
		v.add("build", "%q is not a build mode (want %s or %s)", c.Build, BuildSimulated, BuildPull)
	}
	v.working("working", c.Working)
}

// working validates a working level; empty is valid (a cell takes the
// catalog's, the catalog verdict.DefaultWorkingLevel).
func (v *validator) working(field, level string) {
	if level == "" {
		return
	}
	if _, err := verdict.ParseWorkingLevel(level); err != nil {
		v.add(field, "%s: the evidence a session needs to count as working", err)
	}
}

// releases validates the release list and returns the set of valid versions.
func (v *validator) releases(opts ValidateOptions) map[string]bool {
	versions := map[string]bool{}
	if len(v.c.Releases) == 0 {
		v.add("releases", "no releases (want at least one)")
	}
	firstIndex := map[string]int{}
	for i, r := range v.c.Releases {
		p := fmt.Sprintf("releases[%d]", i)
		switch {
		case r.Version == "":
			v.add(p+".version", "is required (want a release tag such as v0.2.0)")
		case !parseVersion(r.Version).valid:
			v.add(p+".version", "%q is not a release tag (want vMAJOR.MINOR.PATCH, e.g. v0.2.0)", r.Version)
		default:
			if prev, dup := firstIndex[r.Version]; dup {
				prevField := fmt.Sprintf("releases[%d]", prev)
				v.add(p+".version", "%q is a duplicate release (already defined by %s at line %d)", r.Version, prevField, v.c.lineOf(prevField+".version"))
			} else {
				firstIndex[r.Version] = i
				versions[r.Version] = true
			}
		}
		v.images(p+".images", r.Images)
		v.manifests(p+".manifests", r.Manifests, opts)
		for j, ki := range r.KnownIssues {
			kp := fmt.Sprintf("%s.knownIssues[%d]", p, j)
			if strings.TrimSpace(ki.Title) == "" {
				v.add(kp+".title", "is required (want a one-line description of the issue)")
			}
			if ki.URL != "" && !isHTTPURL(ki.URL) {
				v.add(kp+".url", "%q is not an http(s) URL (want e.g. https://github.com/ambient-code/platform/issues/1425)", ki.URL)
			}
		}
	}
	return versions
}

func (v *validator) images(p string, imgs platform.Images) {
	for _, c := range platform.ImageComponents {
		field := p + "." + string(c)
		img := imgs.Get(c)
		if img == "" {
			if c != platform.StateSync {
				v.add(field, "is required (want an image reference %s)", ImageRefGrammar)
			}
			continue
		}
		if msg := checkPinnedImage(img); msg != "" {
			v.add(field, "%s", msg)
		}
	}
}

// checkPinnedImage returns "" for a valid reference with a tag or digest.
func checkPinnedImage(img string) string {
	ref, err := ParseImageRef(img)
	if err != nil {
		return err.Error()
	}
	if !ref.Pinned() {
		return fmt.Sprintf("%q has neither tag nor digest (want a pinned reference such as %s:v0.2.0)", img, ref.Name())
	}
	return ""
}

func (v *validator) manifests(p string, m ManifestSource, opts ValidateOptions) {
	switch {
	case m.Path != "" && m.Git != nil:
		v.add(p, "both path and git are set (want exactly one manifest source)")
		return
	case m.Path == "" && m.Git == nil:
		v.add(p, "no manifest source (want exactly one of path: <file or kustomize dir> or git: {url, ref, path})")
		return
	case m.Git != nil:
		g := m.Git
		if g.URL == "" {
			v.add(p+".git.url", "is required (want e.g. https://github.com/ambient-code/platform)")
		} else if !isGitURL(g.URL) {
			v.add(p+".git.url", "%q is not a git URL (want https://, http://, ssh://, git://, file:// or user@host:path)", g.URL)
		}
		if strings.TrimSpace(g.Ref) == "" {
			v.add(p+".git.ref", "is required (want a tag, branch or commit, e.g. v0.2.0)")
		}
		if g.Path != "" && (path.IsAbs(g.Path) || path.Clean(g.Path) == ".." || strings.HasPrefix(path.Clean(g.Path), "../")) {
			v.add(p+".git.path", "%q must stay inside the repository (want a relative path such as components/manifests/overlays/kind)", g.Path)
		}
	case opts.CheckPaths:
		if _, err := os.Stat(m.resolved); err != nil {
			v.add(p+".path", "%q does not exist (resolved to %s; want a manifest file or kustomize directory)", m.Path, m.resolved)
		}
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isGitURL(s string) bool {
	if scpLikeRE.MatchString(s) {
		return true
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git":
		return u.Host != ""
	case "file":
		return u.Path != ""
	}
	return false
}

// ruleNames are the verdict rules a cell may pin.
var ruleNames = verdict.DefaultRules().Names()

func (v *validator) matrix(versions map[string]bool) {
	m := v.c.Matrix
	if m.DefaultOrder != "" {
		if _, err := upgrade.ParseOrder(m.DefaultOrder); err != nil {
			v.add("matrix.defaultOrder", "%s", err)
		}
	}
	valid := validVersionsText(v.c)
	type key struct {
		from, to, order string
		rollback        bool
	}
	firstCell := map[key]int{}
	for i, cs := range m.Cells {
		p := fmt.Sprintf("matrix.cells[%d]", i)
		for _, side := range []struct{ field, value string }{{"from", cs.From}, {"to", cs.To}} {
			switch {
			case side.value == "":
				v.add(p+"."+side.field, "is required (want one of %s)", valid)
			case !versions[side.value]:
				v.add(p+"."+side.field, "%q is not a release of this catalog (want one of %s)", side.value, valid)
			}
		}
		orderText := v.order(p+".order", cs.Order)
		v.expect(p, cs.Expect, cs.ExpectRules)
		v.attributions(p+".expect401", cs.Expect401)
		v.attributions(p+".expectNo401", cs.ExpectNo401)
		v.diagnoses(p+".expectDiagnosis", cs.ExpectDiagnosis)
		v.fault(p+".fault", cs.Fault)
		v.working(p+".working", cs.Working)
		v.labels(p+".labels", cs.Labels)
		if strings.TrimSpace(cs.Why) == "" && (cs.Expect == ExpectFail || len(cs.ExpectRules) > 0) {
			v.add(p+".why", "is required when a failure is expected (want the reason, e.g. \"upstream #1425\")")
		}
		if orderText == "" {
			continue
		}
		k := key{cs.From, cs.To, orderText, cs.Rollback}
		if prev, dup := firstCell[k]; dup {
			prevField := fmt.Sprintf("matrix.cells[%d]", prev)
			v.add(p, "duplicates %s at line %d (same from %s, to %s and order %s; want each cell once)", prevField, v.c.lineOf(prevField), cs.From, cs.To, orderText)
			continue
		}
		firstCell[k] = i
	}
	for i, g := range m.Generate {
		p := fmt.Sprintf("matrix.generate[%d]", i)
		if !contains(GenerateStrategies, g.Strategy) {
			v.add(p+".strategy", "%q is not a generate strategy (want %s)", g.Strategy, strings.Join(GenerateStrategies, " or "))
		}
		v.order(p+".order", g.Order)
		v.expect(p, g.Expect, g.ExpectRules)
		v.working(p+".working", g.Working)
		v.attributions(p+".expect401", g.Expect401)
		v.attributions(p+".expectNo401", g.ExpectNo401)
		v.labels(p+".labels", g.Labels)
	}
}

// order validates an order field and returns its canonical text ("" if invalid).
func (v *validator) order(field, order string) string {
	if order == "" {
		o, err := v.c.defaultOrder()
		if err != nil {
			return "" // reported once, on matrix.defaultOrder
		}
		return o.Text
	}
	o, err := upgrade.ParseOrder(order)
	if err != nil {
		v.add(field, "%s", err)
		return ""
	}
	return o.Text
}

func (v *validator) expect(p, expect string, rules map[string]string) {
	// inconclusive is for cells that check the harness itself (it must say it
	// cannot tell); a platform's cell expects pass or fail.
	switch expect {
	case ExpectPass, ExpectFail, ExpectInconclusive:
	case "":
		v.add(p+".expect", "is required (want %s, %s or %s)", ExpectPass, ExpectFail, ExpectInconclusive)
	default:
		v.add(p+".expect", "%q is not a valid expectation (want %s, %s or %s)", expect, ExpectPass, ExpectFail, ExpectInconclusive)
	}
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		field := p + ".expectRules." + name
		if !slices.Contains(ruleNames, name) {
			v.add(field, "%q is not a verdict rule (want one of %s)", name, strings.Join(ruleNames, ", "))
		}
		switch rules[name] {
		case ExpectPass, ExpectFail, ExpectInconclusive:
		default:
			v.add(field, "%q is not a valid rule expectation (want %s, %s or %s)", rules[name], ExpectPass, ExpectFail, ExpectInconclusive)
		}
	}
}

// attributionCallers are the callers a cell can expect 401s for (or none):
// the platform components that call runners, and the kubelet (its probes).
var attributionCallers = []string{string(ledger.CallerBackend), string(ledger.CallerOperator), string(ledger.CallerKubelet)}

// callersText lists attributionCallers as "backend, operator or kubelet".
func callersText() string {
	n := len(attributionCallers)
	return strings.Join(attributionCallers[:n-1], ", ") + " or " + attributionCallers[n-1]
}

func (v *validator) diagnoses(field string, list []DiagnosisSpec) {
	var classes []string
	for _, c := range verdict.DiagnosisClasses {
		classes = append(classes, string(c))
	}
	for i, d := range list {
		p := fmt.Sprintf("%s[%d]", field, i)
		if !verdict.KnownDiagnosisClass(verdict.DiagnosisClass(d.Class)) {
			v.add(p+".class", "%q is not a diagnosis class (want one of %s)", d.Class, strings.Join(classes, ", "))
		} else if err := verdict.ValidateDetail(verdict.DiagnosisClass(d.Class), d.Detail); err != nil {
			v.add(p+".detail", "%v", err)
		}
		if d.Caller != "" && !slices.Contains(attributionCallers, d.Caller) {
			v.add(p+".caller", "%q is not a runner caller (want %s, or no caller for a restart break)", d.Caller, callersText())
		}
	}
}

// fault checks a seeded fault's name; a simulated catalog must name one the
// simulated platform can bake in (its list: harness/simulated).
func (v *validator) fault(field, name string) {
	if name == "" {
		return
	}
	if v.c.Build == BuildSimulated {
		sim, err := simulated.Default()
		if err != nil {
			v.add(field, "%q cannot be checked against the simulated platform's faults: %v", name, err)
		} else if !sim.HasFault(name) {
			v.add(field, "%q is not a seeded fault of the simulated platform (want one of %s)", name, sim.FaultNames())
		}
		return
	}
	if !labelRE.MatchString(name) {
		v.add(field, "%q is not a valid fault name (want lowercase letters, digits and '-', e.g. header-name)", name)
	}
}

func (v *validator) attributions(field string, list []Attribution) {
	for i, a := range list {
		p := fmt.Sprintf("%s[%d]", field, i)
		if !slices.Contains(attributionCallers, a.Caller) {
			v.add(p+".caller", "%q is not a runner caller (want %s)", a.Caller, callersText())
		}
		if a.Family != "" && !strings.HasPrefix(a.Family, "/") {
			v.add(p+".family", "%q is not a runner path family (want a path such as /, /events or /workflow)", a.Family)
		}
	}
}

func (v *validator) labels(field string, labels []string) {
	for i, l := range labels {
		if !labelRE.MatchString(l) {
			v.add(fmt.Sprintf("%s[%d]", field, i), "%q is not a valid label (want lowercase letters, digits and '-', e.g. ci)", l)
		}
	}
}

// validVersionsText lists the well-formed, distinct versions, for "want one of".
func validVersionsText(c *Catalog) string {
	var vs []string
	seen := map[string]bool{}
	for _, v := range c.Versions() {
		if parseVersion(v).valid && !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return "(no releases defined)"
	}
	return strings.Join(vs, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ManifestProblem is a problem with the local manifests of release version,
// located at its manifests.path in the catalog file, e.g. when their contents
// fail a check the catalog cannot make itself (deploy.CheckManifests).
func (c *Catalog) ManifestProblem(version string, err error) yamlin.Problem {
	for i, r := range c.Releases {
		if r.Version == version {
			field := fmt.Sprintf("releases[%d].manifests.path", i)
			return yamlin.Problem{File: c.File, Line: c.lineOf(field), Field: field,
				Message: fmt.Sprintf("%q: %v", r.Manifests.Path, err)}
		}
	}
	return yamlin.Problem{File: c.File, Message: fmt.Sprintf("release %s: %v", version, err)}
}
