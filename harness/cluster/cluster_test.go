package cluster

import "testing"

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
