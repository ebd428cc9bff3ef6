package platform

import (
	"slices"
	"testing"
)

func TestImagesSlots(t *testing.T) {
	var i Images
	for _, c := range ImageComponents {
		i.Set(c, "img/"+string(c)+":1")
	}
	i.Set("frontend", "ignored:1")
	if got := i.List(); len(got) != 4 || got[0] != "img/operator:1" || got[3] != "img/stateSync:1" {
		t.Fatalf("List = %v, want the four images in component order", got)
	}
	over := Images{Backend: "pr/backend:2"}
	merged := i.With(over)
	if merged.Backend != "pr/backend:2" || merged.Operator != "img/operator:1" || i.Backend != "img/backend:1" {
		t.Fatalf("With = %+v (input %+v): want only the backend replaced, input untouched", merged, i)
	}
	if !slices.Equal(over.Components(), []Component{Backend}) || over.IsZero() || !(Images{}).IsZero() {
		t.Fatalf("Components/IsZero wrong for %+v", over)
	}
	if got := over.Missing(); !slices.Equal(got, []Component{Operator, Runner, StateSync}) {
		t.Fatalf("Missing = %v", got)
	}
}

func TestParseComponent(t *testing.T) {
	if c, err := ParseComponent("stateSync"); err != nil || c != StateSync {
		t.Fatalf("ParseComponent(stateSync) = %v, %v", c, err)
	}
	if _, err := ParseComponent("frontend"); err == nil {
		t.Fatal("frontend is not a component")
	}
	if Operator.Deployment() != "agentic-operator" || Runner.Deployment() != "" || Runner.ImageRepo() != "vteam_claude_runner" {
		t.Fatal("component facts drifted from docs/platform.md §6")
	}
}

func TestPathFamily(t *testing.T) {
	for in, want := range map[string]string{
		"/":                    "/",
		"/events":              "/events",
		"/events/":             "/events",
		"/events/t1":           "/events/{thread}",
		"/events/t1/wait":      "/events/{thread}/wait",
		"/tasks/7":             "/tasks/{id}",
		"/tasks/7/output":      "/tasks/{id}/output",
		"/content/list?path=.": "/content/list",
		"/workflow":            "/workflow",
	} {
		if got := PathFamily(in); got != want {
			t.Errorf("PathFamily(%q) = %q, want %q", in, got, want)
		}
	}
}
