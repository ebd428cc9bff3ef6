package catalog

import "path/filepath"

// LocalManifests is a manifest source of a local file or kustomize directory
// that is not in a catalog file (a bisect build's own manifests): path is
// made absolute against the working directory, as a catalog's are against
// its file.
func LocalManifests(path string) ManifestSource {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	return ManifestSource{Path: path, resolved: abs}
}
