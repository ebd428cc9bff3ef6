package diagnose

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/probe"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// The token values of the synthetic cluster: session c's and session d's
// Secrets. None may appear in any output.
const (
	tokC    = "c-agui-token-value-0f3e"
	k8sC    = "c-k8s-token-value-77aa"
	tokD    = "d-agui-token-value-91bc"
	tokGone = "a-value-no-secret-holds"
)

var tokenValues = []string{tokC, k8sC, tokD, tokGone}

func tokenSecret(session, agui, k8s string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ambient-runner-token-" + session, Namespace: "uh-cell"},
		Data: map[string][]byte{"agui-token": []byte(agui), "k8s-token": []byte(k8s)}}
}

// wireCluster is a runner pod c-runner whose AGUI_TOKEN reads envKey, and
// the token Secrets of sessions c and d.
func wireCluster(envKey string) *fake.Clientset {
	return fake.NewClientset([]runtime.Object{runningPod("c-runner", "10.0.0.3", envKey),
		tokenSecret("c", tokC, k8sC), tokenSecret("d", tokD, "d-k8s")}...)
}

// wireReq is a request the witness saw: headers and token-like headers
// (name → value, fingerprinted here as the witness does).
func wireReq(caller ledger.Caller, callerRel, path string, status int, headers []string, tokens map[string]string) ledger.Observation {
	w := &ledger.WireRequest{HeaderNames: headers, SrcIP: "10.0.0.9", DstIP: "10.0.0.3"}
	for _, name := range headers {
		if v, ok := tokens[name]; ok {
			bearer := strings.HasPrefix(v, "Bearer ")
			w.TokenHeaders = append(w.TokenHeaders, ledger.WireTokenHeader{Name: name, Fingerprint: secrets.Fingerprint(strings.TrimPrefix(v, "Bearer ")), Bearer: bearer})
		}
	}
	return ledger.Observation{Time: time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC), Signal: ledger.SignalWireRequest, Source: ledger.SourceWireWitness,
		Caller: caller, CallerRelease: callerRel, CallerPod: "ambient-code/" + string(caller) + "-7f9", RunnerRelease: "v0.2.2",
		RunnerPod: "uh-cell/c-runner", Method: "POST", Path: path, Status: status, Wire: w}
}

// acceptsSecretToken is the probe of a runner that works: it accepts its
// Secret's agui-token and rejects no header.
func acceptsSecretToken(_ context.Context, in probe.PodInput) ([]probe.Report, probe.PodRun, error) {
	rep := report(map[string]int{probe.RequestNoHeader: 401, probe.RequestSecretToken: 404, probe.RequestWrongToken: 401, probe.RequestBearer: 401, probe.RequestHealth: 200})
	rep.Target = in.Targets[0]
	return []probe.Report{rep}, probe.PodRun{Pod: "uh-runner-probe-x"}, nil
}

// rejectsSecretToken is the probe of a runner started with another value.
func rejectsSecretToken(_ context.Context, in probe.PodInput) ([]probe.Report, probe.PodRun, error) {
	rep := report(map[string]int{probe.RequestNoHeader: 401, probe.RequestSecretToken: 401, probe.RequestWrongToken: 401, probe.RequestBearer: 401, probe.RequestHealth: 200})
	rep.Target = in.Targets[0]
	return []probe.Report{rep}, probe.PodRun{Pod: "uh-runner-probe-x"}, nil
}

func diagnoseWire(t *testing.T, envKey string, run func(context.Context, probe.PodInput) ([]probe.Report, probe.PodRun, error), obs ...ledger.Observation) *Findings {
	t.Helper()
	f := Diagnose(context.Background(), Input{Kube: wireCluster(envKey), Ledger: obs, Unauthorized: verdict.Count401s(obs), ProbeImage: "probe:v1", RunProbe: run})
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b) + strings.Join(f.Sentences(), "\n")
	for _, v := range tokenValues {
		if strings.Contains(out, v) {
			t.Fatalf("token value %q appears in the findings: %s", v, out)
		}
	}
	return f
}

