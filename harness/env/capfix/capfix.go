// Package capfix edits OCI runtime JSON so that a privileged container does not
// request a capability the host's bounding set lacks. See harness/cmd/runc-capfix.
package capfix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Dropped is the capability these hosts cannot grant (offline-kind.md §1).
const Dropped = "CAP_SYS_RESOURCE"

// Kind says where the capability lists live in a file.
type Kind int

const (
	// BundleConfig is a bundle's config.json: lists under .process.capabilities.
	BundleConfig Kind = iota
	// ProcessSpec is the --process file of `runc exec`: lists under .capabilities.
	ProcessSpec
)

// File is one JSON file the wrapper must patch before runc reads it.
type File struct {
	Path string
	Kind Kind
}

// FilesToPatch finds, in runc's argument list, the bundle of create/run and the
// process file of exec. Global flags may precede the command.
func FilesToPatch(args []string) []File {
	cmd, cmdIdx := "", -1
	for i, a := range args {
		if a == "create" || a == "run" || a == "exec" {
			cmd, cmdIdx = a, i
			break
		}
	}
	if cmdIdx < 0 {
		return nil
	}
	rest := args[cmdIdx+1:]
	switch cmd {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle, _ = os.Getwd()
		}
		return []File{{Path: filepath.Join(bundle, "config.json"), Kind: BundleConfig}}
	case "exec":
		if p := flagValue(rest, "--process", "-p"); p != "" {
			return []File{{Path: p, Kind: ProcessSpec}}
		}
	}
	return nil
}

func flagValue(args []string, long, short string) string {
	for i, a := range args {
		for _, name := range []string{long, short} {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if strings.HasPrefix(a, name+"=") {
				return strings.TrimPrefix(a, name+"=")
			}
		}
	}
	return ""
}

// PatchFile removes Dropped from every capability list in the file, in place.
// A file without the capability is left byte for byte as it was.
func PatchFile(path string, kind Kind) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, changed, err := Patch(raw, kind)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return nil
	}
	return os.WriteFile(path, out, 0o600)
}

// Patch returns the JSON with Dropped removed and whether anything changed.
func Patch(raw []byte, kind Kind) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep 64-bit limits exact
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, false, fmt.Errorf("not a JSON object: %w", err)
	}
	caps := doc
	if kind == BundleConfig {
		p, ok := doc["process"].(map[string]any)
		if !ok {
			return raw, false, nil
		}
		caps = p
	}
	set, ok := caps["capabilities"].(map[string]any)
	if !ok {
		return raw, false, nil
	}
	changed := false
	for name, v := range set {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		kept := list[:0:0]
		for _, c := range list {
			if c == Dropped {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		set[name] = kept
	}
	if !changed {
		return raw, false, nil
	}
	out, err := json.Marshal(doc)
	return out, true, err
}

// RealRunc finds the runc binary to delegate to, never the wrapper itself.
func RealRunc(self string) (string, error) {
	candidates := []string{os.Getenv("CAPFIX_REAL_RUNC"), "/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"}
	if p, err := exec.LookPath("runc"); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		r, err := filepath.EvalSymlinks(c)
		if err != nil || r == self {
			continue
		}
		if st, err := os.Stat(r); err == nil && st.Mode().IsRegular() {
			return r, nil
		}
	}
	return "", fmt.Errorf("no runc binary found (looked in /usr/sbin, /usr/bin, /usr/local/{s,}bin and PATH); install Debian's runc package or set CAPFIX_REAL_RUNC")
}
