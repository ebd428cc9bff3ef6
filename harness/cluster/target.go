package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Target is a cluster the harness runs cells on, with its clients built once:
// a kind cluster (Kind set) or an existing cluster named by a kubeconfig.
type Target struct {
	// Name is the kind cluster's name, or "existing:<kubeconfig>".
	Name    string
	Rest    *rest.Config
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Kind is nil for an existing cluster.
	Kind *Cluster
	// NodeImage is the kind node image ("" for an existing cluster).
	NodeImage string
}

// clientQPS lets a cell's detectors, traffic and waits share one client
// without client-go's default 5 QPS throttling them.
const clientQPS, clientBurst = 50, 100

// NewKindTarget returns the target of a created (or reused) kind cluster.
func NewKindTarget(c *Cluster) (*Target, error) {
	if c.KubernetesRestConfig() == nil {
		return nil, fmt.Errorf("kind cluster %s has no client config: create it first", c.Name())
	}
	return newTarget(c.Name(), c.KubernetesRestConfig(), c, c.Image())
}

// NewExistingTarget opens an existing cluster through a kubeconfig file and
// context ("" for the file's current context).
func NewExistingTarget(kubeconfig, kubeContext string) (*Target, error) {
	cfg, err := ExistingRestConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	return newTarget("existing:"+kubeconfig, cfg, nil, "")
}

// ExistingRestConfig loads a kubeconfig's context, failing as bad input (with
// the contexts the file has) when the file or context is not usable.
func ExistingRestConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	if st, err := os.Stat(kubeconfig); err != nil || !st.Mode().IsRegular() {
		return nil, fault.BadInputErr(fmt.Errorf("-kubeconfig %s: not a readable file (want a kubeconfig such as ~/.kube/config)", kubeconfig))
	}
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("-kubeconfig %s: not a kubeconfig: %v", kubeconfig, err))
	}
	contexts := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		contexts = append(contexts, name)
	}
	slices.Sort(contexts)
	if len(contexts) == 0 {
		return nil, fault.BadInputErr(fmt.Errorf("-kubeconfig %s: has no contexts (want a kubeconfig with at least one context)", kubeconfig))
	}
	if kubeContext != "" && raw.Contexts[kubeContext] == nil {
		return nil, fault.BadInputErr(fmt.Errorf("-context %q: not in %s (want one of %s)", kubeContext, kubeconfig, strings.Join(contexts, ", ")))
	}
	if kubeContext == "" && raw.Contexts[raw.CurrentContext] == nil {
		return nil, fault.BadInputErr(fmt.Errorf("-kubeconfig %s: no current context (want -context, one of %s)", kubeconfig, strings.Join(contexts, ", ")))
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("-kubeconfig %s: %v", kubeconfig, err))
	}
	return cfg, nil
}

func newTarget(name string, cfg *rest.Config, kind *Cluster, nodeImage string) (*Target, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return &Target{Name: name, Rest: cfg, Kube: kube, Dynamic: dyn, Kind: kind, NodeImage: nodeImage}, nil
}

// LoadImages loads local images into a kind target; an existing cluster must
// be able to get them itself, so nothing is done there.
func (t *Target) LoadImages(ctx context.Context, images ...string) error {
	if t.Kind == nil {
		return nil
	}
	return t.Kind.LoadImages(ctx, images...)
}

// ExportLogs writes kind's node logs to dir (nothing for an existing cluster).
func (t *Target) ExportLogs(ctx context.Context, dir string) error {
	if t.Kind == nil {
		return nil
	}
	return t.Kind.ExportLogs(ctx, dir)
}

// AccessLine is the kubectl prefix that reaches the target, for reports.
func (t *Target) AccessLine() string {
	if t.Kind == nil {
		return t.Name
	}
	return fmt.Sprintf("kubectl --kubeconfig %s --context %s", t.Kind.GetKubeconfig(), t.Kind.GetKubectlContext())
}
