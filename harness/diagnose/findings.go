package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/probe"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Findings is the diagnosis of one cell.
type Findings struct {
	// Pairs are the broken caller→runner pairs (401s caused by the upgrade).
	Pairs []PairDiagnosis `json:"pairs,omitempty"`
	// Runners are the runner pods the probe called, with what each showed.
	Runners []RunnerProbe `json:"runners,omitempty"`
	// RestartBreaks are restarted sessions that could not run again.
	RestartBreaks []RestartBreak `json:"restartBreaks,omitempty"`
	// Probe is the probe pod's run; ProbeError says why the probe failed.
	Probe      *probe.PodRun `json:"probe,omitempty"`
	ProbeError string        `json:"probeError,omitempty"`
	// Wire is whether the wire witness covered the cell.
	Wire *WireStatus   `json:"wire,omitempty"`
	Took time.Duration `json:"took"`
	// Note says why there was nothing to diagnose.
	Note string `json:"note,omitempty"`
}

// PairDiagnosis is one broken caller→runner pair and its mechanism.
type PairDiagnosis struct {
	Caller        ledger.Caller `json:"caller"`
	CallerRelease string        `json:"callerRelease,omitempty"`
	RunnerRelease string        `json:"runnerRelease,omitempty"`
	// Families are the path families that got 401 (PathFamily form), Count their 401s.
	Families []string               `json:"families"`
	Count    int                    `json:"count"`
	Class    verdict.DiagnosisClass `json:"class"`
	// Why is one plain sentence: pair, families, and the probe's evidence.
	Why string `json:"why"`
	// Runners are the probed pods (namespace/name) the class comes from.
	Runners []string `json:"runners,omitempty"`
	// Basis is what the class rests on: the wire (what the caller sent,
	// joined with the runner's Secret and the probe) or the probe only, with
	// WireNote saying why there was no wire evidence.
	Basis    Basis  `json:"basis,omitempty"`
	WireNote string `json:"wireNote,omitempty"`
	// Header is the token-like header name the caller used (header-name-mismatch from the wire).
	Header string `json:"header,omitempty"`
	// SentToken is whose token the caller sent, RunnerToken the value the
	// runner holds (its env's Secret and key): fingerprints, never values.
	SentToken   *TokenOrigin `json:"sentToken,omitempty"`
	RunnerToken *TokenOrigin `json:"runnerToken,omitempty"`
	// Evidence are the wire lines the class rests on (FormatWire), at most a few.
	Evidence []string `json:"evidence,omitempty"`
}

// RunnerProbe is one probed runner pod.
type RunnerProbe struct {
	Pod           string `json:"pod"`
	Session       string `json:"session"`
	RunnerRelease string `json:"runnerRelease,omitempty"`
	// EnvToken says where the runner's AGUI_TOKEN comes from, per its pod spec
	// ("Secret ambient-runner-token-s key agui-token"; "" when unset);
	// EnvSecret and EnvKey are its parts.
	EnvToken  string `json:"envToken,omitempty"`
	EnvSecret string `json:"-"`
	EnvKey    string `json:"-"`
	// Report is the probe's raw answers (statuses, key names, fingerprint).
	Report  *probe.Report `json:"report,omitempty"`
	Verdict RunnerVerdict `json:"verdict"`
	// ProbeEvents are the kubelet's probe failures of the pod (events).
	ProbeEvents []string `json:"probeEvents,omitempty"`
}

// RestartBreak is a restarted session that could not run again.
type RestartBreak struct {
	Namespace string                 `json:"namespace"`
	Session   string                 `json:"session"`
	Class     verdict.DiagnosisClass `json:"class"`
	Reason    string                 `json:"reason,omitempty"`
	Message   string                 `json:"message,omitempty"`
	// Secret, MissingKey and SecretKeys: the token Secret, the key the
	// container's env needs, and the keys it has (names only).
	Secret     string   `json:"secret,omitempty"`
	MissingKey string   `json:"missingKey,omitempty"`
	SecretKeys []string `json:"secretKeys,omitempty"`
	Container  string   `json:"container,omitempty"`
	EnvVar     string   `json:"envVar,omitempty"`
	Why        string   `json:"why"`
}