func TestJoinClassesFromTheWire(t *testing.T) {
	be, op := ledger.CallerBackend, ledger.CallerOperator
	sess := "X-Ambient-Session-Token"
	for _, tc := range []struct {
		name   string
		envKey string
		probe  func(context.Context, probe.PodInput) ([]probe.Report, probe.PodRun, error)
		caller ledger.Caller
		req    ledger.Observation
		want   verdict.DiagnosisClass
		whose  string
		why    []string
	}{
		{"no header", "agui-token", acceptsSecretToken, be,
			wireReq(be, "v0.2.2", "/", 401, []string{"Content-Type", "Accept"}, nil),
			verdict.DiagNoHeader, "", []string{"no header: its requests carry no token-like header (headers: Content-Type, Accept)",
				"the probe: the runner accepts its Secret's agui-token under X-Ambient-Session-Token and rejects no header"}},
		{"operator no header", "agui-token", acceptsSecretToken, op,
			wireReq(op, "v0.2.2", "/workflow", 401, []string{"Content-Type"}, nil),
			verdict.DiagNoHeader, "", []string{"operator v0.2.2 → runner v0.2.2: 401 on POST /workflow"}},
		{"header name", "agui-token", acceptsSecretToken, be,
			wireReq(be, "v0.2.2", "/", 401, []string{"Content-Type", "X-Ambient-Token"}, map[string]string{"X-Ambient-Token": tokC}),
			verdict.DiagHeaderNameMismatch, "", []string{"the caller sends the token as X-Ambient-Token (" + secrets.Fingerprint(tokC) + "), the runner reads X-Ambient-Session-Token"}},
		{"another session's token", "agui-token", acceptsSecretToken, be,
			wireReq(be, "v0.2.2", "/", 401, []string{sess}, map[string]string{sess: tokD}),
			verdict.DiagWrongToken, WhoseOtherSession, []string{"another session's token, Secret ambient-runner-token-d key agui-token (" + secrets.Fingerprint(tokD) + ") of session uh-cell/d"}},
		{"another key of the same Secret", "agui-token", acceptsSecretToken, op,
			wireReq(op, "v0.2.2", "/workflow", 401, []string{sess}, map[string]string{sess: k8sC}),
			verdict.DiagWrongToken, WhoseOtherKey, []string{"the caller sends key k8s-token of the session's own Secret ambient-runner-token-c"}},
		{"unknown value", "agui-token", acceptsSecretToken, be,
			wireReq(be, "v0.2.2", "/", 401, []string{sess}, map[string]string{sess: tokGone}),
			verdict.DiagWrongToken, WhoseUnknown, []string{"no token Secret the harness can read holds"}},
		{"runner holds another key", "k8s-token", rejectsSecretToken, be,
			wireReq(be, "v0.2.2", "/", 401, []string{sess}, map[string]string{sess: tokC}),
			verdict.DiagRunnerRejectsSecretToken, WhoseOwn, []string{"the runner rejects it: it holds Secret ambient-runner-token-c key k8s-token (" + secrets.Fingerprint(k8sC) + ")"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := diagnoseWire(t, tc.envKey, tc.probe, runner401(tc.caller, "v0.2.2", "c", tc.req.Path), tc.req)
			if len(f.Pairs) != 1 {
				t.Fatalf("pairs %+v", f.Pairs)
			}
			p := f.Pairs[0]
			t.Logf("%s\n%s", p.Why, strings.Join(p.Evidence, "\n"))
			if p.Class != tc.want || p.Basis != BasisWire || len(p.Evidence) != 1 {
				t.Fatalf("pair %+v, want %s from the wire with one evidence line", p, tc.want)
			}
			for _, w := range tc.why {
				if !strings.Contains(p.Why, w) {
					t.Errorf("why %q\nlacks %q", p.Why, w)
				}
			}
			if tc.whose != "" && (p.SentToken == nil || p.SentToken.Whose != tc.whose) {
				t.Errorf("sent token %+v, want whose %s", p.SentToken, tc.whose)
			}
			if tc.want == verdict.DiagHeaderNameMismatch && p.Header != "X-Ambient-Token" {
				t.Errorf("header %q, want the one the caller used", p.Header)
			}
			if !strings.Contains(p.Evidence[0], "uh-cell/c-runner POST "+tc.req.Path+" → 401; headers: ") {
				t.Errorf("evidence %q", p.Evidence[0])
			}
			if f.Wire == nil || f.Wire.Requests != 1 || f.Wire.Gap != "" {
				t.Errorf("wire status %+v", f.Wire)
			}
		})
	}
}

