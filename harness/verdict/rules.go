package verdict

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

//go:embed rules.yaml
var defaultRulesYAML []byte

// maxEvidence bounds the entries kept per rule; the whole ledger is in the
// cell result anyway, and a 5 s operator retry can produce hundreds.
const maxEvidence = 50

// RuleSet is a parsed rules file.
type RuleSet struct {
	Rules []Rule `yaml:"rules"`
}

// Rule is one named rule (see rules.yaml for the semantics).
type Rule struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Informational rules are reported but do not decide the cell's verdict.
	Informational bool `yaml:"informational"`
	// When limits the rule to cells whose ledger has an entry it matches
	// (e.g. a rolled-back phase); other cells do not evaluate it at all.
	When *Selector `yaml:"when"`
	// Evidence names the traffic window that waits until this rule is decided
	// ("after-upgrade", "after-rollback").
	Evidence     string        `yaml:"evidence"`
	Sessions     *SessionScope `yaml:"sessions"`
	Fail         []Clause      `yaml:"fail"`
	Inconclusive []Clause      `yaml:"inconclusive"`
	Require      []Clause      `yaml:"require"`
	Pass         []Clause      `yaml:"pass"`
}

// SessionScope makes a rule run once per session with Role.
type SessionScope struct {
	Role string `yaml:"role"`
}

// Clause is a named selector, optionally limited to entries after an anchor,
// or (in require) applicable only when When matches something.
type Clause struct {
	Name  string    `yaml:"name"`
	Match Selector  `yaml:"match"`
	After *Selector `yaml:"after"`
	When  *Selector `yaml:"when"`
	// Working limits the clause to these working levels (require and pass
	// only): the evidence a session needs to count as working differs by
	// level, a 401 or a RUN_ERROR never does. Empty: every level.
	Working []WorkingLevel `yaml:"working"`
	// EachFamily (require only) expands the clause into one requirement per
	// runner call family the cell drives (platform.CallFamilies) and per phase
	// of Match.Phase that the ledger has: an entry of Match reaching a runner on
	// that family. An operator family is only required in a phase where a spec
	// change that causes it was accepted (platform.SpecChanges).
	EachFamily bool `yaml:"eachFamily"`
}

// Selector picks ledger entries. Empty fields match anything.
type Selector struct {
	Signal []string      `yaml:"signal"`
	Role   []string      `yaml:"role"`
	Phase  []string      `yaml:"phase"`
	Caller []string      `yaml:"caller"`
	Method []string      `yaml:"method"`
	Path   []string      `yaml:"path"`
	Status []StatusMatch `yaml:"status"`
	Detail string        `yaml:"detail"`
	Source string        `yaml:"source"`
	// Class selects runner 401s by ledger.Class (from-release, upgrade).
	Class []string `yaml:"class"`

	detailRE *regexp.Regexp
	sourceRE *regexp.Regexp
}

var (
	knownSignals = []ledger.Signal{
		ledger.SignalRunnerAccess, ledger.SignalRunner401, ledger.SignalRunnerAuthEnabled,
		ledger.SignalBackendProxy401, ledger.SignalBackendListener401, ledger.SignalOperatorWorkflow401,
		ledger.SignalOperatorRepo401, ledger.SignalRunError401, ledger.SignalRunEvent, ledger.SignalCondition,
		ledger.SignalAPI, ledger.SignalGap, ledger.SignalSessionState, ledger.SignalUnansweredByRunner,
		ledger.SignalFault, ledger.SignalSpecChangeRefused,
	}
	knownPhases  = ledger.Phases
	knownClasses = []ledger.Class{ledger.ClassFromRelease, ledger.ClassUpgrade}
	knownWindows = []string{EvidenceAfterUpgrade, EvidenceAfterRollback}
	knownCallers = []ledger.Caller{ledger.CallerBackend, ledger.CallerOperator, ledger.CallerHarness,
		ledger.CallerRunner, ledger.CallerKubelet, ledger.CallerUnknown}
	knownRoles = []string{ledger.RolePreUpgrade, ledger.RolePostUpgrade, ledger.RoleRestarted}
)

var defaultRules = mustLoadDefault()

func mustLoadDefault() *RuleSet {
	rs, err := LoadRules(defaultRulesYAML)
	if err != nil {
		// The file is compiled in and covered by tests; a broken one is a build defect.
		panic("harness/verdict/rules.yaml: " + err.Error())
	}
	return rs
}