// Diagnoses are the classes established, for verdict.Match: one per pair
// caller and class, one per restart-break class. An empty (non-nil) list
// means the cell was diagnosed and nothing was broken.
func (f *Findings) Diagnoses() []verdict.Diagnosis {
	if f == nil {
		return nil
	}
	out := []verdict.Diagnosis{}
	seen := map[verdict.Diagnosis]bool{}
	add := func(d verdict.Diagnosis) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, p := range f.Pairs {
		add(verdict.Diagnosis{Caller: p.Caller, Class: p.Class, Detail: p.Detail()})
	}
	for _, b := range f.RestartBreaks {
		add(verdict.Diagnosis{Class: b.Class})
	}
	return out
}

// Detail is what the pair's class names (verdict.Diagnosis.Detail): the
// header the caller used for header-name-mismatch, whose token it sent for
// wrong-token; "" otherwise or when the wire did not tell.
func (p PairDiagnosis) Detail() string {
	switch {
	case p.Basis != BasisWire:
		return ""
	case p.Class == verdict.DiagHeaderNameMismatch:
		return p.Header
	case p.Class == verdict.DiagWrongToken && p.SentToken != nil:
		switch p.SentToken.Whose {
		case WhoseOtherSession:
			return verdict.WrongTokenOtherSession
		case WhoseOtherKey:
			return verdict.WrongTokenOtherKey + " " + p.SentToken.Key
		}
		return verdict.WrongTokenUnknown
	}
	return ""
}

// Sentences are the findings in plain words, one per pair and restart break.
func (f *Findings) Sentences() []string {
	if f == nil {
		return nil
	}
	var out []string
	for _, p := range f.Pairs {
		out = append(out, p.Why)
	}
	for _, b := range f.RestartBreaks {
		out = append(out, b.Why)
	}
	if len(out) == 0 && f.Note != "" {
		out = append(out, f.Note)
	}
	return out
}

// Input configures Diagnose.
type Input struct {
	Kube kubernetes.Interface
	// Ledger is the cell's annotated ledger (cell.Result.Ledger), Unauthorized
	// its 401 counts and Rules its rule results.
	Ledger       []ledger.Observation
	Unauthorized []verdict.Count401
	Rules        []verdict.RuleResult
	// ProbeImage is the runner probe image, already on the nodes.
	ProbeImage string
	// MaxRunners bounds the runner pods probed (default 6).
	MaxRunners int
	// RunProbe runs the probe pod (default probe.RunPod; tests replace it).
	RunProbe func(context.Context, probe.PodInput) ([]probe.Report, probe.PodRun, error)
	Logf     func(string, ...any)
}

// NeedsDiagnosis reports whether a cell has something to diagnose: a runner
// 401 caused by the upgrade, or a failed restart.
func NeedsDiagnosis(unauthorized []verdict.Count401, rules []verdict.RuleResult) bool {
	return len(brokenPairs(unauthorized)) > 0 || restartFailed(rules) != nil
}

// Diagnose establishes the mechanism of every broken pair and restart break
// of a cell, on the cluster as the cell left it (its sessions still there).
func Diagnose(ctx context.Context, in Input) *Findings {
	start := time.Now()
	f := &Findings{}
	defer func() { f.Took = time.Since(start) }()
	if in.MaxRunners <= 0 {
		in.MaxRunners = 6
	}
	if in.RunProbe == nil {
		in.RunProbe = probe.RunPod
	}
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	pairs := brokenPairs(in.Unauthorized)
	restart := restartFailed(in.Rules)
	if len(pairs) == 0 && restart == nil {
		f.Note = "nothing to diagnose: no runner 401 caused by the upgrade and no failed restart"
		return f
	}
	if len(pairs) > 0 {
		diagnosePairs(ctx, in, f, pairs, logf)
	}
	if restart != nil {
		f.RestartBreaks = diagnoseRestarts(ctx, in.Kube, restart)
	}
	return f
}

type pairKey struct {
	caller                       ledger.Caller
	callerRelease, runnerRelease string
}

