package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// maxPodReads bounds the runner pods the join reads for their env (the
// probed ones are known already).
const maxPodReads = 20

// joiner joins the three sides of a broken pair: what the caller sent (the
// wire witness's requests), what the runner accepts (the probe) and where
// the runner's token comes from (its pod's env, the token Secrets).
type joiner struct {
	ctx    context.Context
	kube   kubernetes.Interface
	ledger []ledger.Observation
	counts []verdict.Count401
	// podSession maps namespace/pod to its session (from the runner's lines).
	podSession map[string]string
	// env maps namespace/pod to the Secret and key of its AGUI_TOKEN.
	env    map[string][2]string
	reads  int
	ix     *TokenIndex
	ixNote string
}

func newJoiner(ctx context.Context, in Input, probes map[string]*RunnerProbe, byPair map[pairKey][]runnerRef) *joiner {
	j := &joiner{ctx: ctx, kube: in.Kube, ledger: in.Ledger, counts: in.Unauthorized, podSession: map[string]string{}, env: map[string][2]string{}}
	for _, o := range in.Ledger {
		if o.RunnerPod != "" && o.Session != "" {
			j.podSession[o.RunnerPod] = o.Session
		}
	}
	for _, refs := range byPair {
		for _, r := range refs {
			if r.session != "" {
				j.podSession[r.namespace+"/"+r.pod] = r.session
			}
		}
	}
	for id, rp := range probes {
		if rp.EnvSecret != "" {
			j.env[id] = [2]string{rp.EnvSecret, rp.EnvKey}
		}
	}
	return j
}

// runnerOf is the runner a wire request went to.
func (j *joiner) runnerOf(o ledger.Observation) WireRunner {
	ns, pod, _ := strings.Cut(o.RunnerPod, "/")
	if ns == "" {
		ns = o.Namespace
	}
	r := WireRunner{Namespace: ns, Session: j.podSession[o.RunnerPod]}
	if r.Session == "" {
		r.Session = o.Session
	}
	if r.Session == "" {
		r.Session = strings.TrimSuffix(pod, "-runner")
	}
	env, ok := j.env[o.RunnerPod]
	if !ok && j.kube != nil && pod != "" && j.reads < maxPodReads {
		j.reads++
		if p, err := j.kube.CoreV1().Pods(ns).Get(j.ctx, pod, metav1.GetOptions{}); err == nil {
			s, k := envTokenRef(p)
			env = [2]string{s, k}
		}
		j.env[o.RunnerPod] = env
	}
	r.EnvSecret, r.EnvKey = env[0], env[1]
	return r
}