// Evidence windows a rule can ask to be decided in.
const (
	EvidenceAfterUpgrade  = "after-upgrade"
	EvidenceAfterRollback = "after-rollback"
)

// DefaultRules returns the embedded rules.yaml.
func DefaultRules() *RuleSet { return defaultRules }

// Names lists the rule names in file order.
func (rs *RuleSet) Names() []string {
	out := make([]string, len(rs.Rules))
	for i, r := range rs.Rules {
		out[i] = r.Name
	}
	return out
}

// ForEvidence lists the rules whose Evidence is window, in file order.
func (rs *RuleSet) ForEvidence(window string) []string {
	var out []string
	for _, r := range rs.Rules {
		if r.Evidence == window {
			out = append(out, r.Name)
		}
	}
	return out
}

// Rule returns the rule with the given name.
func (rs *RuleSet) Rule(name string) (Rule, bool) {
	for _, r := range rs.Rules {
		if r.Name == name {
			return r, true
		}
	}
	return Rule{}, false
}

// LoadRules parses and validates a rules file. Unknown fields, unknown signal,
// phase, caller or role values, and bad regexes are errors naming the rule.
func LoadRules(data []byte) (*RuleSet, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var rs RuleSet
	if err := dec.Decode(&rs); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if len(rs.Rules) == 0 {
		return nil, fmt.Errorf("rules: no rules under \"rules:\"")
	}
	seen := map[string]bool{}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if r.Name == "" {
			return nil, fmt.Errorf("rules[%d]: name is empty", i)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("rules[%d]: name %q is used twice", i, r.Name)
		}
		seen[r.Name] = true
		if len(r.Fail)+len(r.Inconclusive)+len(r.Require)+len(r.Pass) == 0 {
			return nil, fmt.Errorf("rule %q: has no fail, inconclusive, require or pass clause", r.Name)
		}
		if r.Sessions != nil && !contains(knownRoles, r.Sessions.Role) {
			return nil, fmt.Errorf("rule %q: sessions.role %q is not one of %v", r.Name, r.Sessions.Role, knownRoles)
		}
		if r.Evidence != "" && !contains(knownWindows, r.Evidence) {
			return nil, fmt.Errorf("rule %q: evidence %q is not one of %v", r.Name, r.Evidence, knownWindows)
		}
		if r.When != nil {
			if err := r.When.compile(); err != nil {
				return nil, fmt.Errorf("rule %q: when: %w", r.Name, err)
			}
		}
		for kind, clauses := range map[string][]Clause{"fail": r.Fail, "inconclusive": r.Inconclusive, "require": r.Require, "pass": r.Pass} {
			for j := range clauses {
				c := &clauses[j]
				where := fmt.Sprintf("rule %q: %s[%d]", r.Name, kind, j)
				if c.Name == "" {
					return nil, fmt.Errorf("%s: name is empty (it is what reasons cite)", where)
				}
				if c.When != nil && kind != "require" {
					return nil, fmt.Errorf("%s (%q): when is only valid in require clauses", where, c.Name)
				}
				if len(c.Working) > 0 && kind != "require" && kind != "pass" {
					return nil, fmt.Errorf("%s (%q): working is only valid in require and pass clauses (a 401 or an error counts at every level)", where, c.Name)
				}
				for _, l := range c.Working {
					if _, err := ParseWorkingLevel(string(l)); err != nil {
						return nil, fmt.Errorf("%s (%q) working: %w", where, c.Name, err)
					}
				}
				if c.EachFamily && kind != "require" {
					return nil, fmt.Errorf("%s (%q): eachFamily is only valid in require clauses", where, c.Name)
				}
				for field, sel := range map[string]*Selector{"match": &c.Match, "after": c.After, "when": c.When} {
					if sel == nil {
						continue
					}
					if err := sel.compile(); err != nil {
						return nil, fmt.Errorf("%s (%q) %s: %w", where, c.Name, field, err)
					}
				}
			}
		}
	}
	for _, r := range rs.Rules {
		if err := r.checkLevels(); err != nil {
			return nil, err
		}
	}
	return &rs, nil
}

// LevelDependent reports whether some clause of r counts only at some working levels.
func (r Rule) LevelDependent() bool {
	for _, c := range append(append([]Clause(nil), r.Require...), r.Pass...) {
		if len(c.Working) > 0 {
			return true
		}
	}
	return false
}

