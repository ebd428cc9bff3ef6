package catalog

import (
	"fmt"
	"regexp"
	"strings"
)

// ImageRefGrammar is the accepted shape of an image reference, quoted in errors.
const ImageRefGrammar = "[registry/]repository[:tag][@sha256:<64 hex>]"

var (
	// Docker distribution's grammar, restated: lowercase path components joined by
	// ".", "_", "__" or runs of "-".
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostLabelRE     = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
	portRE          = regexp.MustCompile(`^[0-9]{1,5}$`)
	tagRE           = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestRE        = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

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

// ParseImageRef parses [registry/]repository[:tag][@sha256:<64 hex>].
// A first path component is a registry when it contains "." or ":" or is
// "localhost", as Docker decides it.
func ParseImageRef(s string) (ImageRef, error) {
	fail := func(reason string) (ImageRef, error) {
		return ImageRef{}, &ImageRefError{Ref: s, Reason: reason}
	}
	if s == "" {
		return fail("empty")
	}
	if strings.TrimSpace(s) != s {
		return fail("surrounding whitespace")
	}
	var ref ImageRef
	rest := s
	if at := strings.Index(rest, "@"); at >= 0 {
		ref.Digest = rest[at+1:]
		rest = rest[:at]
		if !digestRE.MatchString(ref.Digest) {
			return fail("digest must be sha256:<64 lowercase hex>")
		}
	}
	// A tag colon comes after the last slash; an earlier colon is a registry port.
	if colon := strings.LastIndex(rest, ":"); colon > strings.LastIndex(rest, "/") {
		ref.Tag = rest[colon+1:]
		rest = rest[:colon]
		if !tagRE.MatchString(ref.Tag) {
			return fail("tag must match [\\w][\\w.-]{0,127}")
		}
	}
	parts := strings.Split(rest, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		if err := checkRegistryHost(parts[0]); err != "" {
			return fail(err)
		}
		ref.Registry = parts[0]
		parts = parts[1:]
	}
	for _, p := range parts {
		if !pathComponentRE.MatchString(p) {
			return fail(fmt.Sprintf("repository component %q must be lowercase [a-z0-9] joined by '.', '_', '__' or '-'", p))
		}
	}
	ref.Repository = strings.Join(parts, "/")
	if len(ref.Name()) > 255 {
		return fail("name longer than 255 characters")
	}
	return ref, nil
}

func checkRegistryHost(host string) string {
	name, port, hasPort := strings.Cut(host, ":")
	if hasPort && !portRE.MatchString(port) {
		return fmt.Sprintf("registry port %q must be 1-5 digits", port)
	}
	for _, label := range strings.Split(name, ".") {
		if !hostLabelRE.MatchString(label) {
			return fmt.Sprintf("registry host %q is not a host name", name)
		}
	}
	return ""
}