// The websocket family sends no header while the handler family sends
// another session's token: one entry per class, each with its families.
func TestJoinSplitsAPairByClass(t *testing.T) {
	be := ledger.CallerBackend
	obs := []ledger.Observation{
		runner401(be, "v0.2.2", "c", "/"), runner401(be, "v0.2.2", "c", "/"), runner401(be, "v0.2.2", "c", "/events"),
		runner401(be, "v0.2.2", "c", "/content/list"), runner401(be, "v0.2.2", "c", "/workflow"),
		wireReq(be, "v0.2.2", "/", 401, []string{"Accept"}, nil),
		wireReq(be, "v0.2.2", "/events", 401, []string{"Accept"}, nil),
		wireReq(be, "v0.2.2", "/content/list", 401, []string{"X-Ambient-Session-Token"}, map[string]string{"X-Ambient-Session-Token": tokD}),
		// /workflow: no wire request seen → from the probe only.
	}
	f := diagnoseWire(t, "agui-token", acceptsSecretToken, obs...)
	if len(f.Pairs) != 3 {
		t.Fatalf("pairs %+v", f.Pairs)
	}
	got := map[verdict.DiagnosisClass]PairDiagnosis{}
	for _, p := range f.Pairs {
		got[p.Class] = p
	}
	if p := got[verdict.DiagNoHeader]; strings.Join(p.Families, ",") != "/,/events" || p.Count != 3 || len(p.Evidence) != 2 {
		t.Errorf("no-header entry %+v", p)
	}
	if p := got[verdict.DiagWrongToken]; strings.Join(p.Families, ",") != "/content/list" || p.Count != 1 {
		t.Errorf("wrong-token entry %+v", p)
	}
	p := got[verdict.DiagCallerSendsNoValidToken]
	if strings.Join(p.Families, ",") != "/workflow" || p.Basis != BasisProbe || !strings.HasPrefix(p.Why, "backend v0.2.2 → runner v0.2.2: 401 on POST /workflow (×1); ") ||
		!strings.Contains(p.Why, "from the probe only: the wire witness saw none of this pair's requests") {
		t.Errorf("fallback entry %+v", p)
	}
}

// Without wire evidence the probe's class stands, marked as such, with the
// witness's own reason when it could not run.
func TestJoinFallsBackToTheProbe(t *testing.T) {
	be := ledger.CallerBackend
	gap := ledger.Observation{Signal: ledger.SignalGap, Source: ledger.SourceWireWitness, Detail: "privileged pods are not allowed in namespace uh-system"}
	for _, tc := range []struct {
		name string
		obs  []ledger.Observation
		note string
	}{
		{"witness could not run", []ledger.Observation{runner401(be, "v0.2.2", "c", "/"), gap}, "the wire witness did not run: privileged pods are not allowed in namespace uh-system"},
		{"witness saw nothing", []ledger.Observation{runner401(be, "v0.2.2", "c", "/")}, "the wire witness recorded no request in this cell"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := diagnoseWire(t, "agui-token", acceptsSecretToken, tc.obs...)
			p := f.Pairs[0]
			if len(f.Pairs) != 1 || p.Class != verdict.DiagCallerSendsNoValidToken || p.Basis != BasisProbe || p.WireNote != tc.note ||
				!strings.HasSuffix(p.Why, "; from the probe only: "+tc.note) || len(p.Evidence) != 0 {
				t.Errorf("pair %+v", p)
			}
		})
	}
}