// checkLevels refuses a level-dependent rule that has, at some level, no
// require or pass clause left: it would pass there on the absence of failures.
func (r Rule) checkLevels() error {
	if !r.LevelDependent() {
		return nil
	}
	for _, l := range WorkingLevels {
		n := 0
		for _, c := range append(append([]Clause(nil), r.Require...), r.Pass...) {
			if c.appliesAt(l) {
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("rule %q: no require or pass clause applies at working level %s (want one with working: [%s] or none)", r.Name, l, l)
		}
	}
	return nil
}

// appliesAt reports whether the clause counts at level l.
func (c Clause) appliesAt(l WorkingLevel) bool {
	return len(c.Working) == 0 || contains(c.Working, l)
}

// StatusMatch is an HTTP status a selector accepts: one code (401) or, written
// "2xx", a class of them.
type StatusMatch struct{ lo, hi int }

// UnmarshalYAML reads 401 or "4xx".
func (m *StatusMatch) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	if n.Kind == yaml.ScalarNode {
		if code, err := strconv.Atoi(v); err == nil && code >= 100 && code <= 599 {
			*m = StatusMatch{code, code}
			return nil
		}
		if len(v) == 3 && v[0] >= '1' && v[0] <= '5' && strings.EqualFold(v[1:], "xx") {
			lo := int(v[0]-'0') * 100
			*m = StatusMatch{lo, lo + 99}
			return nil
		}
	}
	return fmt.Errorf("line %d: status %q is not an HTTP status (want a code such as 401 or a class such as 2xx)", n.Line, v)
}

func statusMatches(ms []StatusMatch, status int) bool {
	for _, m := range ms {
		if status >= m.lo && status <= m.hi {
			return true
		}
	}
	return false
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Selector) compile() error {
	for _, v := range s.Signal {
		if !contains(knownSignals, ledger.Signal(v)) {
			return fmt.Errorf("signal %q is not one of %v", v, knownSignals)
		}
	}
	for _, v := range s.Phase {
		if !contains(knownPhases, ledger.Phase(v)) {
			return fmt.Errorf("phase %q is not one of %v", v, knownPhases)
		}
	}
	for _, v := range s.Caller {
		if !contains(knownCallers, ledger.Caller(v)) {
			return fmt.Errorf("caller %q is not one of %v", v, knownCallers)
		}
	}
	for _, v := range s.Role {
		if !contains(knownRoles, v) {
			return fmt.Errorf("role %q is not one of %v", v, knownRoles)
		}
	}
	for _, v := range s.Class {
		if !contains(knownClasses, ledger.Class(v)) {
			return fmt.Errorf("class %q is not one of %v", v, knownClasses)
		}
	}
	var err error
	if s.Detail != "" {
		if s.detailRE, err = regexp.Compile(s.Detail); err != nil {
			return fmt.Errorf("detail %q is not an RE2 regex: %v", s.Detail, err)
		}
	}
	if s.Source != "" {
		if s.sourceRE, err = regexp.Compile(s.Source); err != nil {
			return fmt.Errorf("source %q is not an RE2 regex: %v", s.Source, err)
		}
	}
	return nil
}

// entry is an observation with the session role the rules see.
type entry struct {
	obs  ledger.Observation
	role string
}

func (s *Selector) matches(e entry) bool {
	o := e.obs
	if len(s.Signal) > 0 && !contains(s.Signal, string(o.Signal)) ||
		len(s.Role) > 0 && !contains(s.Role, e.role) ||
		len(s.Phase) > 0 && !contains(s.Phase, string(o.Phase)) ||
		len(s.Caller) > 0 && !contains(s.Caller, string(o.Caller)) ||
		len(s.Method) > 0 && !contains(s.Method, o.Method) ||
		len(s.Status) > 0 && !statusMatches(s.Status, o.Status) ||
		len(s.Class) > 0 && !contains(s.Class, string(o.Class)) {
		return false
	}
	if len(s.Path) > 0 {
		ok := false
		for _, p := range s.Path {
			ok = ok || glob(p, o.Path) || glob(p, platform.PathFamily(o.Path))
		}
		if !ok {
			return false
		}
	}
	if s.detailRE != nil && !s.detailRE.MatchString(o.Detail) {
		return false
	}
	if s.sourceRE != nil && !s.sourceRE.MatchString(o.Source) {
		return false
	}
	return true
}