// brokenPairs groups the 401s caused by the upgrade by caller and releases.
func brokenPairs(counts []verdict.Count401) map[pairKey]*PairDiagnosis {
	out := map[pairKey]*PairDiagnosis{}
	for _, c := range counts {
		if c.Class == ledger.ClassFromRelease || c.Count == 0 {
			continue
		}
		k := pairKey{c.Caller, c.CallerRelease, c.RunnerRelease}
		p := out[k]
		if p == nil {
			p = &PairDiagnosis{Caller: c.Caller, CallerRelease: c.CallerRelease, RunnerRelease: c.RunnerRelease}
			out[k] = p
		}
		p.Count += c.Count
		if !contains(p.Families, c.Path) {
			p.Families = append(p.Families, c.Path)
		}
	}
	for _, p := range out {
		sortFamilies(p.Caller, p.Families)
	}
	return out
}

// sortFamilies orders families as platform.CallFamilies does, others after.
func sortFamilies(caller ledger.Caller, fams []string) {
	rank := func(path string) int {
		for i, f := range platform.CallFamilies {
			if string(f.Caller) == string(caller) && f.Path == path {
				return i
			}
		}
		return len(platform.CallFamilies)
	}
	sort.SliceStable(fams, func(i, j int) bool {
		ri, rj := rank(fams[i]), rank(fams[j])
		if ri != rj {
			return ri < rj
		}
		return fams[i] < fams[j]
	})
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

type runnerRef struct{ namespace, pod, session, release string }

func diagnosePairs(ctx context.Context, in Input, f *Findings, pairs map[pairKey]*PairDiagnosis, logf func(string, ...any)) {
	// The runner pods each pair's 401s hit, most recent first (likeliest alive).
	byPair := map[pairKey][]runnerRef{}
	for i := len(in.Ledger) - 1; i >= 0; i-- {
		o := in.Ledger[i]
		if o.Signal != ledger.SignalRunner401 || o.Class == ledger.ClassFromRelease || o.RunnerPod == "" {
			continue
		}
		k := pairKey{o.Caller, o.CallerRelease, o.RunnerRelease}
		if o.Caller == "" {
			k.caller = ledger.CallerUnknown
		}
		if _, ok := pairs[k]; !ok {
			continue
		}
		ns, pod, _ := strings.Cut(o.RunnerPod, "/")
		ref := runnerRef{namespace: ns, pod: pod, session: o.Session, release: o.RunnerRelease}
		if !contains(byPair[k], ref) {
			byPair[k] = append(byPair[k], ref)
		}
	}
	// Up to two live pods per pair, MaxRunners in all, each probed once.
	var targets []probe.Target
	probes := map[string]*RunnerProbe{}
	var order []string
	for _, k := range sortedPairKeys(pairs) {
		live := 0
		for _, ref := range byPair[k] {
			id := ref.namespace + "/" + ref.pod
			if _, done := probes[id]; done {
				live++
				continue
			}
			if live >= 2 || len(order) >= in.MaxRunners {
				break
			}
			rp := &RunnerProbe{Pod: id, Session: ref.session, RunnerRelease: ref.release}
			probes[id], order = rp, append(order, id)
			if k.caller == ledger.CallerKubelet {
				rp.ProbeEvents = probeFailureEvents(ctx, in.Kube, ref.namespace, ref.pod)
			}
			pod, err := in.Kube.CoreV1().Pods(ref.namespace).Get(ctx, ref.pod, metav1.GetOptions{})
			switch {
			case err != nil:
				rp.Verdict = RunnerVerdict{Class: verdict.DiagNotProbed, Why: fmt.Sprintf("runner pod %s is gone: %v", id, err)}
				continue
			case pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" || pod.DeletionTimestamp != nil:
				rp.Verdict = RunnerVerdict{Class: verdict.DiagNotProbed, Why: fmt.Sprintf("runner pod %s is not running (phase %s)", id, pod.Status.Phase)}
				continue
			}
			rp.EnvSecret, rp.EnvKey = envTokenRef(pod)
			rp.EnvToken = envTokenSource(pod)
			targets = append(targets, probe.NewTarget(ref.namespace, ref.session, ref.pod, pod.Status.PodIP, runnerPort(pod)))
			live++
		}
	}
	if len(targets) > 0 {
		if in.ProbeImage == "" {
			f.ProbeError = "no probe image"
		} else {
			reports, run, err := in.RunProbe(ctx, probe.PodInput{Kube: in.Kube, Image: in.ProbeImage, Targets: targets, Logf: logf})
			if run.Pod != "" {
				f.Probe = &run
			}
			if err != nil {
				f.ProbeError = err.Error()
				logf("probe: %v", err)
			}
			for i := range reports {
				rep := reports[i]
				if rp := probes[rep.Target.Namespace+"/"+rep.Target.Pod]; rp != nil {
					rp.Report = &rep
					rp.Verdict = ClassifyRunner(rep)
				}
			}
		}
		for _, id := range order {
			if rp := probes[id]; rp.Report == nil && rp.Verdict.Class == "" {
				rp.Verdict = RunnerVerdict{Class: verdict.DiagNotProbed, Why: "the probe did not report this runner: " + orUnknown(f.ProbeError)}
			}
		}
	}
	for _, id := range order {
		f.Runners = append(f.Runners, *probes[id])
	}
	status := NewWireStatus(in.Ledger)
	f.Wire = &status
	j := newJoiner(ctx, in, probes, byPair)
	for _, k := range sortedPairKeys(pairs) {
		p := pairs[k]
		var seen []*RunnerProbe
		for _, ref := range byPair[k] {
			if rp := probes[ref.namespace+"/"+ref.pod]; rp != nil && !contains(seen, rp) {
				seen = append(seen, rp)
			}
		}
		classifyPair(p, seen)
		f.Pairs = append(f.Pairs, j.join(k, *p, seen, status)...)
	}
}

func sortedPairKeys(m map[pairKey]*PairDiagnosis) []pairKey {
	keys := make([]pairKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.caller != b.caller {
			return a.caller < b.caller
		}
		if a.callerRelease != b.callerRelease {
			return a.callerRelease < b.callerRelease
		}
		return a.runnerRelease < b.runnerRelease
	})
	return keys
}