// A token-like header whose fingerprint cannot be compared (the runner's
// Secret is gone) is not guessed at.
func TestJoinWithoutTheRunnersSecret(t *testing.T) {
	be := ledger.CallerBackend
	obs := []ledger.Observation{runner401(be, "v0.2.2", "c", "/"),
		wireReq(be, "v0.2.2", "/", 401, []string{"X-Ambient-Session-Token"}, map[string]string{"X-Ambient-Session-Token": tokD})}
	kube := fake.NewClientset(runningPod("c-runner", "10.0.0.3", "agui-token"))
	f := Diagnose(context.Background(), Input{Kube: kube, Ledger: obs, Unauthorized: verdict.Count401s(obs), ProbeImage: "probe:v1", RunProbe: acceptsSecretToken})
	if p := f.Pairs[0]; p.Class != verdict.DiagCallerSendsNoValidToken || p.Basis != BasisProbe || !strings.Contains(p.WireNote, "token Secret could not be read") {
		t.Errorf("pair %+v", p)
	}
}

func TestJoinKubeletHealth(t *testing.T) {
	kl := ledger.CallerKubelet
	req := wireReq(kl, "", "/health", 401, []string{"User-Agent", "Accept"}, nil)
	req.Method, req.CallerPod, req.RunnerRelease = "GET", "", "v0.2.2"
	obs := []ledger.Observation{runner401(kl, "", "c", "/health"), req}
	f := diagnoseWire(t, "agui-token", func(_ context.Context, in probe.PodInput) ([]probe.Report, probe.PodRun, error) {
		rep := report(map[string]int{probe.RequestNoHeader: 401, probe.RequestSecretToken: 404, probe.RequestWrongToken: 401, probe.RequestBearer: 401, probe.RequestHealth: 401})
		rep.Target = in.Targets[0]
		return []probe.Report{rep}, probe.PodRun{}, nil
	}, obs...)
	p := f.Pairs[0]
	if p.Class != verdict.DiagGuardsHealth || p.Basis != BasisWire || len(p.Evidence) != 1 || !strings.Contains(p.Evidence[0], "kubelet → uh-cell/c-runner GET /health → 401; headers: User-Agent, Accept; no token-like header") {
		t.Errorf("pair %+v", p)
	}
}

func TestFormatWireShowsFingerprintsOnly(t *testing.T) {
	o := wireReq(ledger.CallerOperator, "v0.2.7", "/workflow", 0, []string{"Authorization", "X-Ambient-Session-Tokn"},
		map[string]string{"Authorization": "Bearer " + tokC, "X-Ambient-Session-Tokn": k8sC})
	got := FormatWire(o)
	want := "11:00:00.000 operator v0.2.7 (ambient-code/operator-7f9) → uh-cell/c-runner POST /workflow → status not seen; headers: Authorization, X-Ambient-Session-Tokn; Authorization: Bearer " +
		secrets.Fingerprint(tokC) + "; X-Ambient-Session-Tokn: " + secrets.Fingerprint(k8sC)
	if got != want {
		t.Errorf("FormatWire\n got %q\nwant %q", got, want)
	}
}

