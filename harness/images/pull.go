package images

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// EnsurePulled pulls every image the local engine does not have yet, for
// catalogs whose images come from a registry (kind loads from the local engine).
func EnsurePulled(ctx context.Context, refs []string, log io.Writer) error {
	for _, ref := range refs {
		if exec.CommandContext(ctx, "docker", "image", "inspect", ref).Run() == nil {
			continue
		}
		fmt.Fprintf(log, "pulling %s\n", ref)
		out, err := exec.CommandContext(ctx, "docker", "pull", ref).CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker pull %s: %v: %s (build or load the image locally, or remap it with -image-remap)", ref, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