// glob matches with '*' standing for any run of characters, '/' included.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// EvaluateInput is what the rules read.
type EvaluateInput struct {
	Observations []ledger.Observation
	// Roles overrides session roles, keyed "namespace/session": every entry of
	// such a session takes that one role. Otherwise each entry keeps the Role
	// the ledger gave it (the role its session held at the entry's Time), and
	// an entry without one takes the role its session held last at or before
	// its Time (the first role, for entries before any). A session is judged
	// under every role it held, each on the entries of that stretch: a
	// pre-upgrade session later restarted keeps its pre-upgrade evidence up to
	// the restart.
	Roles map[string]string
	// Rules defaults to the embedded rules.yaml.
	Rules *RuleSet
	// From is the cell's from release: 401s are classified against it (see
	// Annotate). Observations already annotated keep their classes.
	From string
	// Annotated says the observations went through Annotate already.
	Annotated bool
	// Working is the evidence a session needs to count as working
	// (DefaultWorkingLevel when empty); see WorkingLevel.
	Working WorkingLevel
}

// Evaluate runs every rule over the observations, in file order. Rules whose
// When matches nothing are left out.
func Evaluate(in EvaluateInput) []RuleResult {
	rs := in.Rules
	if rs == nil {
		rs = DefaultRules()
	}
	obs := in.Observations
	if !in.Annotated {
		obs = Annotate(obs, in.From)
	}
	obs = append([]ledger.Observation(nil), obs...)
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].Time.Before(obs[j].Time) })
	entries := entriesWithRoles(obs, in.Roles)
	level := in.Working.Or(DefaultWorkingLevel)
	out := make([]RuleResult, 0, len(rs.Rules))
	for _, r := range rs.Rules {
		if r.When != nil && !anyMatch(r.When, entries) {
			continue
		}
		res := evaluateRule(r, entries, level)
		res.Informational = r.Informational
		out = append(out, res)
	}
	return out
}

// entriesWithRoles gives every observation (sorted by Time) the role its
// session held at that time; see EvaluateInput.Roles.
func entriesWithRoles(obs []ledger.Observation, override map[string]string) []entry {
	first := map[string]string{}
	for _, o := range obs {
		if k := sessionKey(o); k != "" && o.Role != "" && first[k] == "" {
			first[k] = o.Role
		}
	}
	current := map[string]string{}
	entries := make([]entry, len(obs))
	for i, o := range obs {
		k := sessionKey(o)
		role := o.Role
		switch {
		case k == "":
		case override[k] != "":
			role = override[k]
		case role != "":
			current[k] = role
		case current[k] != "":
			role = current[k]
		default:
			role = first[k]
		}
		entries[i] = entry{obs: o, role: role}
	}
	return entries
}

func sessionKey(o ledger.Observation) string {
	if o.Session == "" {
		return ""
	}
	return o.Namespace + "/" + o.Session
}

// evaluateRule judges r at the working level; a level-dependent rule's
// result names the level it was judged at.
func evaluateRule(r Rule, entries []entry, level WorkingLevel) RuleResult {
	res := evaluateRuleScopes(r, entries, level)
	if r.LevelDependent() {
		res.Working = level
		res.Reason = "at working level " + string(level) + ": " + res.Reason
	}
	return res
}

func evaluateRuleScopes(r Rule, entries []entry, level WorkingLevel) RuleResult {
	res := RuleResult{Rule: r.Name, Description: r.Description}
	if r.Sessions == nil {
		res.Verdict, res.Reason, res.Evidence = evaluateScope(r, entries, level)
		return res
	}
	// Every session that held the role at some time, judged on the entries
	// of the time it held it.
	scoped := map[string][]entry{}
	for _, e := range entries {
		if k := sessionKey(e.obs); k != "" && e.role == r.Sessions.Role {
			scoped[k] = append(scoped[k], e)
		}
	}
	sessions := make([]string, 0, len(scoped))
	for k := range scoped {
		sessions = append(sessions, k)
	}
	sort.Strings(sessions)
	res.Sessions = sessions
	if len(sessions) == 0 {
		res.Verdict = Inconclusive
		res.Reason = fmt.Sprintf("no session with role %q in the ledger", r.Sessions.Role)
		return res
	}
	var per []RuleResult
	for _, s := range sessions {
		v, reason, ev := evaluateScope(r, scoped[s], level)
		per = append(per, RuleResult{Rule: s, Verdict: v, Reason: reason, Evidence: ev})
	}
	res.Verdict = Combine(per)
	var reasons []string
	for _, p := range per {
		if p.Verdict == res.Verdict {
			reasons = append(reasons, "session "+p.Rule+": "+p.Reason)
			res.Evidence = append(res.Evidence, p.Evidence...)
		}
	}
	res.Reason = strings.Join(reasons, "; ")
	res.Evidence = capEvidence(res.Evidence)
	return res
}

