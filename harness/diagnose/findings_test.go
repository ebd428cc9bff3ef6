package diagnose

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/probe"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

func report(statuses map[string]int) probe.Report {
	rep := probe.Report{Target: probe.NewTarget("uh-cell", "s1", "s1-runner", "10.0.0.1", 8001), SecretKeys: []string{"agui-token", "k8s-token"}, TokenFingerprint: "sha256:0123abcd"}
	for _, r := range probe.Requests {
		a := probe.Answer{Request: r}
		if st, ok := statuses[r]; ok {
			a.Status = st
		} else {
			a.Skipped = "Secret ambient-runner-token-s1 has no key agui-token"
		}
		rep.Answers = append(rep.Answers, a)
	}
	return rep
}

func TestClassifyRunner(t *testing.T) {
	const a, b, c, d, e = probe.RequestNoHeader, probe.RequestSecretToken, probe.RequestWrongToken, probe.RequestBearer, probe.RequestHealth
	for _, tc := range []struct {
		name    string
		answers map[string]int
		want    verdict.DiagnosisClass
		health  bool
		why     string
	}{
		{"upstream middleware", map[string]int{a: 401, b: 404, c: 401, d: 401, e: 200}, verdict.DiagCallerSendsNoValidToken, false,
			"accepts the Secret's agui-token (sha256:0123abcd) under X-Ambient-Session-Token (404) and rejects no header (401)"},
		{"runner started with another value", map[string]int{a: 401, b: 401, c: 401, d: 401, e: 200}, verdict.DiagRunnerRejectsSecretToken, false, "started with another value"},
		{"runner reads Authorization", map[string]int{a: 401, b: 401, c: 401, d: 404, e: 200}, verdict.DiagHeaderNameMismatch, false, "accepts it as Authorization: Bearer (404)"},
		{"no auth", map[string]int{a: 404, b: 404, c: 404, d: 404, e: 200}, verdict.DiagNoAuth, false, "checks no token"},
		{"any token", map[string]int{a: 401, b: 404, c: 404, d: 401, e: 200}, verdict.DiagAcceptsAnyToken, false, "accepts a wrong token (404)"},
		{"health guarded", map[string]int{a: 401, b: 404, c: 401, d: 401, e: 401}, verdict.DiagCallerSendsNoValidToken, true, "kubelet's probes fail"},
		{"Secret without the key", map[string]int{a: 401, c: 401, e: 200}, verdict.DiagRunnerRejectsSecretToken, false, "has no key agui-token to send"},
		{"runner silent", map[string]int{}, verdict.DiagNotProbed, false, "did not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := ClassifyRunner(report(tc.answers))
			if v.Class != tc.want || v.HealthGuarded != tc.health || !strings.Contains(v.Why, tc.why) {
				t.Errorf("ClassifyRunner = %+v, want %s (health %v) with %q", v, tc.want, tc.health, tc.why)
			}
		})
	}
}

