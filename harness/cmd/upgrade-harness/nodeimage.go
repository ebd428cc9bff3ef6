package main

import (
	"context"
	"fmt"
	"os"
	"regexp"

	"github.com/ambient-e2e/upgrade-harness/harness/env/nodeimage"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

func init() { register(nodeImageCommand, runNodeImage) }

var nodeImageCommand = &commandSpec{
	name:    "node-image",
	summary: "print the kind node image to use: $NODE_IMAGE, else kind's published image when it can be pulled, else the offline one (built when missing)",
	description: `Prints the kind node image the clusters use: $NODE_IMAGE when set, else kind's own
published node image pinned by digest when it is present or can be pulled (and the host can run
it), else the harness's offline image, built from source (minutes) when it is not in the local store.`,
	inputs:  "-kubernetes-version, $NODE_IMAGE.",
	outputs: "the image reference on stdout; build progress on stderr.",
	flags: []flagSpec{
		{name: "kubernetes-version", def: nodeimage.DefaultRecipe().KubernetesVersion, arg: "v1.MINOR.PATCH",
			noMake: "make uses the default; NODE_IMAGE= names another image", usage: "Kubernetes version of the node image (when given, kind's published image is used only if it is that version)"},
		{name: "force", kind: kindBool, def: "false", noMake: "make reuses the image", usage: "rebuild even when the image exists"},
	},
	makeTargets: []string{"node-image"},
}

func runNodeImage(ctx context.Context, args []string) error {
	fv := newFlagValues(nodeImageCommand, "node-image")
	if err := fv.parse(args); err != nil {
		return err
	}
	k8s := fv.str("kubernetes-version")
	if err := checkKubernetesVersion(k8s); err != nil {
		return err
	}
	if err := checkNodeImageEnv(); err != nil {
		return err
	}
	version := ""
	if fv.isSet("kubernetes-version") {
		version = k8s
	}
	img, err := resolveNodeImage(ctx, version, fv.boolean("force"))
	if err != nil {
		return err
	}
	fmt.Println(img)
	return nil
}

var kubernetesVersionRE = regexp.MustCompile(`^v1\.\d+\.\d+$`)

// checkKubernetesVersion refuses a version the node image recipe cannot build,
// before the engine step.
func checkKubernetesVersion(v string) error {
	r := nodeimage.DefaultRecipe()
	r.KubernetesVersion = v
	if _, err := r.StagingVersion(); err != nil || !kubernetesVersionRE.MatchString(v) {
		return fault.BadInputErr(fmt.Errorf("-kubernetes-version %q: not a Kubernetes release (want v1.MINOR.PATCH, e.g. %s)", cut(v), nodeimage.DefaultRecipe().KubernetesVersion))
	}
	return nil
}

// resolveNodeImage prepares the engine and returns the node image.
func resolveNodeImage(ctx context.Context, k8sVersion string, force bool) (string, error) {
	if _, err := prepare.Engine(ctx, os.Stderr); err != nil {
		return "", err
	}
	return prepare.NodeImage(ctx, os.Stderr, k8sVersion, force)
}
