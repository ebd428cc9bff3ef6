package deploy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// MaxManifestFileSize caps one manifest file. Upstream's rendered kind
// overlay is about 80 KB; the cap stops a wrong path (a disk image, a log,
// /dev/zero) from being read until memory runs out.
const MaxManifestFileSize = 8 << 20

// readManifestFile reads a regular file of at most MaxManifestFileSize
// bytes. It opens the file non-blocking, so a FIFO is refused at once instead
// of waiting for a writer, and never reads more than the limit.
func readManifestFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist (want a manifest file or kustomize directory)", path)
		}
		return nil, fmt.Errorf("%s cannot be opened: %v (want a readable manifest file)", path, unwrapPathError(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %v (want a readable manifest file)", path, unwrapPathError(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file (want a YAML manifest file)", path, fileKind(st.Mode()))
	}
	if st.Size() > MaxManifestFileSize {
		return nil, fmt.Errorf("%s is %d bytes (want at most %d bytes: rendered platform manifests are about 80 KB)", path, st.Size(), MaxManifestFileSize)
	}
	// Files that report size 0 (/proc) are held to the limit while reading.
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v (want a readable manifest file)", path, unwrapPathError(err))
	}
	if len(data) > MaxManifestFileSize {
		return nil, fmt.Errorf("%s holds more than %d bytes (want at most %d bytes: rendered platform manifests are about 80 KB)", path, MaxManifestFileSize, MaxManifestFileSize)
	}
	return data, nil
}

// boundedFS is the disk as kustomize reads it, every file through
// readManifestFile: a kustomization's resources are held to the same limits.
type boundedFS struct{ filesys.FileSystem }

func (b boundedFS) ReadFile(path string) ([]byte, error) { return readManifestFile(path) }

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileKind names what a non-regular file is, for error messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file"
}

// CheckManifests reads, decodes (or kustomizes) and checks a local manifest
// source the way a cell will deploy it, without touching anything: every file
// bounded by MaxManifestFileSize and regular, every document a Kubernetes
// object, and the platform's operator and backend Deployments among them.
// Commands call it for every source a run deploys before any side effect,
// so a junk path fails the input check (exit 2), not the cell.
func CheckManifests(source string) error {
	objs, err := loadSource(source)
	if err != nil {
		return err
	}
	var missing []string
	for _, name := range []string{platform.OperatorDeployment, platform.BackendDeployment} {
		found := false
		for _, o := range objs {
			if o.GetKind() == deploymentKind && o.GetName() == name && (o.GetNamespace() == platform.Namespace || o.GetNamespace() == "") {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, platform.Namespace+"/"+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s holds %d object(s) but no Deployment %s (want the platform's manifests, with the Deployments %s/%s and %s/%s)",
			source, len(objs), strings.Join(missing, " or "), platform.Namespace, platform.OperatorDeployment, platform.Namespace, platform.BackendDeployment)
	}
	return nil
}