// index reads the token Secrets of the namespaces the requests went to, once.
func (j *joiner) index() TokenIndex {
	if j.ix != nil {
		return *j.ix
	}
	var nss []string
	for _, o := range j.ledger {
		if o.Signal != ledger.SignalWireRequest {
			continue
		}
		ns, _, _ := strings.Cut(o.RunnerPod, "/")
		if ns == "" {
			ns = o.Namespace
		}
		if ns != "" && !contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	sort.Strings(nss)
	ix := TokenIndex{}
	if j.kube != nil {
		ix = ReadTokenIndex(j.ctx, j.kube, nss)
	} else {
		ix.Error = "no cluster to read the token Secrets from"
	}
	j.ix = &ix
	return ix
}

// count is the pair's 401s on one family (caused by the upgrade).
func (j *joiner) count(k pairKey, family string) int {
	n := 0
	for _, c := range j.counts {
		if c.Class != ledger.ClassFromRelease && c.Caller == k.caller && c.CallerRelease == k.callerRelease &&
			c.RunnerRelease == k.runnerRelease && c.Path == family {
			n += c.Count
		}
	}
	return n
}

// join refines a pair the probe classified with the wire's evidence: one
// entry per class its families show (families the wire did not see keep
// the probe's class, marked as from the probe only).
func (j *joiner) join(k pairKey, p PairDiagnosis, runners []*RunnerProbe, status WireStatus) []PairDiagnosis {
	probeClass, probeWhy := p.Class, p.Why
	fallback := func(q PairDiagnosis, note string) PairDiagnosis {
		q.Basis, q.WireNote = BasisProbe, note
		q.Why += "; from the probe only: " + note
		return q
	}
	if p.Caller == ledger.CallerKubelet {
		// The kubelet never sends a token: the class is the runner's (guards
		// /health); the wire shows the probes it answered 401.
		var ev []ledger.Observation
		for _, fam := range p.Families {
			ev = append(ev, wireRequestsOf(j.ledger, k, fam)...)
		}
		if len(ev) == 0 {
			return []PairDiagnosis{fallback(p, status.note())}
		}
		p.Basis, p.Evidence = BasisWire, evidenceLines(ev, p.Families)
		p.Why += fmt.Sprintf("; the wire shows %d kubelet request(s) without a token-like header answered 401", len(ev))
		return []PairDiagnosis{p}
	}
	var judged []familyJudgement
	var unseen, unjudged []string
	for _, fam := range p.Families {
		reqs := wireRequestsOf(j.ledger, k, fam)
		if len(reqs) == 0 {
			unseen = append(unseen, fam)
			continue
		}
		fj, ok := judgeFamily(fam, reqs, j.runnerOf, j.index())
		if !ok {
			unjudged = append(unjudged, fam)
			continue
		}
		judged = append(judged, fj)
	}
	if len(judged) == 0 {
		note := status.note()
		if len(unjudged) > 0 {
			note = "the runner's token Secret could not be read to compare the caller's fingerprints"
			if j.ix != nil && j.ix.Error != "" {
				note += " (" + j.ix.Error + ")"
			}
		}
		return []PairDiagnosis{fallback(p, note)}
	}
	var out []PairDiagnosis
	var classes []verdict.DiagnosisClass
	byClass := map[verdict.DiagnosisClass][]familyJudgement{}
	for _, fj := range judged {
		if _, ok := byClass[fj.class]; !ok {
			classes = append(classes, fj.class)
		}
		byClass[fj.class] = append(byClass[fj.class], fj)
	}
	for _, c := range classes {
		out = append(out, j.wirePair(k, p, c, byClass[c], probeClass, runners))
	}
	if rest := append(unseen, unjudged...); len(rest) > 0 {
		q := p
		q.Families, q.Count = rest, 0
		sortFamilies(q.Caller, q.Families)
		for _, fam := range rest {
			q.Count += j.count(k, fam)
		}
		note := status.note()
		if len(unseen) == 0 {
			note = "the runner's token Secret could not be read to compare the caller's fingerprints"
		}
		// The probe's why names the pair's families; this entry has the rest.
		q.Why = pairHead(q) + strings.TrimPrefix(probeWhy, pairHead(p))
		out = append(out, fallback(q, note))
	}
	return out
}

// wirePair is one class of a pair from the wire: its families, the why
// (what the caller sent, what the runner holds, what the probe says) and
// the wire lines.
func (j *joiner) wirePair(k pairKey, p PairDiagnosis, class verdict.DiagnosisClass, fams []familyJudgement, probeClass verdict.DiagnosisClass, runners []*RunnerProbe) PairDiagnosis {
	q := p
	q.Families, q.Count, q.Basis, q.WireNote = nil, 0, BasisWire, ""
	var reqs []ledger.Observation
	var verdicts []RequestVerdict
	mixed := map[verdict.DiagnosisClass]int{}
	for _, fj := range fams {
		q.Families = append(q.Families, fj.family)
		q.Count += j.count(k, fj.family)
		reqs = append(reqs, fj.requests...)
		verdicts = append(verdicts, fj.verdicts...)
		for c, n := range fj.mixed {
			mixed[c] += n
		}
	}
	sortFamilies(q.Caller, q.Families)
	first := verdicts[0]
	q.Class = class
	// The caller sent the session's own token and got 401, and the probe
	// finds the runner reads another header: the mismatch is the runner's.
	if class == verdict.DiagRunnerRejectsSecretToken && probeClass == verdict.DiagHeaderNameMismatch {
		q.Class = verdict.DiagHeaderNameMismatch
	}
	q.Header, q.SentToken, q.RunnerToken = first.Header, first.Sent, first.Runner
	total := len(reqs)
	for _, n := range mixed {
		total += n
	}
	why := fmt.Sprintf("%s; %s: %s (wire: %d of %d requests)", pairHead(q), q.Class.Phrase(), first.Detail, len(reqs), total)
	if len(mixed) > 0 {
		var others []string
		for _, c := range verdict.DiagnosisClasses {
			if mixed[c] > 0 {
				others = append(others, fmt.Sprintf("%s ×%d", c, mixed[c]))
			}
		}
		why += "; the other requests show " + strings.Join(others, ", ")
	}
	if q.RunnerToken != nil && q.RunnerToken.Whose != WhoseOwn && q.Class != verdict.DiagRunnerRejectsSecretToken {
		why += "; the runner holds " + q.RunnerToken.Text()
	}
	switch probeClass {
	case verdict.DiagCallerSendsNoValidToken:
		why += fmt.Sprintf("; the probe: the runner accepts its Secret's %s under %s and rejects no header", platform.AGUITokenKey, platform.SessionTokenHeader)
	case verdict.DiagNotProbed, "":
		why += "; the runner was not probed"
	default:
		if q.Class != probeClass {
			why += "; the probe: " + probeClass.Phrase()
		}
	}
	if len(runners) > 0 && runners[0].EnvToken != "" && q.Class == verdict.DiagRunnerRejectsSecretToken && q.RunnerToken == nil {
		why += "; its AGUI_TOKEN comes from " + runners[0].EnvToken
	}
	q.Why = why
	q.Evidence = evidenceLines(reqs, q.Families)
	return q
}

// evidenceLines are up to maxEvidence wire lines: the first request of each
// family, then the next ones in time order.
func evidenceLines(reqs []ledger.Observation, families []string) []string {
	sorted := append([]ledger.Observation(nil), reqs...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].Time.Before(sorted[b].Time) })
	var picked []int
	for _, fam := range families {
		for i, o := range sorted {
			if platform.PathFamily(o.Path) == fam {
				picked = append(picked, i)
				break
			}
		}
	}
	for i := range sorted {
		if len(picked) >= maxEvidence {
			break
		}
		if !contains(picked, i) {
			picked = append(picked, i)
		}
	}
	if len(picked) > maxEvidence {
		picked = picked[:maxEvidence]
	}
	sort.Ints(picked)
	out := make([]string, 0, len(picked))
	for _, i := range picked {
		out = append(out, FormatWire(sorted[i]))
	}
	return out
}

