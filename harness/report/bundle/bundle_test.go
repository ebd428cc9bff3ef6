package bundle

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

const (
	// plantedToken is a fake agui-token that the test plants everywhere.
	plantedToken = "5d1c9e7a-2b3f-4a6d-8e0c-7f1a2b3c4d5e"
	// plantedBotToken is a fake k8s-token (a JWT) in the same Secret.
	plantedBotToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cHJvai1hOmFtYmllbnQtc2Vzc2lvbi1zZXNzLWIifQ.ZmFrZS1zaWduYXR1cmUtZm9yLXRlc3Rz"
	// userToken is the harness user's bearer token.
	userToken = "harness-user-bearer-0123456789abcdef"
)

var upgradeAt = time.Date(2026, 5, 11, 10, 0, 0, 0, time.UTC)

func ts(sec int) string {
	return upgradeAt.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano)
}

// fakeLogs serves log lines per "ns/pod/container[/previous]".
type fakeLogs struct {
	lines map[string][]string
	errs  map[string]error
}

func (f fakeLogs) ContainerLogs(_ context.Context, ns, pod, container string, previous bool) (io.ReadCloser, error) {
	key := ns + "/" + pod + "/" + container
	if previous {
		key += "/previous"
	}
	if err, ok := f.errs[key]; ok {
		return nil, err
	}
	lines, ok := f.lines[key]
	if !ok {
		if previous {
			return nil, fmt.Errorf(`previous terminated container %q in pod %q not found`, container, pod)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	return io.NopCloser(strings.NewReader(strings.Join(lines, "\n") + "\n")), nil
}

func pod(ns, name string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, c := range containers {
		if strings.HasPrefix(c, "init:") {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: strings.TrimPrefix(c, "init:")})
			continue
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

type fixture struct {
	in     CollectInput
	client *fake.Clientset
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	managed := map[string]string{"ambient-code.io/managed": "true"}
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ambient-code"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "proj-a", Labels: managed}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "unrelated"}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "proj-a", Name: "ambient-runner-token-sess-b",
				Labels: map[string]string{"app": "ambient-runner-token"},
				Annotations: map[string]string{
					"ambient-code.io/token-refreshed-at": "2026-05-11T10:00:30Z",
					lastAppliedAnnotation:                `{"data":{"agui-token":"` + base64.StdEncoding.EncodeToString([]byte(plantedToken)) + `"}}`,
				},
				OwnerReferences: []metav1.OwnerReference{{Kind: "AgenticSession", Name: "sess-b", APIVersion: "vteam.ambient-code/v1alpha1"}},
			},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"k8s-token": []byte(plantedBotToken), "agui-token": []byte(plantedToken)},
		},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ambient-code", Name: "test-user-token"},
			Type: corev1.SecretTypeServiceAccountToken,
			Data: map[string][]byte{"token": []byte(userToken), "ca.crt": []byte("-----BEGIN CERTIFICATE-----public"), "namespace": []byte("ambient-code")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "proj-a", Name: "debug-dump"},
			Data: map[string]string{"env": "AGUI_TOKEN=" + plantedToken}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "unrelated", Name: "not-collected"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ambient-code", Name: "backend-api", Labels: map[string]string{"app": "backend-api"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "proj-a", Name: "e-late"}, Reason: "Failed",
			Message: "Error: couldn't find key agui-token in Secret proj-a/ambient-runner-token-sess-a", LastTimestamp: metav1.NewTime(upgradeAt.Add(90 * time.Second))},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "proj-a", Name: "e-early"}, Reason: "Scheduled",
			Message: "Successfully assigned proj-a/sess-a-runner", LastTimestamp: metav1.NewTime(upgradeAt.Add(-300 * time.Second))},
		pod("ambient-code", "backend-api-7d9f", "backend"),
		pod("proj-a", "sess-a-runner", "ambient-code-runner"),
		pod("proj-a", "sess-b-runner", "init:init-hydrate", "ambient-code-runner", "state-sync"),
		pod("proj-a", "sess-c-runner", "ambient-code-runner"),
	)

	session := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
		"metadata": map[string]any{"namespace": "proj-a", "name": "sess-b",
			"annotations": map[string]any{"ambient-code.io/runner-token-secret": "ambient-runner-token-sess-b", "debug/token": plantedToken}},
		"status": map[string]any{"phase": "Running"},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{platform.AgenticSessionGVR: "AgenticSessionList"}, session)

	logs := fakeLogs{
		lines: map[string][]string{
			"ambient-code/backend-api-7d9f/backend": {
				ts(-10) + " Starting backend v0.2.0",
				ts(5) + " AGUI Proxy: runner returned 401: {\"detail\":\"Unauthorized\"}",
				ts(6) + " proxying with header X-Ambient-Session-Token: " + plantedToken,
			},
			"proj-a/sess-b-runner/ambient-code-runner": {
				ts(-1) + " INFO:ambient_runner.app:AG-UI token authentication enabled",
				ts(0) + ` INFO:     10.244.0.7:40112 - "POST / HTTP/1.1" 401 Unauthorized`,
				"    continuation of the line above",
				ts(2) + " AGUI_TOKEN=" + plantedToken + " bot=" + plantedBotToken,
			},
			"proj-a/sess-b-runner/init-hydrate":                 {ts(-2) + " hydrated with BOT_TOKEN=" + plantedBotToken},
			"proj-a/sess-a-runner/ambient-code-runner/previous": {ts(-60) + " previous instance"},
		},
		errs: map[string]error{
			"proj-a/sess-c-runner/ambient-code-runner": errors.New(`container "ambient-code-runner" in pod "sess-c-runner" is waiting to start: CreateContainerConfigError`),
			"proj-a/sess-b-runner/state-sync/previous": errors.New("connection reset by peer"),
		},
	}
	dir := filepath.Join(t.TempDir(), "artifacts", "cells", "v0.2.0-v0.2.2")
	return fixture{client: client, in: CollectInput{
		Client: client, Dynamic: dyn, Dir: dir, UpgradeStarted: upgradeAt,
		Redactor: secrets.NewRedactor(), // told nothing: Collect must learn the tokens from the Secrets
		Logs:     logs,
		Ledger: []ledger.Observation{
			{Time: upgradeAt.Add(7 * time.Second), Phase: ledger.PhaseAfter, Signal: ledger.SignalRunner401, Caller: ledger.CallerBackend,
				Method: "POST", Path: "/", Status: 401, Namespace: "proj-a", Session: "sess-b", Detail: "sent token " + plantedToken},
			{Time: upgradeAt.Add(-7 * time.Second), Phase: ledger.PhaseBefore, Signal: ledger.SignalAPI, Path: "/api/projects?token=" + userToken, Status: 201},
			// What the wire witness saw: names and fingerprints only.
			{Time: upgradeAt.Add(7 * time.Second), Phase: ledger.PhaseAfter, Signal: ledger.SignalWireRequest, Source: "wire-witness", Caller: ledger.CallerBackend,
				RunnerPod: "proj-a/sess-b-runner", Method: "POST", Path: "/", Status: 401, Wire: &ledger.WireRequest{
					HeaderNames: []string{"Content-Type", "X-Ambient-Token"}, SrcIP: "10.244.0.5", DstIP: "10.244.0.9",
					TokenHeaders: []ledger.WireTokenHeader{{Name: "X-Ambient-Token", Fingerprint: secrets.Fingerprint(plantedToken)}}}},
			{Time: upgradeAt.Add(8 * time.Second), Phase: ledger.PhaseAfter, Signal: ledger.SignalWireRequest, Source: "wire-witness", Caller: ledger.CallerOperator,
				RunnerPod: "proj-a/sess-b-runner", Method: "POST", Path: "/workflow", Wire: &ledger.WireRequest{HeaderNames: []string{"Content-Type"}}},
		},
		NodeLogs: func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "kubelet.log"), []byte("pod env AGUI_TOKEN="+plantedToken+"\n"), 0o644)
		},
		Now: func() time.Time { return upgradeAt.Add(time.Hour) },
	}}
}

