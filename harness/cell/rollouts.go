package cell

import (
	"slices"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// Rollout is what one upgrade step did to one component, as timelines draw
// it: a Deployment's rollout (operator, backend, or a shared Deployment), or
// for the runner the switch of its image pin in the agent registry, which
// reaches only runner pods created afterwards (docs/platform.md §3.4).
type Rollout struct {
	// Step is the 1-based upgrade step.
	Step int `json:"step"`
	// Component is "" for a Deployment of neither operator nor backend.
	Component platform.Component `json:"component,omitempty"`
	// Deployment is "" for the runner's pin switch.
	Deployment string `json:"deployment,omitempty"`
	FromImage  string `json:"fromImage,omitempty"`
	ToImage    string `json:"toImage"`
	// Started is when the step's apply began; Done when the rollout was seen
	// done (for the runner: when the step, including its settle wait, ended).
	Started time.Time `json:"started"`
	Done    time.Time `json:"done"`
	// Pods run ToImage after the rollout; Replaced are the pods it replaced.
	Pods     []PodImage `json:"pods,omitempty"`
	Replaced []PodImage `json:"replaced,omitempty"`
}

// PodImage is a pod and the image its container runs.
type PodImage struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// RolloutsOf turns the step results of deploy.Upgrade into rollouts, in step
// order; from are the images installed before the upgrade.
func RolloutsOf(steps []deploy.StepResult, from platform.Images) []Rollout {
	var out []Rollout
	prev := from
	for i, s := range steps {
		for _, st := range s.Rollouts {
			ro := Rollout{Step: i + 1, Deployment: st.Deployment, ToImage: st.Image, Started: s.Started, Done: st.DoneAt,
				Pods: podImages(st.Pods), Replaced: podImages(st.Replaced)}
			for _, c := range platform.UpgradeComponents {
				if c.Deployment() != "" && c.Deployment() == st.Deployment {
					ro.Component, ro.FromImage = c, prev.Get(c)
				}
			}
			if ro.FromImage == "" && len(st.Replaced) > 0 {
				ro.FromImage = st.Replaced[0].Image
			}
			out = append(out, ro)
		}
		var effective platform.Images
		if s.Step.Objects != nil {
			effective = s.Step.Objects.Images
		}
		if slices.Contains(s.Step.Components, platform.Runner) {
			end := s.Started.Add(s.Duration)
			if s.Duration == 0 {
				end = time.Time{} // the step did not finish
			}
			out = append(out, Rollout{Step: i + 1, Component: platform.Runner, FromImage: prev.Runner, ToImage: effective.Runner,
				Started: s.Started, Done: end})
		}
		if s.Step.Objects != nil {
			prev = effective
		}
	}
	return out
}

func podImages(pods []deploy.RolloutPod) []PodImage {
	var out []PodImage
	for _, p := range pods {
		out = append(out, PodImage{Name: p.Name, Image: p.Image})
	}
	return out
}