// ClassifyFamiliesInput configures ClassifyFamilies.
type ClassifyFamiliesInput struct {
	// Kube reads the runner pods' env and the token Secrets (the cluster as
	// the combination left it).
	Kube kubernetes.Interface
	// Ledger is the combination's ledger, Since when its session was created.
	Ledger []ledger.Observation
	Since  time.Time
}

// ClassifyFamilies gives every family of results that got 401 the class
// the wire shows (a compatibility sweep runs no probe: what the caller sent
// against the runner's Secret). A family the wire did not see, or whose
// fingerprints have nothing to compare with, keeps no class and says why.
func ClassifyFamilies(ctx context.Context, in ClassifyFamiliesInput, results []FamilyResult) {
	var obs []ledger.Observation
	for _, o := range in.Ledger {
		if !o.Time.Before(in.Since) {
			obs = append(obs, o)
		}
	}
	status := NewWireStatus(obs)
	j := &joiner{ctx: ctx, kube: in.Kube, ledger: obs, podSession: map[string]string{}, env: map[string][2]string{}}
	for _, o := range obs {
		if o.RunnerPod != "" && o.Session != "" {
			j.podSession[o.RunnerPod] = o.Session
		}
	}
	for i := range results {
		r := &results[i]
		if r.Outcome != Outcome401 {
			continue
		}
		var got401, noStatus []ledger.Observation
		for _, o := range obs {
			if o.Signal != ledger.SignalWireRequest || o.Wire == nil || string(o.Caller) != string(r.Caller) || platform.PathFamily(o.Path) != r.Path {
				continue
			}
			switch o.Status {
			case 401:
				got401 = append(got401, o)
			case 0:
				noStatus = append(noStatus, o)
			}
		}
		reqs := got401
		if len(reqs) == 0 {
			reqs = noStatus
		}
		if len(reqs) == 0 {
			r.Why = "no class: " + status.note()
			continue
		}
		fj, ok := judgeFamily(r.Path, reqs, j.runnerOf, j.index())
		if !ok {
			r.Why = "no class: the runner's token Secret could not be read to compare the caller's fingerprints"
			continue
		}
		r.Class = fj.class
		r.Why = fmt.Sprintf("%s: %s (wire: %d of %d requests)", fj.class.Phrase(), fj.verdicts[0].Detail, len(fj.requests), len(reqs))
		r.Evidence = evidenceLines(fj.requests, []string{r.Path})
		if len(r.Evidence) > 1 {
			r.Evidence = r.Evidence[:1]
		}
	}
}
