package pipeline

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/detect"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// ReleaseOfInput names the releases whose images the ledger labels.
type ReleaseOfInput struct {
	From, To   string
	FromR, ToR *deploy.Rendered
	// Overrides are images put into To by hand (labelled To+"+override").
	Overrides platform.Images
}

// ReleaseOf tells which release an image belongs to: to's when both releases
// have it (so the upgrade is never excused for a 401 it shipped), an override
// is its to release marked so, anything else is unknown.
func ReleaseOf(in ReleaseOfInput) func(string) string {
	labels := map[string]string{}
	for _, img := range deploy.ListImages(in.FromR) {
		labels[deploy.NormalizeImage(img)] = in.From
	}
	for _, img := range deploy.ListImages(in.ToR) {
		labels[deploy.NormalizeImage(img)] = in.To
	}
	for _, img := range in.Overrides.List() {
		labels[deploy.NormalizeImage(img)] = in.To + "+override"
	}
	return func(image string) string {
		if l, ok := labels[deploy.NormalizeImage(image)]; ok {
			return l
		}
		return verdict.UnknownRelease
	}
}

// TrafficFamilies are what background traffic keeps calling: every family
// but spec changes, which are made at set points (ChangeSpecs) so that no
// verdict depends on where a tick happens to land.
var TrafficFamilies = slices.DeleteFunc(slices.Clone(session.AllFamilies), func(f session.Family) bool { return f == session.FamilySpecChange })

// TrafficInput is the background traffic of some sessions.
type TrafficInput struct {
	Client   *session.Client
	Sessions []session.SessionRef
	Interval time.Duration
	// GapThreshold: an events disconnection longer than this is a gap (0: the session default).
	GapThreshold time.Duration
}

