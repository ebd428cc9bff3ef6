package catalog

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// ImageRefGrammar is the accepted shape of an image reference, quoted in errors.
const ImageRefGrammar = "[registry/]repository[:tag][@sha256:<64 hex>]"

// ImageRef is a parsed container image reference.
type ImageRef struct {
	// Registry is the host[:port] part, "" when the reference names none (Docker Hub).
	Registry string
	// Repository is the path below the registry, e.g. "ambient_code/vteam_operator".
	Repository string
	Tag        string
	// Digest is "sha256:<64 hex>" or "".
	Digest string
}

// Name is registry/repository without tag or digest.
func (r ImageRef) Name() string {
	if r.Registry == "" {
		return r.Repository
	}
	return r.Registry + "/" + r.Repository
}

// String renders the reference in canonical form.
func (r ImageRef) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Pinned reports whether the reference names a tag or digest, so that it does
// not silently float to :latest.
func (r ImageRef) Pinned() bool { return r.Tag != "" || r.Digest != "" }

// ImageRefError says why a string is not an image reference.
type ImageRefError struct {
	Ref string
	// Reason is the part that broke the grammar (for debugging; Error keeps the
	// stable one-line form used in catalog validation messages).
	Reason string
}

func (e *ImageRefError) Error() string {
	return fmt.Sprintf("%q is not a valid image reference (want %s)", e.Ref, ImageRefGrammar)
}

// ParseImageRef parses [registry/]repository[:tag][@sha256:<64 hex>] with
// Docker distribution's grammar (github.com/distribution/reference). A first
// path component is a registry when it contains "." or ":" or is "localhost",
// as Docker decides it; the grammar alone would also take "Ambient" in
// "Ambient/x" for a host.
func ParseImageRef(s string) (ImageRef, error) {
	fail := func(reason string) (ImageRef, error) {
		return ImageRef{}, &ImageRefError{Ref: s, Reason: reason}
	}
	parsed, err := reference.Parse(s)
	if err != nil {
		return fail(err.Error())
	}
	named, ok := parsed.(reference.Named)
	if !ok {
		return fail("no repository name")
	}
	ref := ImageRef{Registry: reference.Domain(named), Repository: reference.Path(named)}
	if ref.Registry != "" && !strings.ContainsAny(ref.Registry, ".:") && ref.Registry != "localhost" {
		ref.Registry, ref.Repository = "", named.Name()
		if strings.ToLower(ref.Repository) != ref.Repository {
			return fail(fmt.Sprintf("repository %q must be lowercase", ref.Repository))
		}
	}
	if t, ok := parsed.(reference.Tagged); ok {
		ref.Tag = t.Tag()
	}
	if d, ok := parsed.(reference.Digested); ok {
		if d.Digest().Algorithm() != digest.SHA256 {
			return fail("digest must be sha256:<64 lowercase hex>")
		}
		ref.Digest = d.Digest().String()
	}
	return ref, nil
}