// classifyPair gives a pair the class its probed runners show. The kubelet's
// 401s are its probes on /health: the runner guards /health, by the probe's
// own GET /health or the kubelet's probe-failure events.
func classifyPair(p *PairDiagnosis, runners []*RunnerProbe) {
	head := pairHead(*p)
	for _, rp := range runners {
		p.Runners = append(p.Runners, rp.Pod)
	}
	if p.Caller == ledger.CallerKubelet {
		for _, rp := range runners {
			if rp.Verdict.HealthGuarded || len(rp.ProbeEvents) > 0 {
				p.Class = verdict.DiagGuardsHealth
				ev := "the probe's GET /health without a header got 401"
				if !rp.Verdict.HealthGuarded {
					ev = "kubelet events: " + rp.ProbeEvents[0]
				}
				p.Why = fmt.Sprintf("%s; runner %s guards /health (%s): %s", head, rp.Pod, ev, p.Class.Phrase())
				return
			}
		}
	}
	counts := map[verdict.DiagnosisClass]int{}
	var first *RunnerProbe
	for _, rp := range runners {
		if rp.Verdict.Class == verdict.DiagNotProbed {
			continue
		}
		counts[rp.Verdict.Class]++
		if first == nil || counts[rp.Verdict.Class] > counts[first.Verdict.Class] {
			first = rp
		}
	}
	if first == nil {
		p.Class = verdict.DiagNotProbed
		why := "no runner pod of the pair was left to probe"
		if len(runners) > 0 {
			why = runners[0].Verdict.Why
		}
		p.Why = fmt.Sprintf("%s; not probed: %s", head, why)
		return
	}
	p.Class = first.Verdict.Class
	p.Why = fmt.Sprintf("%s; %s (%s)", head, first.Verdict.Why, first.Pod)
	if p.Class == verdict.DiagRunnerRejectsSecretToken && first.EnvToken != "" && !strings.HasSuffix(first.EnvToken, " key "+platform.AGUITokenKey) {
		p.Why += fmt.Sprintf("; its AGUI_TOKEN comes from %s, not %s", first.EnvToken, platform.AGUITokenKey)
	}
	if len(counts) > 1 {
		var others []string
		for c := range counts {
			if c != p.Class {
				others = append(others, string(c))
			}
		}
		sort.Strings(others)
		p.Why += "; other runners of the pair showed " + strings.Join(others, ", ")
	}
}

