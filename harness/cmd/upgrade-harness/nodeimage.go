package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"

	"github.com/ambient-e2e/upgrade-harness/harness/env/nodeimage"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
)

func init() {
	register("node-image", "print the kind node image to use: $NODE_IMAGE, else kind's published image when it can be pulled, else the offline one (built when missing)", runNodeImage)
}

func runNodeImage(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("node-image", flag.ContinueOnError)
	k8s := fs.String("kubernetes-version", nodeimage.DefaultRecipe().KubernetesVersion, "Kubernetes version of the node image (when given, kind's published image is used only if it is that version)")
	force := fs.Bool("force", false, "rebuild even when the image exists")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkKubernetesVersion(*k8s); err != nil {
		return err
	}
	if err := checkNodeImageEnv(); err != nil {
		return err
	}
	version := ""
	if isSet(fs, "kubernetes-version") {
		version = *k8s
	}
	img, err := resolveNodeImage(ctx, version, *force)
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
		return exitcode.BadInputErr(fmt.Errorf("-kubernetes-version %q: not a Kubernetes release (want v1.MINOR.PATCH, e.g. %s)", v, nodeimage.DefaultRecipe().KubernetesVersion))
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
