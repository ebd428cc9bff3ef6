package images

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// BusyboxPackage is the Debian package whose static busybox gives the runner
// image its POSIX shell, mkdir and cp (no registry, no base image).
const BusyboxPackage = "busybox-static"

// hostBusyboxPaths are where busybox-static installs its binary on Debian.
var hostBusyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// EnsureBusyboxInput configures EnsureBusybox.
type EnsureBusyboxInput struct {
	// CacheDir keeps the extracted binary (<CacheDir>/busybox/busybox).
	CacheDir string
	// GOARCH the binary must be built for (the images' architecture).
	GOARCH string
	// Commands runs apt-get and dpkg-deb; default ExecRunner.
	Commands CommandRunner
	Log      io.Writer
	// HostPaths are tried before downloading; default /bin/busybox, /usr/bin/busybox.
	HostPaths []string
}

// EnsureBusybox returns the path of a statically linked busybox for GOARCH: the
// cached one, else the host's, else Debian's busybox-static package downloaded
// with apt-get (after apt-get update when the package lists lack it) and
// extracted with dpkg-deb into the cache. The host's installed packages are not
// changed. A dynamically linked busybox is never used: a container has no libc.
func EnsureBusybox(ctx context.Context, in EnsureBusyboxInput) (string, error) {
	if in.Commands == nil {
		in.Commands = ExecRunner{}
	}
	if in.Log == nil {
		in.Log = io.Discard
	}
	if in.HostPaths == nil {
		in.HostPaths = hostBusyboxPaths
	}
	cached := filepath.Join(in.CacheDir, "busybox", "busybox")
	if checkStaticELF(cached, in.GOARCH) == nil {
		return cached, nil
	}
	var rejected []string
	for _, p := range in.HostPaths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := checkStaticELF(p, in.GOARCH); err != nil {
			rejected = append(rejected, err.Error())
			continue
		}
		return p, nil
	}

	dir := filepath.Join(in.CacheDir, "busybox", "download")
	if err := os.RemoveAll(dir); err != nil {
		return "", fault.InfraErr(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fault.InfraErr(fmt.Errorf("busybox cache %s: %w", dir, err))
	}
	download := Command{Name: "apt-get", Args: []string{"download", "-qq", BusyboxPackage}, Dir: dir}
	if _, err := in.Commands.Run(ctx, download); err != nil {
		// A fresh machine has no package lists yet.
		fmt.Fprintf(in.Log, "busybox: %v; running apt-get update\n", err)
		if _, uerr := in.Commands.Run(ctx, Command{Name: "apt-get", Args: []string{"update", "-qq"}}); uerr != nil {
			return "", busyboxMissing(rejected, fmt.Errorf("apt-get update: %w", uerr))
		}
		if _, err := in.Commands.Run(ctx, download); err != nil {
			return "", busyboxMissing(rejected, err)
		}
	}
	debs, _ := filepath.Glob(filepath.Join(dir, BusyboxPackage+"_*.deb"))
	if len(debs) != 1 {
		return "", busyboxMissing(rejected, fmt.Errorf("apt-get download left %d %s .deb files in %s, want 1", len(debs), BusyboxPackage, dir))
	}
	root := filepath.Join(dir, "root")
	if _, err := in.Commands.Run(ctx, Command{Name: "dpkg-deb", Args: []string{"-x", debs[0], root}}); err != nil {
		return "", busyboxMissing(rejected, err)
	}
	var found string
	for _, p := range hostBusyboxPaths {
		if err := checkStaticELF(filepath.Join(root, p), in.GOARCH); err == nil {
			found = filepath.Join(root, p)
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			rejected = append(rejected, err.Error())
		}
	}
	if found == "" {
		return "", busyboxMissing(rejected, fmt.Errorf("%s holds no static busybox under bin/ or usr/bin/", filepath.Base(debs[0])))
	}
	if err := os.Rename(found, cached); err != nil {
		return "", fault.InfraErr(fmt.Errorf("keep busybox in %s: %w", cached, err))
	}
	_ = os.RemoveAll(dir)
	fmt.Fprintf(in.Log, "busybox: extracted %s from %s\n", cached, filepath.Base(debs[0]))
	return cached, nil
}

func busyboxMissing(rejected []string, err error) error {
	msg := fmt.Sprintf("the simulated runner image needs a static busybox for /bin/sh, mkdir and cp (upstream's PostStart hook runs /bin/sh -c \"mkdir -p … && cp -f …\"): %v", err)
	if len(rejected) > 0 {
		msg += "; not usable: " + strings.Join(rejected, "; ")
	}
	msg += fmt.Sprintf("; install Debian's %s (apt-get install %s) or set BuildInput.Busybox", BusyboxPackage, BusyboxPackage)
	return fault.InfraErr(errors.New(msg))
}

var goarchMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
}

// checkStaticELF accepts an executable ELF for goarch without a program
// interpreter (a dynamic loader that a scratch image does not have).
func checkStaticELF(path, goarch string) error {
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return err
		}
		return fmt.Errorf("%s is not an ELF executable: %v", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s is an ELF %s, not an executable", path, f.Type)
	}
	if want, ok := goarchMachine[goarch]; ok && f.Machine != want {
		return fmt.Errorf("%s is built for %s, the images for %s (%s)", path, f.Machine, goarch, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it needs a program interpreter)", path)
		}
	}
	return nil
}

// readBusybox resolves in.Busybox (EnsureBusybox when empty) and returns its bytes.
func readBusybox(ctx context.Context, in *BuildInput) ([]byte, error) {
	if in.Busybox == "" {
		p, err := EnsureBusybox(ctx, EnsureBusyboxInput{CacheDir: in.CacheDir, GOARCH: in.GOARCH, Commands: in.Commands, Log: in.Log})
		if err != nil {
			return nil, err
		}
		in.Busybox = p
	} else if err := checkStaticELF(in.Busybox, in.GOARCH); err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("BuildInput.Busybox: %w; want a statically linked busybox such as Debian %s's /bin/busybox", err, BusyboxPackage))
	}
	b, err := os.ReadFile(in.Busybox)
	if err != nil {
		return nil, fault.InfraErr(fmt.Errorf("read busybox %s: %w", in.Busybox, err))
	}
	return b, nil
}
