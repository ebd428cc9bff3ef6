package images

import (
	"debug/elf"
	"fmt"
	"os"
)

// CheckExecutable reports whether path is a whole ELF file: its header,
// program headers and every section with file contents lie within the file.
// go build writes its -o output in place, so a build interrupted while copying
// leaves a truncated binary whose build ID (at the start of the file) still
// looks current to the next go build, which then keeps it: such a file must
// be removed and built again, never packed into an image.
func CheckExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not a whole executable (an interrupted build?): %w", path, err)
	}
	defer f.Close()
	size := uint64(st.Size())
	for _, p := range f.Progs {
		if p.Off+p.Filesz > size {
			return fmt.Errorf("%s is truncated at %d bytes: program segment at %d+%d (an interrupted build?)", path, size, p.Off, p.Filesz)
		}
	}
	for _, s := range f.Sections {
		// FileSize, not Size: the Go linker compresses DWARF sections, whose
		// Size is what they inflate to.
		if s.Type != elf.SHT_NOBITS && s.Offset+s.FileSize > size {
			return fmt.Errorf("%s is truncated at %d bytes: section %s at %d+%d (an interrupted build?)", path, size, s.Name, s.Offset, s.FileSize)
		}
	}
	return nil
}