func read(t *testing.T, dir, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("bundle lacks %s: %v", rel, err)
	}
	return string(data)
}

func TestCollectLayoutAndSplit(t *testing.T) {
	f := newFixture(t)
	sum, err := Collect(context.Background(), f.in)
	if err != nil {
		t.Fatal(err)
	}
	dir := f.in.Dir
	if got := strings.Join(sum.Namespaces, ","); got != "ambient-code,proj-a" {
		t.Fatalf("namespaces = %s, want ambient-code,proj-a (unlabelled namespaces excluded)", got)
	}
	wire := strings.Split(strings.TrimSpace(read(t, dir, WireFile)), "\n")
	if len(wire) != 2 {
		t.Fatalf("%s has %d lines, want the 2 wire requests", WireFile, len(wire))
	}
	var first ledger.Observation
	if err := json.Unmarshal([]byte(wire[0]), &first); err != nil || first.Wire == nil || first.Wire.TokenHeaders[0].Fingerprint != secrets.Fingerprint(plantedToken) ||
		strings.Join(first.Wire.HeaderNames, ",") != "Content-Type,X-Ambient-Token" {
		t.Errorf("%s line 1 = %s (%v)", WireFile, wire[0], err)
	}
	for _, rel := range []string{
		IndexFile, LedgerJSONFile, LedgerTextFile, "resources/namespaces.yaml",
		"resources/ambient-code/deployments.yaml", "resources/ambient-code/replicasets.yaml", "resources/ambient-code/pods.yaml",
		"resources/ambient-code/services.yaml", "resources/ambient-code/configmaps.yaml", "resources/ambient-code/serviceaccounts.yaml",
		"resources/ambient-code/networkpolicies.yaml", "resources/ambient-code/secrets.yaml", "resources/ambient-code/events.yaml",
		"resources/proj-a/agenticsessions.yaml", "resources/proj-a/events.yaml", "resources/proj-a/secrets.yaml",
		"logs/ambient-code/backend-api-7d9f/backend.before.log", "logs/ambient-code/backend-api-7d9f/backend.after.log",
		"logs/proj-a/sess-b-runner/init-hydrate.before.log", "logs/proj-a/sess-b-runner/state-sync.after.log",
		"logs/proj-a/sess-a-runner/ambient-code-runner.previous.before.log", "nodes/kubelet.log",
	} {
		read(t, dir, rel)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs/proj-a/sess-b-runner/ambient-code-runner.previous.before.log")); err == nil {
		t.Errorf("a container that never restarted must have no .previous log")
	}
	if _, err := os.Stat(filepath.Join(dir, "resources/unrelated")); err == nil {
		t.Errorf("unrelated namespace was collected")
	}

	before := read(t, dir, "logs/proj-a/sess-b-runner/ambient-code-runner.before.log")
	after := read(t, dir, "logs/proj-a/sess-b-runner/ambient-code-runner.after.log")
	if !strings.HasPrefix(before, ts(-1)+" INFO:ambient_runner.app:AG-UI token authentication enabled\n") || strings.Count(before, "\n") != 1 {
		t.Errorf("before.log should hold exactly the pre-upgrade line with its timestamp:\n%s", before)
	}
	if !strings.HasPrefix(after, ts(0)+` INFO:     10.244.0.7:40112 - "POST / HTTP/1.1" 401 Unauthorized`+"\n    continuation of the line above\n") {
		t.Errorf("after.log should start with the line at the upgrade instant and its continuation:\n%s", after)
	}
	wantMarker := "<redacted:proj-a/ambient-runner-token-sess-b/agui-token " + secrets.Fingerprint(plantedToken) + ">"
	if !strings.Contains(after, "AGUI_TOKEN="+wantMarker) {
		t.Errorf("after.log lacks the redaction marker %s:\n%s", wantMarker, after)
	}

	// Deployment YAML: kind filled in, managedFields dropped.
	dep := read(t, dir, "resources/ambient-code/deployments.yaml")
	if !strings.Contains(dep, "kind: Deployment") || !strings.Contains(dep, "apiVersion: apps/v1") || strings.Contains(dep, "managedFields") {
		t.Errorf("deployments.yaml:\n%s", dep)
	}
	events := read(t, dir, "resources/proj-a/events.yaml")
	if strings.Index(events, "e-early") > strings.Index(events, "e-late") {
		t.Errorf("events not in time order:\n%s", events)
	}
	if !strings.Contains(read(t, dir, "resources/proj-a/agenticsessions.yaml"), "name: sess-b") {
		t.Errorf("AgenticSession sess-b missing")
	}
	ltxt := read(t, dir, LedgerTextFile)
	if lines := strings.Split(strings.TrimSpace(ltxt), "\n"); len(lines) != 4 || !strings.Contains(lines[0], "[before] api") ||
		!strings.Contains(lines[2], "wire-request caller=backend POST / status=401 runner=proj-a/sess-b-runner headers=[Content-Type, X-Ambient-Token] tokens=[X-Ambient-Token: sha256:") {
		t.Errorf("ledger.txt should hold 4 time-ordered lines, the wire's with header names and fingerprints:\n%s", ltxt)
	}

	// Failures and notes: one broken stream, one container that never started.
	if len(sum.Failures) != 1 || sum.Failures[0].Item != "logs/proj-a/sess-b-runner/state-sync.previous" {
		t.Errorf("failures = %+v, want only the state-sync previous log", sum.Failures)
	}
	if len(sum.Notes) != 1 || !strings.Contains(sum.Notes[0], "CreateContainerConfigError") {
		t.Errorf("notes = %v, want the waiting container", sum.Notes)
	}
	index := read(t, dir, IndexFile)
	for _, want := range []string{"connection reset by peer", "CreateContainerConfigError", "Upgrade started: 2026-05-11T10:00:00Z", "[`logs/proj-a/sess-b-runner/ambient-code-runner.after.log`]"} {
		if !strings.Contains(index, want) {
			t.Errorf("index.md lacks %q:\n%s", want, index)
		}
	}
}