func TestTokenIndexWhose(t *testing.T) {
	ix := NewTokenIndex([]corev1.Secret{*tokenSecret("c", tokC+"\n", k8sC), *tokenSecret("d", tokD, k8sC)})
	for _, tc := range []struct{ value, whose, key, secret string }{
		{tokC, WhoseOwn, "agui-token", "ambient-runner-token-c"}, // trimmed, as the operator sends it
		{tokC + "\n", WhoseOwn, "agui-token", "ambient-runner-token-c"},
		{k8sC, WhoseOtherKey, "k8s-token", "ambient-runner-token-c"}, // own Secret's key first
		{tokD, WhoseOtherSession, "agui-token", "ambient-runner-token-d"},
		{"nope", WhoseUnknown, "", ""},
	} {
		got := ix.Whose(secrets.Fingerprint(tc.value), "uh-cell", "ambient-runner-token-c")
		if got.Whose != tc.whose || got.Key != tc.key || got.Secret != tc.secret {
			t.Errorf("Whose(%q) = %+v", tc.value, got)
		}
	}
}

func TestJudgeRequestEdgeCases(t *testing.T) {
	ix := NewTokenIndex([]corev1.Secret{*tokenSecret("c", tokC, k8sC)})
	rn := WireRunner{Namespace: "uh-cell", Session: "c"}
	// A token header the witness did not fingerprint still is another name.
	v, ok := JudgeRequest(wireReq(ledger.CallerBackend, "v0.2.2", "/", 401, []string{"Accept", "X-Auth-Key"}, nil), rn, ix)
	if !ok || v.Class != verdict.DiagHeaderNameMismatch || v.Header != "X-Auth-Key" {
		t.Errorf("unfingerprinted auth header: %+v", v)
	}
	// The right header in another case is the right header.
	v, ok = JudgeRequest(wireReq(ledger.CallerBackend, "v0.2.2", "/", 401, []string{"x-ambient-session-token"}, map[string]string{"x-ambient-session-token": tokC}), rn, ix)
	if !ok || v.Class != verdict.DiagRunnerRejectsSecretToken {
		t.Errorf("lower-case header: %+v", v)
	}
	// Authorization: Bearer alone is a header the runner does not read.
	v, ok = JudgeRequest(wireReq(ledger.CallerBackend, "v0.2.2", "/", 401, []string{"Authorization"}, map[string]string{"Authorization": "Bearer " + tokC}), rn, ix)
	if !ok || v.Class != verdict.DiagHeaderNameMismatch || v.Header != "Authorization" {
		t.Errorf("bearer: %+v", v)
	}
	// No Secret of the runner: not judged.
	if _, ok := JudgeRequest(wireReq(ledger.CallerBackend, "v0.2.2", "/", 401, []string{"X-Ambient-Session-Token"}, map[string]string{"X-Ambient-Session-Token": tokC}), WireRunner{Namespace: "uh-cell", Session: "gone"}, ix); ok {
		t.Error("a fingerprint with nothing to compare it with must not be judged")
	}
	// The witness's own "could not run" entry, whatever its signal.
	st := NewWireStatus([]ledger.Observation{{Signal: "wire-unavailable", Source: ledger.SourceWireWitness, Detail: "no privileged pods"}})
	if st.Gap != "no privileged pods" || st.note() != "the wire witness did not run: no privileged pods" {
		t.Errorf("status %+v", st)
	}
}

