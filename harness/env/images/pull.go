package images

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
)

// EnsurePulled pulls every image the local engine does not have yet, for
// catalogs whose images come from a registry (kind loads from the local engine).
// An image of a local-only registry (localhost) is never pulled: it must have
// been built or tagged into the local store.
func EnsurePulled(ctx context.Context, refs []string, log io.Writer) error {
	for _, ref := range refs {
		if Present(ctx, ref) {
			continue
		}
		if LocalOnly(ref) {
			return fmt.Errorf("image %s is not in the local Docker store and its registry is local, so it is never pulled (build it or docker tag it first)", ref)
		}
		fmt.Fprintf(log, "pulling %s\n", ref)
		if _, err := docker.Default.Run(ctx, "pull", ref); err != nil {
			return fmt.Errorf("%w (build or load the image locally, or remap it with -image-remap)", err)
		}
	}
	return nil
}

// Present reports whether the local Docker engine holds ref.
func Present(ctx context.Context, ref string) bool {
	return docker.Default.Succeeds(ctx, "image", "inspect", ref)
}

// LocalOnly reports whether ref names the registry nothing can be pulled from:
// a bare "localhost", the convention for local builds (localhost/pr/vteam_backend:pr-1).
// localhost:5000 is a registry like any other.
func LocalOnly(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	return ok && host == "localhost"
}

// MissingLocalOnly returns the refs of a local-only registry that the local
// engine does not hold: they can neither be loaded nor pulled.
func MissingLocalOnly(ctx context.Context, refs []string) []string {
	var out []string
	for _, ref := range refs {
		if LocalOnly(ref) && !Present(ctx, ref) {
			out = append(out, ref)
		}
	}
	return out
}
