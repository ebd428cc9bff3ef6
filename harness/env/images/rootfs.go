package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
)

// File is one entry of a root filesystem assembled in Go.
type File struct {
	Path string // absolute or relative to /
	Mode int64
	Data []byte
	Dir  bool
	Link string // a symlink to Link when set
}

// TarFiles writes files as a tar stream in the given order (parents first),
// with a fixed modification time so equal inputs give equal bytes.
func TarFiles(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, ModTime: layerModTime, Format: tar.FormatPAX}
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, strings.TrimSuffix(h.Name, "/")+"/"
		case f.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ImportInput describes a single-layer image assembled in Go.
type ImportInput struct {
	Ref        string
	Files      []File
	Entrypoint []string
	// Changes are extra Dockerfile instructions (ENV, USER, LABEL, ...).
	Changes []string
	Docker  string
}

// ImportRootFS creates a local image from files with `docker import`, no
// Dockerfile and no registry. /tmp and /etc/passwd are added when missing.
func ImportRootFS(ctx context.Context, in ImportInput) error {
	if in.Docker == "" {
		in.Docker = "docker"
	}
	files := []File{{Path: "tmp", Dir: true, Mode: 0o1777}, {Path: "etc", Dir: true, Mode: 0o755},
		{Path: "etc/passwd", Mode: 0o644, Data: passwdFile}, {Path: "etc/group", Mode: 0o644, Data: groupFile}}
	files = append(files, in.Files...)
	layer, err := TarFiles(files)
	if err != nil {
		return err
	}
	args := []string{"import", "--change", "ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if len(in.Entrypoint) > 0 {
		args = append(args, "--change", "ENTRYPOINT ["+quoteList(in.Entrypoint)+"]")
	}
	for _, c := range in.Changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", in.Ref)
	if _, err := docker.New(docker.WithBinary(in.Docker)).Do(ctx, docker.Call{Args: args, Stdin: bytes.NewReader(layer)}); err != nil {
		return fmt.Errorf("image %s: %w", in.Ref, err)
	}
	return nil
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
