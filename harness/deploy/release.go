package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// RenderRelease renders a catalog release with its images pinned (overrides
// replace the set component images). Upstream manifests (any catalog that is
// not simulated) go through DefaultUpstreamSelection.
func RenderRelease(cat *catalog.Catalog, rel catalog.Release, overrides platform.Images) (*Rendered, error) {
	var sel *Selection
	if cat.Build != catalog.BuildSimulated {
		sel = DefaultUpstreamSelection()
	}
	source := rel.Manifests.ResolvedPath()
	if source == "" && rel.Manifests.Git != nil {
		dir, err := remoteKustomization(*rel.Manifests.Git)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		source = dir
	}
	out, err := Render(RenderInput{Source: source, Release: rel.Version, Selection: sel,
		Lower: DefaultLowResources(), LowerPlatform: DefaultPlatformRequests(), Images: rel.Images.With(overrides)})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", rel.Version, err)
	}
	return out, nil
}

// remoteKustomization writes a kustomization whose one resource is the git
// overlay (kustomize fetches it with git), as upstream's overlay is kept by tag.
func remoteKustomization(g catalog.GitSource) (string, error) {
	dir, err := os.MkdirTemp("", "uh-remote-")
	if err != nil {
		return "", err
	}
	url := strings.TrimSuffix(g.URL, ".git")
	if g.Path != "" {
		url += "//" + strings.Trim(g.Path, "/")
	}
	url += "?ref=" + g.Ref
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + url + "\n"
	return dir, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644)
}

// InstallInput configures Install.
type InstallInput struct {
	Config   *rest.Config
	Client   kubernetes.Interface
	Rendered *Rendered
	Timeout  time.Duration
	Logf     func(string, ...any)
}

// Install applies a render and waits until operator and backend run exactly
// the pinned images.
func Install(ctx context.Context, in InstallInput) error {
	if _, err := Apply(ctx, ApplyInput{Config: in.Config, Rendered: in.Rendered, FieldManager: DefaultFieldManager}); err != nil {
		return err
	}
	_, err := WaitForRollout(ctx, WaitForRolloutInput{Client: in.Client, Namespace: platform.Namespace,
		Deployments: PlatformDeployments(in.Rendered), Timeout: in.Timeout, Logf: in.Logf})
	return err
}

// PlatformDeployments maps operator and backend Deployments to their pinned images.
func PlatformDeployments(rd *Rendered) map[string]string {
	out := map[string]string{}
	for _, name := range []string{platform.OperatorDeployment, platform.BackendDeployment} {
		if obj := rd.Find(deploymentKind, platform.Namespace, name); obj != nil {
			if img := firstContainerImage(obj); img != "" {
				out[name] = img
			}
		}
	}
	return out
}