func TestSecretsAsFingerprints(t *testing.T) {
	f := newFixture(t)
	if _, err := Collect(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	var summaries []secretSummary
	if err := yaml.Unmarshal([]byte(read(t, f.in.Dir, "resources/proj-a/secrets.yaml")), &summaries); err != nil {
		t.Fatal(err)
	}
	if len(summaries) != 1 {
		t.Fatalf("want 1 secret in proj-a, got %d", len(summaries))
	}
	s := summaries[0]
	if s.Keys["agui-token"] != secrets.Fingerprint(plantedToken) || s.Keys["k8s-token"] != secrets.Fingerprint(plantedBotToken) {
		t.Errorf("keys = %v, want fingerprints", s.Keys)
	}
	if s.Lengths["agui-token"] != 36 {
		t.Errorf("agui-token length = %d, want 36 (docs/platform.md §8.7)", s.Lengths["agui-token"])
	}
	if _, ok := s.Annotations[lastAppliedAnnotation]; ok || s.Annotations["ambient-code.io/token-refreshed-at"] == "" {
		t.Errorf("annotations = %v: want last-applied dropped, token-refreshed-at kept", s.Annotations)
	}
	if len(s.Owners) != 1 || s.Owners[0] != "AgenticSession/sess-b" {
		t.Errorf("owners = %v", s.Owners)
	}
	// ca.crt is public and must not be learned (it would blank the CA ConfigMap).
	if got := f.in.Redactor.Redact("-----BEGIN CERTIFICATE-----public"); strings.Contains(got, "redacted") {
		t.Errorf("ca.crt was learned as a secret")
	}
}

// TestPlantedTokenNowhere plants tokens in a Secret, pod log lines, a
// ConfigMap, a CR annotation, the ledger and node logs, then proves with
// ScanDir that none is in the bundle nor in the JUnit/Markdown/JSON reports.
func TestPlantedTokenNowhere(t *testing.T) {
	f := newFixture(t)
	sum, err := Collect(context.Background(), f.in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sum.Files, WireFile) {
		t.Errorf("bundle files %v lack %s", sum.Files, WireFile)
	}
	if sum.SecretsLearned != 3 {
		t.Errorf("SecretsLearned = %d, want 3 (agui-token, k8s-token, test-user token)", sum.SecretsLearned)
	}
	artifacts := filepath.Dir(filepath.Dir(f.in.Dir))
	c := upgrade.Cell{Catalog: "simulated", From: "v0.2.0", To: "v0.2.2", Expect: verdict.Expectation{Verdict: verdict.Pass}}
	err = report.WriteAll(report.WriteInput{
		Dir: artifacts, Getenv: func(string) string { return "" }, Redactor: f.in.Redactor,
		Results: []cellrun.Report{{Result: cell.Result{
			Cell: c, Verdict: verdict.Fail,
			Rules: []verdict.RuleResult{{Rule: "no-runner-401", Verdict: verdict.Fail, Reason: "token " + plantedToken + " rejected", Evidence: f.in.Ledger}},
			Error: "bot " + plantedBotToken, Ledger: f.in.Ledger,
		}, BundleDir: report.BundleDir(c)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The timeline's wire marks name headers and fingerprints on hover.
	page := read(t, artifacts, report.HTMLFile)
	if !strings.Contains(page, `class="mark mark-wire"`) || !strings.Contains(page, "headers=[Content-Type, X-Ambient-Token] tokens=[X-Ambient-Token: "+secrets.Fingerprint(plantedToken)+"]") {
		t.Errorf("report.html lacks the wire marks with header names and fingerprints")
	}
	values := []string{plantedToken, plantedBotToken, userToken}
	findings, err := secrets.ScanDir(artifacts, values)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 0 {
		t.Fatalf("secrets found in artifacts: %v", findings)
	}
	// Positive control: the same scan sees a token written raw.
	if err := os.WriteFile(filepath.Join(artifacts, "leak.txt"), []byte("x "+plantedToken), 0o644); err != nil {
		t.Fatal(err)
	}
	if findings, _ := secrets.ScanDir(artifacts, values); len(findings) != 1 {
		t.Fatalf("positive control: want 1 finding, got %v", findings)
	}
}

func TestCollectKeepsGoingWhenAListFails(t *testing.T) {
	f := newFixture(t)
	f.client.PrependReactor("list", "networkpolicies", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("networkpolicies is forbidden")
	})
	f.in.Dynamic = nil
	f.in.NodeLogs = func(string) error { return errors.New("kind export logs: exit status 1") }
	sum, err := Collect(context.Background(), f.in)
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]bool{}
	for _, fl := range sum.Failures {
		items[fl.Item] = true
	}
	for _, want := range []string{"resources/ambient-code/networkpolicies.yaml", "resources/proj-a/networkpolicies.yaml", SessionsFile, NodesDir} {
		if !items[want] {
			t.Errorf("failure for %s not recorded; got %+v", want, sum.Failures)
		}
	}
	read(t, f.in.Dir, "resources/proj-a/pods.yaml") // later kinds still collected
	read(t, f.in.Dir, "logs/ambient-code/backend-api-7d9f/backend.after.log")
	if index := read(t, f.in.Dir, IndexFile); !strings.Contains(index, "networkpolicies is forbidden") {
		t.Errorf("index.md does not list the failure:\n%s", index)
	}
}

func TestCollectWithoutUpgradePutsEverythingBefore(t *testing.T) {
	f := newFixture(t)
	f.in.UpgradeStarted = time.Time{}
	if _, err := Collect(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	if after := read(t, f.in.Dir, "logs/ambient-code/backend-api-7d9f/backend.after.log"); after != "" {
		t.Errorf("after.log must be empty when the upgrade never started:\n%s", after)
	}
	if before := read(t, f.in.Dir, "logs/ambient-code/backend-api-7d9f/backend.before.log"); strings.Count(before, "\n") != 3 {
		t.Errorf("before.log should hold all 3 lines:\n%s", before)
	}
}

func TestCollectRejectsBadInput(t *testing.T) {
	if _, err := Collect(context.Background(), CollectInput{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "Client") {
		t.Errorf("nil client: err = %v", err)
	}
	if _, err := Collect(context.Background(), CollectInput{Client: fake.NewClientset()}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func TestCollectStopsOnCancelledContext(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Collect(ctx, f.in)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failures) == 0 || !strings.Contains(sum.Failures[0].Error, "context canceled") {
		t.Errorf("cancellation not recorded: %+v", sum.Failures)
	}
	read(t, f.in.Dir, IndexFile)
}

// A rollback cell's bundle says so in its first line, as every report does
// (issue 25 item 5); without a title the heading stays what it was.
func TestIndexHeadingNamesTheCell(t *testing.T) {
	f := newFixture(t)
	f.in.Title = "v0.2.0 → v0.2.2 → v0.2.0 (rollback) [all-at-once]"
	if _, err := Collect(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	if index := read(t, f.in.Dir, IndexFile); !strings.HasPrefix(index, "# Failure bundle: v0.2.0 → v0.2.2 → v0.2.0 (rollback) [all-at-once]\n") {
		t.Errorf("index.md heading does not name the rollback cell:\n%.200s", index)
	}
	g := newFixture(t)
	if _, err := Collect(context.Background(), g.in); err != nil {
		t.Fatal(err)
	}
	if index := read(t, g.in.Dir, IndexFile); !strings.HasPrefix(index, "# Failure bundle\n") {
		t.Errorf("index.md heading without a title:\n%.200s", index)
	}
}
