package cluster

import (
	"errors"
	"strings"
	"testing"

	kindexec "sigs.k8s.io/kind/pkg/exec"
)

func TestNameCarriesPrefixAndIsValid(t *testing.T) {
	cases := map[string]string{
		"e2e":                 "uh-e2e",
		"Repro v0.2.0→v0.2.2": "uh-repro-v0-2-0-v0-2-2",
		"":                    "uh-cluster",
		"a-very-long-purpose-name-that-would-not-fit-in-a-label": "uh-a-very-long-purpose-name-that-would-n",
	}
	for in, want := range cases {
		got := Name(in)
		if got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
		if !IsHarnessCluster(got) {
			t.Errorf("%q not recognised as a harness cluster", got)
		}
		if len(got) > 40 {
			t.Errorf("%q longer than 40", got)
		}
	}
	if IsHarnessCluster("kind") || IsHarnessCluster("ambient-local") {
		t.Error("foreign clusters must never be taken for harness clusters")
	}
}

func TestWithVersionSelectsUpstreamImageOnlyWhenNoneSet(t *testing.T) {
	c := New("uh-x")
	c.WithVersion("v1.33.7")
	if c.Image() != "kindest/node:v1.33.7" {
		t.Errorf("got %q", c.Image())
	}
	d := New("uh-y", WithImage("upgrade-harness/node:v1.33.13-abc"))
	d.WithVersion("v1.33.7")
	if d.Image() != "upgrade-harness/node:v1.33.13-abc" {
		t.Errorf("explicit image overridden: %q", d.Image())
	}
	if d.GetKubectlContext() != "kind-uh-y" {
		t.Errorf("context %q", d.GetKubectlContext())
	}
}

// `cluster list` keeps docker's own words when kind's call of docker fails.
func TestWithDockerOutputKeepsDockersStderr(t *testing.T) {
	inner := errors.New("exit status 1")
	err := withDockerOutput("listing kind clusters", &kindexec.RunError{Command: []string{"docker", "ps", "-a"}, Output: []byte("permission denied while trying to connect to the Docker daemon socket\n"), Inner: inner})
	if !strings.Contains(err.Error(), "permission denied while trying to connect") || !strings.Contains(err.Error(), "docker ps -a") {
		t.Fatalf("message %q lost docker's stderr or the command", err)
	}
}

// TestNormalizedRefIsContainerdsName: the name LoadImages looks an image up
// by in the node's listing is the one containerd stores it under.
func TestNormalizedRefIsContainerdsName(t *testing.T) {
	for ref, want := range map[string]string{
		"localhost/ambient-sim/vteam_operator:v0.2.7": "localhost/ambient-sim/vteam_operator:v0.2.7",
		"busybox:1.36":                              "docker.io/library/busybox:1.36",
		"upgrade-harness/echo":                      "docker.io/upgrade-harness/echo:latest",
		"quay.io/ambient_code/vteam_backend:v0.2.2": "quay.io/ambient_code/vteam_backend:v0.2.2",
		"Not A Reference":                           "Not A Reference",
	} {
		if got := normalizedRef(ref); got != want {
			t.Errorf("normalizedRef(%q) = %q, want %q", ref, got, want)
		}
	}
}
