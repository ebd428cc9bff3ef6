package images

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/simulated"
)

// Component is one simulated platform image.
type Component string

const (
	ComponentOperator  Component = "operator"
	ComponentBackend   Component = "backend"
	ComponentRunner    Component = "runner"
	ComponentStateSync Component = "state_sync"
	// ComponentProbe is the harness's runner probe, not a platform component.
	ComponentProbe Component = "runner_probe"
	// ComponentWire is the harness's wire witness, not a platform component.
	ComponentWire Component = "wire_witness"
)

// ContentLabel is the image label holding ContentDigest; an image whose label
// matches is reused instead of imported again.
const ContentLabel = "io.ambient-e2e.content"

// DefaultPrefix is where simulated images live; there is no registry behind it.
const DefaultPrefix = "localhost/ambient-sim"

const modulePath = simulated.ModulePath

// nonRootUID is the uid/gid every simulated image runs as, like upstream's runner (USER 1001).
const nonRootUID = 1001

// imageSpec says how a component becomes an image.
type imageSpec struct {
	Component Component
	// Package is the Go package path inside the module.
	Package string
	// ImageName is the upstream image name, e.g. vteam_claude_runner.
	ImageName string
	// Installs are the names under /usr/local/bin the one binary is installed as.
	Installs   []string
	Entrypoint string
	User       int
	Env        []string
	// Shell installs a static busybox as /bin/busybox with the applets in
	// ShellApplets linked to it: upstream's operator gives the runner container a
	// PostStart exec hook `/bin/sh -c "mkdir -p … && cp -f … || true"` at every
	// release (docs/platform.md §10 item 1), and a container without /bin/sh is killed.
	Shell bool
}

// ShellApplets are the commands the runner image provides under /bin: the ones
// upstream's hooks and commands run (docs/platform.md §10 item 1).
var ShellApplets = []string{"cp", "mkdir", "sh"}

var imageSpecs = []imageSpec{
	{Component: ComponentOperator, Package: "fixtures/platform/operator", ImageName: "vteam_operator",
		Installs: []string{"operator"}, Entrypoint: "/usr/local/bin/operator", User: nonRootUID},
	{Component: ComponentBackend, Package: "fixtures/platform/backend", ImageName: "vteam_backend",
		Installs: []string{"backend"}, Entrypoint: "/usr/local/bin/backend", User: nonRootUID},
	// Upstream's runner image sets AGUI_PORT=8001 although its CMD ignores it (docs/platform.md §2).
	{Component: ComponentRunner, Package: "fixtures/platform/runner", ImageName: "vteam_claude_runner",
		Installs: []string{"runner"}, Entrypoint: "/usr/local/bin/runner", User: nonRootUID, Env: []string{"AGUI_PORT=8001"}, Shell: true},
	// The operator runs hydrate.sh (init container) and sync.sh (sidecar) by path, as
	// commands, never through a shell: the same ELF is installed under both names and
	// dispatches on argv[0].
	{Component: ComponentStateSync, Package: "fixtures/platform/statesync", ImageName: "vteam_state_sync",
		Installs: []string{"hydrate.sh", "sync.sh"}, Entrypoint: "/usr/local/bin/sync.sh", User: nonRootUID},
}

// Components lists every simulated component in build order.
func Components() []Component {
	out := make([]Component, 0, len(imageSpecs))
	for _, s := range imageSpecs {
		out = append(out, s.Component)
	}
	return out
}

// ParseComponent validates a component name.
func ParseComponent(name string) (Component, error) {
	if _, err := specFor(Component(name)); err != nil {
		return "", err
	}
	return Component(name), nil
}

func specFor(c Component) (imageSpec, error) {
	for _, s := range imageSpecs {
		if s.Component == c {
			return s, nil
		}
	}
	names := make([]string, 0, len(imageSpecs))
	for _, s := range imageSpecs {
		names = append(names, string(s.Component))
	}
	return imageSpec{}, fmt.Errorf("component %q is not simulated; valid components: %s", c, strings.Join(names, ", "))
}

// ImageRef is the reference a component's image gets, e.g.
// localhost/ambient-sim/vteam_claude_runner:v0.2.2.
func ImageRef(prefix string, c Component, release string) (string, error) {
	spec, err := specFor(c)
	if err != nil {
		return "", err
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return strings.TrimRight(prefix, "/") + "/" + spec.ImageName + ":" + release, nil
}

// tarEntry is one path of an image's single layer.
type tarEntry struct {
	Path     string // absolute, e.g. /usr/local/bin/runner
	Dir      bool
	Mode     int64
	UID, GID int
	Content  []byte // regular files only; nil with IsBinary or IsShell
	IsBinary bool   // content is the component's binary
	IsShell  bool   // content is the static busybox (imageSpec.Shell)
	Link     string // a symbolic link to Link when set
}

// Fixed so that the same inputs give byte-identical layers.
var layerModTime = time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC)