// A sweep's 401 families get the wire's class per pair (no probe there);
// the table shows it beside the 401.
func TestClassifyFamiliesForTheCompatTable(t *testing.T) {
	be, op := ledger.CallerBackend, ledger.CallerOperator
	since := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	obs := []ledger.Observation{
		wireReq(be, "v0.2.0", "/", 401, []string{"Accept"}, nil),
		wireReq(op, "v0.2.2", "/workflow", 401, []string{"X-Ambient-Session-Token"}, map[string]string{"X-Ambient-Session-Token": k8sC}),
		// Before the combination's session: not its evidence.
		func() ledger.Observation {
			o := wireReq(be, "v0.2.0", "/events", 401, []string{"X-Ambient-Token"}, map[string]string{"X-Ambient-Token": tokC})
			o.Time = since.Add(-time.Minute)
			return o
		}(),
	}
	results := []FamilyResult{
		NewFamilyResult(platformFamily("backend", "POST", "/"), map[int]int{401: 3}),
		NewFamilyResult(platformFamily("backend", "GET", "/events"), map[int]int{401: 2}),
		NewFamilyResult(platformFamily("operator", "POST", "/workflow"), map[int]int{401: 1}),
		NewFamilyResult(platformFamily("backend", "GET", "/content/list"), map[int]int{200: 1}),
	}
	ClassifyFamilies(context.Background(), ClassifyFamiliesInput{Kube: wireCluster("agui-token"), Ledger: obs, Since: since}, results)
	if r := results[0]; r.Class != verdict.DiagNoHeader || len(r.Evidence) != 1 || !strings.HasPrefix(r.Why, "no header: ") {
		t.Errorf("POST / = %+v", r)
	}
	if r := results[1]; r.Class != "" || r.Why != "no class: the wire witness saw none of this pair's requests" {
		t.Errorf("GET /events = %+v (its only wire request predates the session)", r)
	}
	if r := results[2]; r.Class != verdict.DiagWrongToken || !strings.Contains(r.Why, "key k8s-token of the session's own Secret") {
		t.Errorf("POST /workflow = %+v", r)
	}
	if r := results[3]; r.Class != "" || r.Why != "" {
		t.Errorf("a family without 401 gets no class: %+v", r)
	}
	c := Compat{From: "v0.2.0", To: "v0.2.0", Combinations: []Combination{{Operator: "v0.2.0", Backend: "v0.2.0", Runner: "v0.2.0", Results: results}}}
	if got := c.cell(platformFamily("backend", "POST", "/"), "v0.2.0", "v0.2.0").Text(); got != "401 (no-header)" {
		t.Errorf("table cell %q", got)
	}
	b, _ := json.Marshal(results)
	for _, v := range tokenValues {
		if strings.Contains(string(b), v) {
			t.Fatalf("token value in %s", b)
		}
	}
}

func platformFamily(caller, method, path string) platform.CallFamily {
	return platform.CallFamily{Caller: platform.Component(caller), Method: method, Path: path}
}

func TestWitnessDown(t *testing.T) {
	for _, tc := range []struct {
		o    ledger.Observation
		want bool
	}{
		{ledger.Observation{Signal: "wire-unavailable", Source: "wire-witness"}, true},
		{ledger.Observation{Signal: ledger.SignalGap, Source: "wire-witness:uh-control-plane"}, true},
		{ledger.Observation{Signal: ledger.SignalWireRequest, Source: "wire-witness:uh-control-plane"}, false},
		{ledger.Observation{Signal: ledger.SignalGap, Source: "runner-log:uh-cell/c-runner"}, false},
	} {
		if got := WitnessDown(tc.o); got != tc.want {
			t.Errorf("WitnessDown(%s from %s) = %v", tc.o.Signal, tc.o.Source, got)
		}
	}
}

// BenchmarkJoin: a cell's worth of wire requests (10,000) joined for one
// broken pair of two families.
func BenchmarkJoin(b *testing.B) {
	be := ledger.CallerBackend
	obs := []ledger.Observation{runner401(be, "v0.2.2", "c", "/"), runner401(be, "v0.2.2", "c", "/events")}
	for i := 0; i < 10000; i++ {
		path := []string{"/", "/events", "/content/list"}[i%3]
		obs = append(obs, wireReq(be, "v0.2.2", path, 401, []string{"Accept", "Content-Type"}, nil))
	}
	counts := verdict.Count401s(obs)
	kube := wireCluster("agui-token")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := Diagnose(context.Background(), Input{Kube: kube, Ledger: obs, Unauthorized: counts, ProbeImage: "probe:v1", RunProbe: acceptsSecretToken})
		if f.Pairs[0].Class != verdict.DiagNoHeader {
			b.Fatal(f.Pairs[0].Why)
		}
	}
}
