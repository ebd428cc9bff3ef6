// Package boundedfile reads the files users hand the harness (catalogs,
// manifests) without trusting them: a regular file only, opened non-blocking
// so a FIFO is refused at once instead of waiting for a writer, and never more
// than a limit read, so a huge or endless file cannot exhaust memory.
package boundedfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Kind says what a file is meant to be, for the messages: each error names
// the path, the problem and what would be valid.
type Kind struct {
	// Want is what a valid file is, e.g. "a catalog YAML file".
	Want string
	// Readable is what a file that cannot be read should be, e.g. "a
	// readable catalog YAML file".
	Readable string
	// NotExist is what to give instead of a missing path (Want when empty).
	NotExist string
	// Typical tells the limit's scale, e.g. "a catalog is a few KiB".
	Typical string
	// Limit is the largest size read, in bytes.
	Limit int64
}

// Read reads path as k allows.
func Read(path string, k Kind) ([]byte, error) {
	notExist := k.NotExist
	if notExist == "" {
		notExist = k.Want
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s does not exist (want %s)", path, notExist)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("%s is not readable (want %s the harness may read)", path, k.Want)
		}
		return nil, fmt.Errorf("%s cannot be opened: %v (want %s)", path, UnwrapPathError(err), k.Want)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %v (want %s)", path, UnwrapPathError(err), k.Readable)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file (want %s)", path, FileKind(st.Mode()), k.Want)
	}
	if st.Size() > k.Limit {
		return nil, fmt.Errorf("%s is %d bytes (want at most %d bytes: %s)", path, st.Size(), k.Limit, k.Typical)
	}
	// Files such as those in /proc report size 0: the limit holds while reading too.
	data, err := io.ReadAll(io.LimitReader(f, k.Limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v (want %s)", path, UnwrapPathError(err), k.Readable)
	}
	if int64(len(data)) > k.Limit {
		return nil, fmt.Errorf("%s holds more than %d bytes (want at most %d bytes: %s)", path, k.Limit, k.Limit, k.Typical)
	}
	return data, nil
}

// UnwrapPathError drops the operation and path of an *fs.PathError: the
// messages name the path themselves.
func UnwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// FileKind names what a non-regular file is, for error messages.
func FileKind(m fs.FileMode) string {
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
