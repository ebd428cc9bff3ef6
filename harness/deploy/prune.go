package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// PruneDiff lists the objects of previous that next no longer contains, in
// deletion order (workloads first, namespaces and CRDs last).
func PruneDiff(previous, next *Rendered) []ObjectRef {
	if previous == nil {
		return nil
	}
	keep := map[ObjectRef]bool{}
	if next != nil {
		for _, ref := range next.Refs() {
			keep[ref] = true
		}
	}
	var out []ObjectRef
	for _, ref := range previous.Refs() {
		if !keep[ref] {
			out = append(out, ref)
		}
	}
	sortForDelete(out)
	return out
}

// sortForDelete orders refs as the reverse of the apply order.
func sortForDelete(refs []ObjectRef) {
	sort.SliceStable(refs, func(i, j int) bool { return applyRank(refs[i].Kind) > applyRank(refs[j].Kind) })
}

// PruneInput says which managed objects to delete after moving from Previous to Next.
type PruneInput struct {
	Config   *rest.Config
	Previous *Rendered
	Next     *Rendered
	// Timeout bounds the wait until the deleted objects are gone (default 2m).
	Timeout time.Duration
	Logf    func(format string, args ...any)
}

// PruneResult lists what Prune deleted.
type PruneResult struct {
	Deleted  []ObjectRef
	Duration time.Duration
}

// Prune deletes objects carrying ManagedLabel that Next does not contain: the
// diff of the two renders, plus a live list by label of every kind either
// render has (an earlier, unrecorded render may have left more behind).
func Prune(ctx context.Context, in PruneInput) (*PruneResult, error) {
	if in.Next == nil {
		return nil, fault.BadInputErr(errors.New("PruneInput.Next is nil: pruning against nothing would delete the whole platform"))
	}
	c, err := newClusterClients(in.Config)
	if err != nil {
		return nil, err
	}
	return pruneWith(ctx, c, in)
}

func pruneWith(ctx context.Context, c *clusterClients, in PruneInput) (*PruneResult, error) {
	start := time.Now()
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	keep := map[ObjectRef]bool{}
	for _, ref := range in.Next.Refs() {
		keep[ref] = true
	}
	candidates := map[ObjectRef]schema.GroupVersionKind{}
	kinds := map[schema.GroupVersionKind]bool{}
	for _, r := range []*Rendered{in.Previous, in.Next} {
		if r == nil {
			continue
		}
		for _, o := range r.Objects {
			kinds[o.GroupVersionKind()] = true
		}
	}
	if in.Previous != nil {
		for _, o := range in.Previous.Objects {
			if ref := RefOf(o); !keep[ref] {
				candidates[ref] = o.GroupVersionKind()
			}
		}
	}
	for gvk := range kinds {
		gvr, err := c.resourceOf(gvk)
		if err != nil {
			if isNoMatch(err) {
				continue // the kind is gone, and so are its objects
			}
			return nil, fault.InfraErr(err)
		}
		list, err := c.dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: ManagedLabel + "=true"})
		if err != nil {
			return nil, fault.InfraErr(fmt.Errorf("list %s with label %s=true: %w", gvr.Resource, ManagedLabel, err))
		}
		for i := range list.Items {
			item := &list.Items[i]
			item.SetGroupVersionKind(gvk)
			if ref := RefOf(item); !keep[ref] {
				candidates[ref] = gvk
			}
		}
	}
	refs := make([]ObjectRef, 0, len(candidates))
	for ref := range candidates {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	sortForDelete(refs)
	res := &PruneResult{}
	var deleted []deletedObject
	for _, ref := range refs {
		ri, err := c.resourceForRef(ref, candidates[ref])
		if err != nil {
			if isNoMatch(err) {
				continue
			}
			return res, fault.InfraErr(err)
		}
		if err := deleteBackground(ctx, ri, ref.Name); err != nil {
			return res, fault.InfraErr(fmt.Errorf("prune %s: %w", ref, err))
		}
		logf("pruned %s", ref)
		res.Deleted = append(res.Deleted, ref)
		deleted = append(deleted, deletedObject{ref: ref, client: ri})
	}
	if err := waitForObjectsGone(ctx, deleted, in.Timeout); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

type deletedObject struct {
	ref    ObjectRef
	client dynamic.ResourceInterface
}

func deleteBackground(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	policy := metav1.DeletePropagationBackground
	err := ri.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// waitForObjectsGone polls until every object returns NotFound (a Terminating
// namespace still exists and is waited for).
func waitForObjectsGone(ctx context.Context, objs []deletedObject, timeout time.Duration) error {
	if len(objs) == 0 {
		return nil
	}
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	remaining := append([]deletedObject(nil), objs...)
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var still []deletedObject
		for _, o := range remaining {
			_, err := o.client.Get(ctx, o.ref.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return false, err
			default:
				still = append(still, o)
			}
		}
		remaining = still
		return len(remaining) == 0, nil
	})
	if err != nil {
		names := make([]string, 0, len(remaining))
		for _, o := range remaining {
			names = append(names, o.ref.String())
		}
		return fault.InfraErr(fmt.Errorf("still present %s after deletion: %v: %w", timeout, names, err))
	}
	return nil
}