// StartTraffic starts every repeating family on the sessions, their event
// streams read into the ledger.
func (p *Platform) StartTraffic(ctx context.Context, in TrafficInput) (*session.Traffic, error) {
	t, err := session.NewTraffic(session.TrafficInput{Client: in.Client, Ledger: p.Ledger, Sessions: in.Sessions, Interval: in.Interval,
		GapThreshold: in.GapThreshold, Families: TrafficFamilies,
		Observer: func(ctx context.Context, stream io.Reader, ns, s string) {
			detect.ObserveEventStream(ctx, stream, ns, s, p.Ledger)
		}})
	if err != nil {
		return nil, err
	}
	if err := t.Start(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// RunnerCall is a call the ledger must show a runner received (any status:
// an access line or a 401 line).
type RunnerCall struct {
	Caller  ledger.Caller
	Method  string
	Path    string
	Session session.SessionRef
	// After, when set, is the earliest the call counts (the change that causes it).
	After time.Time
}

func (c RunnerCall) String() string {
	return fmt.Sprintf("%s %s %s on %s", c.Caller, c.Method, c.Path, c.Session)
}

// Family is the call family of c.
func (c RunnerCall) Family() platform.CallFamily {
	return platform.CallFamily{Caller: platform.Component(c.Caller), Method: c.Method, Path: platform.PathFamily(c.Path)}
}

// ExampleRepo is the repo spec changes add and remove.
const ExampleRepo = "harness-example-repo"

// ChangeSpecsInput is one round of spec changes on some sessions.
type ChangeSpecsInput struct {
	Client   *session.Client
	Sessions []session.SessionRef
	// Retry bounds the tries of a change the backend refuses with a
	// conflict (zero value: session.DefaultSpecChangeRetry).
	Retry session.SpecChangeRetry
	// ReconcileTimeout bounds the wait for the operator to record an added
	// repo before it is removed again.
	ReconcileTimeout time.Duration
	// WriteRefusedRepo writes a repo add the backend did not accept into the
	// session object instead, as kubectl users do, so the operator's repo
	// families are exercised whatever the backend's (the compatibility sweep).
	WriteRefusedRepo bool
}

// ChangeSpecs selects a new workflow and adds and removes a repo on each
// session: the backend calls the runner, then the operator's drift reconcile
// does (docs/platform.md §3.5 item 6). A change refused with a conflict is
// retried as a user's client would (session.Client.ChangeSpec); one still
// refused is in the ledger as spec-change-refused. It returns the operator
// calls the changes must cause (platform.SpecChanges): only those whose
// change reached the spec, since a rejected change leaves the operator alone.
// The repo is removed only once the operator has recorded its add, or it
// would see no drift.
func (p *Platform) ChangeSpecs(ctx context.Context, in ChangeSpecsInput) []RunnerCall {
	client := in.Client
	workflow, addRepo, removeRepo := platform.SpecChanges[0], platform.SpecChanges[1], platform.SpecChanges[2]
	var want []RunnerCall
	expect := func(sc platform.SpecChange, ref session.SessionRef, after time.Time) {
		want = append(want, RunnerCall{Caller: ledger.Caller(sc.Operator.Caller), Method: sc.Operator.Method, Path: sc.Operator.Path, Session: ref, After: after})
	}
	change := func(ref session.SessionRef, apply func(context.Context) session.APIResult) session.SpecChangeResult {
		return client.ChangeSpec(ctx, session.ChangeSpecInput{Session: ref, Apply: apply, Retry: in.Retry})
	}
	repoURL := "https://github.com/ambient-code/" + ExampleRepo
	var added []session.SessionRef
	for _, ref := range in.Sessions {
		// A workflow the session has not had yet, or the spec would not change.
		p.specChanges++
		wf := session.Workflow{GitURL: session.ExampleWorkflowURL, Branch: session.DefaultBranch, Path: fmt.Sprintf("workflows/harness-%d", p.specChanges)}
		at := time.Now() // before the call: the operator may act before its answer arrives
		if change(ref, func(ctx context.Context) session.APIResult { return client.SelectWorkflow(ctx, ref, wf) }).Accepted() {
			expect(workflow, ref, at)
		}
		at = time.Now()
		res := change(ref, func(ctx context.Context) session.APIResult {
			return client.AddRepo(ctx, ref, session.Repo{URL: repoURL, Branch: session.DefaultBranch})
		})
		switch {
		case res.Accepted():
		case in.WriteRefusedRepo:
			if err := p.addRepoToSpec(ctx, ref, repoURL); err != nil {
				p.Logf("add repo to %s's spec after the backend answered %d: %v", ref, res.Last.Status, err)
				continue
			}
		default:
			continue
		}
		expect(addRepo, ref, at)
		added = append(added, ref)
	}
	for _, ref := range added {
		if err := session.WaitForReconciledRepo(ctx, session.WaitForReconciledRepoInput{Dynamic: p.Target.Dynamic, Session: ref, Repo: ExampleRepo, Timeout: in.ReconcileTimeout}); err != nil {
			p.Logf("%v", err)
			if in.WriteRefusedRepo {
				continue // the operator did not see the add: a remove would show nothing
			}
		}
		at := time.Now()
		res := change(ref, func(ctx context.Context) session.APIResult { return client.RemoveRepo(ctx, ref, ExampleRepo) })
		if res.Accepted() {
			expect(removeRepo, ref, at)
		} else {
			p.Logf("remove repo from %s: the backend answered %d", ref, res.Last.Status)
		}
	}
	return want
}

// addRepoToSpec appends a repo to the session's spec.repos directly.
func (p *Platform) addRepoToSpec(ctx context.Context, ref session.SessionRef, url string) error {
	ri := p.Target.Dynamic.Resource(platform.AgenticSessionGVR).Namespace(ref.Project)
	// The operator updates the object too: retry on a stale resourceVersion.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		repos, _, _ := unstructured.NestedSlice(obj.Object, "spec", "repos")
		repos = append(repos, map[string]any{"url": url, "branch": session.DefaultBranch})
		if err := unstructured.SetNestedSlice(obj.Object, repos, "spec", "repos"); err != nil {
			return err
		}
		_, err = ri.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	})
}