// pairHead is the start of a pair's why: "backend v0.2.2 → runner v0.2.2: 401 on POST / and GET /events (×12)".
func pairHead(p PairDiagnosis) string {
	return fmt.Sprintf("%s → runner%s: 401 on %s (×%d)", side(string(p.Caller), p.CallerRelease), releaseSuffix(p.RunnerRelease),
		FamiliesText(platform.Component(p.Caller), p.Families), p.Count)
}

func side(component, release string) string {
	if release == "" || release == verdict.UnknownRelease {
		return component
	}
	return component + " " + release
}

func releaseSuffix(release string) string {
	if release == "" || release == verdict.UnknownRelease {
		return ""
	}
	return " " + release
}

// envTokenRef is the Secret and key the runner container's AGUI_TOKEN reads ("" when none).
func envTokenRef(pod *corev1.Pod) (string, string) {
	for _, c := range pod.Spec.Containers {
		if c.Name != platform.RunnerContainer {
			continue
		}
		for _, e := range c.Env {
			if e.Name == "AGUI_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
			}
		}
	}
	return "", ""
}

// envTokenSource reads where the runner container's AGUI_TOKEN comes from.
func envTokenSource(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name != platform.RunnerContainer {
			continue
		}
		for _, e := range c.Env {
			if e.Name != "AGUI_TOKEN" {
				continue
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return fmt.Sprintf("Secret %s key %s", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
			return "a literal value"
		}
	}
	return ""
}

func runnerPort(pod *corev1.Pod) int {
	for _, c := range pod.Spec.Containers {
		if c.Name != platform.RunnerContainer {
			continue
		}
		for _, p := range c.Ports {
			if p.Name == platform.RunnerPortName && p.ContainerPort > 0 {
				return int(p.ContainerPort)
			}
		}
	}
	return platform.RunnerPort
}

// probeFailureEvents are the kubelet's "probe failed" events of a pod (they
// outlive the pod).
func probeFailureEvents(ctx context.Context, kube kubernetes.Interface, ns, pod string) []string {
	list, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range list.Items {
		if e.Reason == "Unhealthy" && strings.Contains(e.Message, "statuscode: 401") && !contains(out, e.Message) {
			out = append(out, e.Message)
		}
	}
	sort.Strings(out)
	return out
}

// restartFailed returns the failing result of restarted-session-runs, if any.
func restartFailed(rules []verdict.RuleResult) *verdict.RuleResult {
	for i := range rules {
		if rules[i].Rule == "restarted-session-runs" && rules[i].Verdict == verdict.Fail {
			return &rules[i]
		}
	}
	return nil
}

var (
	readyFalseRE = regexp.MustCompile(`^Ready=False (\S+)(?:: (.*))?$`)
	missingKeyRE = regexp.MustCompile(`couldn't find key (\S+) in Secret ([^/\s]+)/(\S+)`)
)

// diagnoseRestarts reads the failing restart's evidence (its session's Ready
// condition), the token Secret's key names, the kubelet's events and a live
// runner pod's env to say which key which container needs.
func diagnoseRestarts(ctx context.Context, kube kubernetes.Interface, rule *verdict.RuleResult) []RestartBreak {
	type sess struct{ ns, name string }
	var order []sess
	found := map[sess]*RestartBreak{}
	for _, o := range rule.Evidence {
		s := sess{o.Namespace, o.Session}
		b := found[s]
		if b == nil {
			b = &RestartBreak{Namespace: o.Namespace, Session: o.Session, Class: verdict.DiagRestartFailed}
			found[s] = b
			order = append(order, s)
		}
		if m := readyFalseRE.FindStringSubmatch(o.Detail); m != nil && b.Reason == "" {
			b.Reason, b.Message = m[1], m[2]
		}
	}
	var out []RestartBreak
	for _, s := range order {
		b := found[s]
		if m := missingKeyRE.FindStringSubmatch(b.Message); m != nil {
			b.Class, b.MissingKey, b.Secret = verdict.DiagSecretLacksKey, m[1], m[3]
			ns := m[2]
			if sec, err := kube.CoreV1().Secrets(ns).Get(ctx, b.Secret, metav1.GetOptions{}); err == nil {
				for k := range sec.Data {
					b.SecretKeys = append(b.SecretKeys, k)
				}
				sort.Strings(b.SecretKeys)
			}
			b.Container = failedContainer(ctx, kube, ns, platform.RunnerPod(s.name), b.MissingKey)
			b.EnvVar = envNeedingKey(ctx, kube, ns, b.Container, b.MissingKey)
			who := "a container"
			if b.Container != "" {
				who = "container " + b.Container
			}
			env := "'s env"
			if b.EnvVar != "" {
				env = "'s env " + b.EnvVar
			}
			has := "it has " + keysText(b.SecretKeys)
			if contains(b.SecretKeys, b.MissingKey) {
				has = "it has it now"
			}
			b.Why = fmt.Sprintf("restarted session %s/%s cannot start (%s): Secret %s lacks key %s (%s), which %s%s requires",
				s.ns, s.name, b.Reason, b.Secret, b.MissingKey, has, who, env)
		} else {
			reason := b.Reason
			if reason == "" {
				reason = "phase Failed"
			}
			b.Why = fmt.Sprintf("restarted session %s/%s did not run again: %s %s", s.ns, s.name, reason, b.Message)
		}
		out = append(out, *b)
	}
	return out
}

// failedContainer is the container the kubelet's "couldn't find key" event
// names (events outlive the pod the operator deletes).
func failedContainer(ctx context.Context, kube kubernetes.Interface, ns, pod, key string) string {
	list, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
	if err != nil {
		return ""
	}
	fieldPathRE := regexp.MustCompile(`^spec\.(?:init)?[cC]ontainers\{(.+)\}$`)
	for _, e := range list.Items {
		if strings.Contains(e.Message, "couldn't find key "+key) {
			if m := fieldPathRE.FindStringSubmatch(e.InvolvedObject.FieldPath); m != nil {
				return m[1]
			}
		}
	}
	return ""
}

// envNeedingKey finds, in a live runner pod of the namespace (the same
// operator renders every pod alike), the env var of container that reads key
// from the token Secret.
func envNeedingKey(ctx context.Context, kube kubernetes.Interface, ns, container, key string) string {
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: platform.AppLabel + "=" + platform.RunnerAppLabelValue})
	if err != nil {
		return ""
	}
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			if container != "" && c.Name != container {
				continue
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Key == key &&
					strings.HasPrefix(e.ValueFrom.SecretKeyRef.Name, platform.RunnerTokenSecretPrefix) {
					return e.Name
				}
			}
		}
	}
	return ""
}

// FamiliesText renders a caller's path families as "POST /, GET /events and
// POST /repos/*" (add and remove together as /repos/*).
func FamiliesText(caller platform.Component, families []string) string {
	var parts []string
	hasAdd, hasRemove := contains(families, "/repos/add"), contains(families, "/repos/remove")
	for _, path := range families {
		if hasAdd && hasRemove && (path == "/repos/add" || path == "/repos/remove") {
			if path == "/repos/add" {
				parts = append(parts, methodOf(caller, path)+" /repos/*")
			}
			continue
		}
		parts = append(parts, strings.TrimSpace(methodOf(caller, path)+" "+path))
	}
	return joinAnd(parts)
}

func methodOf(caller platform.Component, path string) string {
	for _, f := range platform.CallFamilies {
		if f.Caller == caller && f.Path == path {
			return f.Method
		}
	}
	if path == "/health" {
		return "GET"
	}
	return ""
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