var passwdFile = []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
	fmt.Sprintf("default:x:%d:%d:Default Application User:/workspace:/sbin/nologin\n", nonRootUID, nonRootUID))

var groupFile = []byte("root:x:0:\n" + fmt.Sprintf("default:x:%d:\n", nonRootUID))

// Go's pure resolver reads this; without it lookups still work, but the order is then implicit.
var nsswitchFile = []byte("hosts: files dns\n")

// layout is the complete file system of a component's image, in tar order.
func (s imageSpec) layout() []tarEntry {
	var entries []tarEntry
	if s.Shell {
		entries = append(entries, tarEntry{Path: "/bin", Dir: true, Mode: 0o755},
			tarEntry{Path: "/bin/busybox", Mode: 0o755, IsShell: true})
		for _, a := range ShellApplets {
			entries = append(entries, tarEntry{Path: "/bin/" + a, Mode: 0o777, Link: "busybox"})
		}
	}
	entries = append(entries, []tarEntry{
		{Path: "/etc", Dir: true, Mode: 0o755},
		{Path: "/etc/group", Mode: 0o644, Content: groupFile},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Content: nsswitchFile},
		{Path: "/etc/passwd", Mode: 0o644, Content: passwdFile},
		{Path: "/etc/ssl", Dir: true, Mode: 0o755},
		{Path: "/etc/ssl/certs", Dir: true, Mode: 0o755},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
		{Path: "/usr", Dir: true, Mode: 0o755},
		{Path: "/usr/local", Dir: true, Mode: 0o755},
		{Path: "/usr/local/bin", Dir: true, Mode: 0o755},
	}...)
	installs := append([]string(nil), s.Installs...)
	sort.Strings(installs)
	for _, name := range installs {
		entries = append(entries, tarEntry{Path: "/usr/local/bin/" + name, Mode: 0o755, IsBinary: true})
	}
	// World-writable because pods may run with any uid and fsGroup 0 (POD_FSGROUP=0).
	entries = append(entries, tarEntry{Path: "/workspace", Dir: true, Mode: 0o777})
	return entries
}

// importChanges are the Dockerfile instructions docker import applies to the layer.
func (s imageSpec) importChanges(release, digest string) []string {
	changes := []string{
		fmt.Sprintf(`ENTRYPOINT ["%s"]`, s.Entrypoint),
		"ENV PATH=/usr/local/bin:/usr/bin:/bin",
	}
	for _, e := range s.Env {
		changes = append(changes, "ENV "+e)
	}
	changes = append(changes,
		fmt.Sprintf("USER %d", s.User),
		fmt.Sprintf("LABEL %s=%s", ContentLabel, digest),
		fmt.Sprintf("LABEL io.ambient-e2e.release=%s", release),
		fmt.Sprintf("LABEL io.ambient-e2e.component=%s", s.Component),
	)
	return changes
}

// contentDigest is sha256 over everything that ends up in the image: the layout
// spec (paths, modes, owners, small file contents), the config changes other than
// the label itself, and the binary. Any change to one of them changes the digest.
func (s imageSpec) contentDigest(release string, binary, shell []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "ambient-sim image v1\ncomponent %s\nrelease %s\n", s.Component, release)
	for _, e := range s.layout() {
		kind := "file"
		if e.Dir {
			kind = "dir"
		}
		sum := ""
		switch {
		case e.Link != "":
			kind, sum = "link", e.Link
		case e.IsBinary:
			sum = "binary"
		case e.IsShell:
			c := sha256.Sum256(shell)
			sum = "shell " + hex.EncodeToString(c[:])
		case !e.Dir:
			c := sha256.Sum256(e.Content)
			sum = hex.EncodeToString(c[:])
		}
		fmt.Fprintf(h, "%s %s %o %d:%d %s\n", kind, e.Path, e.Mode, e.UID, e.GID, sum)
	}
	for _, c := range s.importChanges(release, "") {
		if !strings.HasPrefix(c, "LABEL "+ContentLabel+"=") {
			fmt.Fprintf(h, "change %s\n", c)
		}
	}
	b := sha256.Sum256(binary)
	fmt.Fprintf(h, "binary %x\n", b)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// writeLayer writes the image's single layer as a tar stream.
func (s imageSpec) writeLayer(w io.Writer, binary, shell []byte) error {
	tw := tar.NewWriter(w)
	for _, e := range s.layout() {
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(e.Path, "/"),
			Mode:    e.Mode,
			Uid:     e.UID,
			Gid:     e.GID,
			Uname:   "root",
			Gname:   "root",
			ModTime: layerModTime,
			Format:  tar.FormatUSTAR,
		}
		content := e.Content
		switch {
		case e.IsBinary:
			content = binary
		case e.IsShell:
			content = shell
		}
		switch {
		case e.Dir:
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case e.Link != "":
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.Link
		default:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write tar header %s: %w", e.Path, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(content); err != nil {
				return fmt.Errorf("write tar content %s: %w", e.Path, err)
			}
		}
	}
	return tw.Close()
}