// selectClause returns the entries matching c (after its anchor, if any).
func selectClause(c Clause, entries []entry) []ledger.Observation {
	start := 0
	if c.After != nil {
		last := -1
		for i, e := range entries {
			if c.After.matches(e) {
				last = i
			}
		}
		if last < 0 {
			return nil
		}
		start = last + 1
	}
	var out []ledger.Observation
	for _, e := range entries[start:] {
		if c.Match.matches(e) {
			out = append(out, e.obs)
		}
	}
	return out
}

func anyMatch(sel *Selector, entries []entry) bool {
	for _, e := range entries {
		if sel.matches(e) {
			return true
		}
	}
	return false
}

func evaluateScope(r Rule, entries []entry, level WorkingLevel) (Verdict, string, []ledger.Observation) {
	var failed []string
	var evidence []ledger.Observation
	for _, c := range r.Fail {
		if m := selectClause(c, entries); len(m) > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d entries, first %s", c.Name, len(m), describe(m[0])))
			evidence = append(evidence, m...)
		}
	}
	if len(failed) > 0 {
		return Fail, strings.Join(failed, "; "), capEvidence(evidence)
	}
	for _, c := range r.Inconclusive {
		if m := selectClause(c, entries); len(m) > 0 {
			return Inconclusive, fmt.Sprintf("%s: %d entries, first %s", c.Name, len(m), describe(m[0])), capEvidence(m)
		}
	}
	require, pass := appliesAt(r.Require, level), appliesAt(r.Pass, level)
	var missing []string
	for _, c := range require {
		if c.When != nil && !anyMatch(c.When, entries) {
			continue
		}
		if c.EachFamily {
			ev, notSeen := familyCoverage(c, entries)
			evidence = append(evidence, ev...)
			missing = append(missing, notSeen...)
			continue
		}
		if m := selectClause(c, entries); len(m) > 0 {
			evidence = append(evidence, m[0])
		} else {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		return Inconclusive, "no 401 seen, but no traffic observed for: " + strings.Join(missing, ", "), nil
	}
	if len(require) > 0 && len(pass) == 0 {
		return Pass, "observed: " + clauseNames(require), capEvidence(evidence)
	}
	for _, c := range pass {
		if m := selectClause(c, entries); len(m) > 0 {
			evidence = append(evidence, m[0])
		} else {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		return Inconclusive, "not observed: " + strings.Join(missing, ", ") + metAtOtherLevels(r, entries, level), nil
	}
	if len(pass)+len(require) == 0 {
		return Pass, "no entry matched any fail or inconclusive clause", nil
	}
	return Pass, "observed: " + clauseNames(append(append([]Clause(nil), require...), pass...)), evidence
}

// appliesAt keeps the clauses that count at level.
func appliesAt(cs []Clause, level WorkingLevel) []Clause {
	var out []Clause
	for _, c := range cs {
		if c.appliesAt(level) {
			out = append(out, c)
		}
	}
	return out
}

// metAtOtherLevels names the other working levels whose pass clauses the
// entries meet, so an inconclusive reason says what a laxer level would
// have counted (e.g. a runner that starts runs but never finishes one).
func metAtOtherLevels(r Rule, entries []entry, level WorkingLevel) string {
	if !r.LevelDependent() {
		return ""
	}
	var met []string
	for _, l := range WorkingLevels {
		if l == level {
			continue
		}
		pass, all := appliesAt(r.Pass, l), true
		for _, c := range pass {
			all = all && len(selectClause(c, entries)) > 0
		}
		if all && len(pass) > 0 {
			met = append(met, fmt.Sprintf("%s (%s)", l, clauseNames(pass)))
		}
	}
	if len(met) == 0 {
		return ""
	}
	return "; the evidence of working level " + strings.Join(met, " and of ") + " was seen"
}

func clauseNames(cs []Clause) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

func describe(o ledger.Observation) string {
	var b strings.Builder
	b.WriteString(string(o.Signal))
	if o.Caller != "" {
		b.WriteString(" from " + string(o.Caller))
	}
	if o.Method != "" || o.Path != "" {
		b.WriteString(" " + strings.TrimSpace(o.Method+" "+o.Path))
	}
	if o.Status != 0 {
		b.WriteString(" " + strconv.Itoa(o.Status))
	}
	if o.Session != "" {
		b.WriteString(" session " + o.Namespace + "/" + o.Session)
	}
	if o.Detail != "" && o.Signal != ledger.SignalRunnerAccess && o.Signal != ledger.SignalRunner401 {
		b.WriteString(" (" + o.Detail + ")")
	}
	b.WriteString(" at " + o.Time.UTC().Format("15:04:05.000"))
	return b.String()
}

func capEvidence(ev []ledger.Observation) []ledger.Observation {
	if len(ev) > maxEvidence {
		return ev[:maxEvidence]
	}
	return ev
}

// Combine folds rule results into a cell verdict: any fail is a fail, else any
// inconclusive is inconclusive, else pass. Informational rules do not count.
// No deciding result at all is inconclusive: nothing was checked.
func Combine(results []RuleResult) Verdict {
	v, n := Pass, 0
	for _, r := range results {
		if r.Informational {
			continue
		}
		n++
		switch r.Verdict {
		case Fail:
			return Fail
		case Pass:
		default:
			v = Inconclusive
		}
	}
	if n == 0 {
		return Inconclusive
	}
	return v
}

// Count401s counts runner 401 access lines by caller, path family, class and
// the releases on both sides, largest count first. Observations should be
// annotated (see Annotate) so classes are known.
func Count401s(obs []ledger.Observation) []Count401 {
	counts := map[Count401]int{}
	for _, o := range obs {
		if o.Signal != ledger.SignalRunner401 {
			continue
		}
		caller := o.Caller
		if caller == "" {
			caller = ledger.CallerUnknown
		}
		counts[Count401{Caller: caller, Method: o.Method, Path: platform.PathFamily(o.Path), Class: o.Class,
			CallerRelease: o.CallerRelease, RunnerRelease: o.RunnerRelease}]++
	}
	out := make([]Count401, 0, len(counts))
	for k, n := range counts {
		k.Count = n
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Caller != b.Caller {
			return a.Caller < b.Caller
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		return a.CallerRelease+a.RunnerRelease < b.CallerRelease+b.RunnerRelease
	})
	return out
}

// Match reports whether a cell's outcome meets its expectation: the cell
// verdict and every pinned rule verdict must be equal, every caller and family
// the expectation names as unauthorized must have runner 401s and every one it
// names as authorized none, and every diagnosis it expects must have been
// established. The string says why not (or "matched").
func Match(got Outcome, want Expectation) (bool, string) {
	var diffs []string
	if got.Verdict != want.Verdict {
		diffs = append(diffs, fmt.Sprintf("verdict %s, expected %s", got.Verdict, want.Verdict))
	}
	names := make([]string, 0, len(want.Rules))
	for n := range want.Rules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		found := false
		for _, r := range got.Rules {
			if r.Rule == n {
				found = true
				if r.Verdict != want.Rules[n] {
					diffs = append(diffs, fmt.Sprintf("rule %s %s, expected %s (%s)", n, r.Verdict, want.Rules[n], r.Reason))
				}
			}
		}
		if !found {
			diffs = append(diffs, fmt.Sprintf("rule %s pinned to %s but not evaluated (known rules: %s)", n, want.Rules[n], ruleNames(got.Rules)))
		}
	}
	for _, a := range want.Unauthorized {
		if count401s(got.Unauthorized, a) == 0 {
			diffs = append(diffs, fmt.Sprintf("expected runner 401s for %s, saw none", a))
		}
	}
	for _, a := range want.Authorized {
		if n := count401s(got.Unauthorized, a); n > 0 {
			diffs = append(diffs, fmt.Sprintf("expected no runner 401 for %s, saw %d", a, n))
		}
	}
	diffs = append(diffs, matchDiagnoses(got.Diagnoses, want.Diagnoses)...)
	if len(diffs) == 0 {
		return true, "matched"
	}
	why := strings.Join(diffs, "; ")
	if want.Why != "" {
		why += " [expectation: " + want.Why + "]"
	}
	return false, why
}

func count401s(counts []Count401, a Attribution) int {
	n := 0
	for _, c := range counts {
		if a.Covers(c) {
			n += c.Count
		}
	}
	return n
}

func ruleNames(rs []RuleResult) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Rule
	}
	return strings.Join(names, ", ")
}
