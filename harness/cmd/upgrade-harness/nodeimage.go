package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/ambient-e2e/upgrade-harness/harness/nodeimage"
	"github.com/ambient-e2e/upgrade-harness/harness/prepare"
)

func init() {
	register("node-image", "print the kind node image to use, building the offline one when missing ($NODE_IMAGE wins)", runNodeImage)
}

func runNodeImage(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("node-image", flag.ContinueOnError)
	k8s := fs.String("kubernetes-version", nodeimage.DefaultRecipe().KubernetesVersion, "Kubernetes version of the offline image")
	force := fs.Bool("force", false, "rebuild even when the image exists")
	if err := badFlags(fs.Parse(args)); err != nil {
		return err
	}
	img, err := resolveNodeImage(ctx, *k8s, *force)
	if err != nil {
		return err
	}
	fmt.Println(img)
	return nil
}

// resolveNodeImage prepares the engine and returns the node image.
func resolveNodeImage(ctx context.Context, k8sVersion string, force bool) (string, error) {
	if _, err := prepare.Engine(ctx, os.Stderr); err != nil {
		return "", err
	}
	return prepare.NodeImage(ctx, os.Stderr, k8sVersion, force)
}
