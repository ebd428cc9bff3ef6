package deploy

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/boundedfile"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// MaxManifestFileSize caps one manifest file. Upstream's rendered kind
// overlay is about 80 KB; the cap stops a wrong path (a disk image, a log,
// /dev/zero) from being read until memory runs out.
const MaxManifestFileSize = 8 << 20

// manifestFile is a manifest file as boundedfile reads it.
var manifestFile = boundedfile.Kind{Want: "a YAML manifest file", Readable: "a readable manifest file",
	NotExist: "a manifest file or kustomize directory", Typical: "rendered platform manifests are about 80 KB", Limit: MaxManifestFileSize}

// readManifestFile reads a regular file of at most MaxManifestFileSize bytes.
func readManifestFile(path string) ([]byte, error) { return boundedfile.Read(path, manifestFile) }

// boundedFS is the disk as kustomize reads it, every file through
// readManifestFile: a kustomization's resources are held to the same limits.
type boundedFS struct{ filesys.FileSystem }

func (b boundedFS) ReadFile(path string) ([]byte, error) { return readManifestFile(path) }

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