func runningPod(name, ip, tokenKey string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "uh-cell", Labels: map[string]string{"app": "ambient-code-runner"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ambient-code-runner",
			Ports: []corev1.ContainerPort{{Name: "agui", ContainerPort: 8001}},
			Env: []corev1.EnvVar{{Name: "AGUI_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "ambient-runner-token-" + strings.TrimSuffix(name, "-runner")}, Key: tokenKey}}}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip}}
}

func runner401(caller ledger.Caller, callerRel, session, path string) ledger.Observation {
	return ledger.Observation{Signal: ledger.SignalRunner401, Class: ledger.ClassUpgrade, Caller: caller, CallerRelease: callerRel,
		RunnerRelease: "v0.2.2", RunnerPod: "uh-cell/" + session + "-runner", Namespace: "uh-cell", Session: session, Path: path, Status: 401}
}

func TestDiagnosePairsFromTheLedger(t *testing.T) {
	kube := fake.NewClientset(runningPod("c-runner", "10.0.0.3", "agui-token"))
	obs := []ledger.Observation{
		runner401(ledger.CallerBackend, "v0.2.2", "c", "/"),
		runner401(ledger.CallerBackend, "v0.2.2", "gone", "/events"),
		runner401(ledger.CallerOperator, "v0.2.2", "c", "/workflow"),
		// The from release's own 401s are not diagnosed.
		{Signal: ledger.SignalRunner401, Class: ledger.ClassFromRelease, Caller: ledger.CallerOperator, CallerRelease: "v0.2.0", RunnerRelease: "v0.2.0", RunnerPod: "uh-cell/old-runner", Path: "/workflow"},
	}
	counts := verdict.Count401s(obs)
	var probed []probe.Target
	f := Diagnose(context.Background(), Input{Kube: kube, Ledger: obs, Unauthorized: counts, ProbeImage: "probe:v1",
		RunProbe: func(_ context.Context, in probe.PodInput) ([]probe.Report, probe.PodRun, error) {
			probed = in.Targets
			rep := report(map[string]int{probe.RequestNoHeader: 401, probe.RequestSecretToken: 404, probe.RequestWrongToken: 401, probe.RequestBearer: 401, probe.RequestHealth: 200})
			rep.Target = in.Targets[0]
			return []probe.Report{rep}, probe.PodRun{Pod: "uh-runner-probe-x"}, nil
		}})
	if len(probed) != 1 || probed[0].PodIP != "10.0.0.3" || probed[0].Secret != "ambient-runner-token-c" {
		t.Fatalf("probed %+v, want only the live pod c-runner once", probed)
	}
	if len(f.Pairs) != 2 {
		t.Fatalf("pairs %+v, want backend and operator", f.Pairs)
	}
	be, op := f.Pairs[0], f.Pairs[1]
	if be.Caller != ledger.CallerBackend || be.Class != verdict.DiagCallerSendsNoValidToken || strings.Join(be.Families, ",") != "/,/events" {
		t.Errorf("backend pair = %+v", be)
	}
	if !strings.HasPrefix(be.Why, "backend v0.2.2 → runner v0.2.2: 401 on POST / and GET /events (×2); the runner accepts") {
		t.Errorf("backend why = %q", be.Why)
	}
	if op.Caller != ledger.CallerOperator || op.Class != verdict.DiagCallerSendsNoValidToken {
		t.Errorf("operator pair = %+v", op)
	}
	got := f.Diagnoses()
	if len(got) != 1+1 || got[0] != (verdict.Diagnosis{Caller: ledger.CallerBackend, Class: verdict.DiagCallerSendsNoValidToken}) {
		t.Errorf("Diagnoses = %v", got)
	}
	classes := map[string]verdict.DiagnosisClass{}
	for _, r := range f.Runners {
		classes[r.Pod] = r.Verdict.Class
	}
	if len(f.Runners) != 2 || classes["uh-cell/gone-runner"] != verdict.DiagNotProbed || classes["uh-cell/c-runner"] != verdict.DiagCallerSendsNoValidToken {
		t.Errorf("runners = %+v, want c probed and gone not probed", f.Runners)
	}
}

func TestDiagnoseRunnerWithAnotherKeyAndProbeFailure(t *testing.T) {
	kube := fake.NewClientset(runningPod("c-runner", "10.0.0.3", "k8s-token"))
	obs := []ledger.Observation{runner401(ledger.CallerBackend, "v0.2.7", "c", "/")}
	f := Diagnose(context.Background(), Input{Kube: kube, Ledger: obs, Unauthorized: verdict.Count401s(obs), ProbeImage: "probe:v1",
		RunProbe: func(_ context.Context, in probe.PodInput) ([]probe.Report, probe.PodRun, error) {
			rep := report(map[string]int{probe.RequestNoHeader: 401, probe.RequestSecretToken: 401, probe.RequestWrongToken: 401, probe.RequestBearer: 401, probe.RequestHealth: 200})
			rep.Target = in.Targets[0]
			return []probe.Report{rep}, probe.PodRun{}, nil
		}})
	if p := f.Pairs[0]; p.Class != verdict.DiagRunnerRejectsSecretToken || !strings.Contains(p.Why, "its AGUI_TOKEN comes from Secret ambient-runner-token-c key k8s-token, not agui-token") {
		t.Errorf("pair = %+v", p)
	}
	failing := Diagnose(context.Background(), Input{Kube: kube, Ledger: obs, Unauthorized: verdict.Count401s(obs), ProbeImage: "probe:v1",
		RunProbe: func(context.Context, probe.PodInput) ([]probe.Report, probe.PodRun, error) {
			return nil, probe.PodRun{}, errors.New("probe container cannot start: ErrImageNeverPull")
		}})
	if p := failing.Pairs[0]; p.Class != verdict.DiagNotProbed || !strings.Contains(p.Why, "ErrImageNeverPull") || failing.ProbeError == "" {
		t.Errorf("a failed probe must leave the pair not probed with the reason: %+v", failing)
	}
}

func TestDiagnoseKubeletFromEvents(t *testing.T) {
	kube := fake.NewClientset(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "uh-cell"},
		InvolvedObject: corev1.ObjectReference{Name: "c-runner", Namespace: "uh-cell"}, Reason: "Unhealthy",
		Message: "Readiness probe failed: HTTP probe failed with statuscode: 401"})
	obs := []ledger.Observation{runner401(ledger.CallerKubelet, "", "c", "/health")}
	f := Diagnose(context.Background(), Input{Kube: kube, Ledger: obs, Unauthorized: verdict.Count401s(obs), ProbeImage: "probe:v1"})
	if p := f.Pairs[0]; p.Class != verdict.DiagGuardsHealth || !strings.Contains(p.Why, "kubelet events: Readiness probe failed") || !strings.HasPrefix(p.Why, "kubelet → runner v0.2.2: 401 on GET /health") {
		t.Errorf("kubelet pair = %+v (runner pod gone, events kept)", p)
	}
}

func TestDiagnoseRestartBreak(t *testing.T) {
	const msg = "Runner waiting: CreateContainerConfigError - couldn't find key agui-token in Secret uh-cell/ambient-runner-token-a"
	kube := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ambient-runner-token-a", Namespace: "uh-cell"}, Data: map[string][]byte{"k8s-token": []byte("x")}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "uh-cell"}, Reason: "Failed",
			InvolvedObject: corev1.ObjectReference{Name: "a-runner", Namespace: "uh-cell", FieldPath: "spec.containers{ambient-code-runner}"},
			Message:        "Error: couldn't find key agui-token in Secret uh-cell/ambient-runner-token-a"},
		runningPod("c-runner", "10.0.0.3", "agui-token"))
	rules := []verdict.RuleResult{{Rule: "restarted-session-runs", Verdict: verdict.Fail, Evidence: []ledger.Observation{
		{Signal: ledger.SignalCondition, Namespace: "uh-cell", Session: "a", Detail: "phase=Failed"},
		{Signal: ledger.SignalCondition, Namespace: "uh-cell", Session: "a", Detail: "Ready=False CreateContainerConfigError: " + msg},
	}}}
	if !NeedsDiagnosis(nil, rules) {
		t.Fatal("a failed restart needs a diagnosis")
	}
	f := Diagnose(context.Background(), Input{Kube: kube, Rules: rules})
	if len(f.RestartBreaks) != 1 {
		t.Fatalf("breaks %+v", f.RestartBreaks)
	}
	b := f.RestartBreaks[0]
	want := "restarted session uh-cell/a cannot start (CreateContainerConfigError): Secret ambient-runner-token-a lacks key agui-token (it has k8s-token), which container ambient-code-runner's env AGUI_TOKEN requires"
	if b.Class != verdict.DiagSecretLacksKey || b.Why != want {
		t.Errorf("break = %+v\nwant why %q", b, want)
	}
	if d := f.Diagnoses(); len(d) != 1 || d[0] != (verdict.Diagnosis{Class: verdict.DiagSecretLacksKey}) {
		t.Errorf("Diagnoses = %v", d)
	}
}

func TestNothingToDiagnose(t *testing.T) {
	f := Diagnose(context.Background(), Input{Kube: fake.NewClientset(),
		Unauthorized: []verdict.Count401{{Caller: ledger.CallerOperator, Path: "/workflow", Class: ledger.ClassFromRelease, Count: 9}}})
	if d := f.Diagnoses(); d == nil || len(d) != 0 || !strings.Contains(f.Note, "nothing to diagnose") {
		t.Errorf("findings %+v: want diagnosed (non-nil) and empty", f)
	}
	var none *Findings
	if none.Diagnoses() != nil {
		t.Error("no findings must read as not diagnosed")
	}
}

func TestFamiliesText(t *testing.T) {
	if got := FamiliesText("operator", []string{"/workflow", "/repos/add", "/repos/remove"}); got != "POST /workflow and POST /repos/*" {
		t.Errorf("got %q", got)
	}
	if got := FamiliesText("backend", []string{"/", "/events", "/interrupt"}); got != "POST /, GET /events and POST /interrupt" {
		t.Errorf("got %q", got)
	}
}
