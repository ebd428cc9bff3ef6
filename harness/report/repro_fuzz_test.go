package report

import (
	"reflect"
	"testing"
)

// FuzzParseRepro feeds arbitrary lines to the repro parser: it must never
// panic, and whatever it accepts must print (ReproCommand) to a line that
// parses to the same repro. Seeds: testdata/fuzz/FuzzParseRepro and the
// round-trip cases.
func FuzzParseRepro(f *testing.F) {
	for _, rp := range reproCases(f) {
		f.Add(ReproCommand(rp.Cell, rp.Options()))
	}
	f.Fuzz(func(t *testing.T, line string) {
		rp, err := ParseRepro(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		again := ReproCommand(rp.Cell, rp.Options())
		rp2, err := ParseRepro(again)
		if err != nil {
			t.Fatalf("ParseRepro(%q) accepted, but its reprint %q does not parse: %v", line, again, err)
		}
		if !reflect.DeepEqual(rp, rp2) {
			t.Fatalf("ParseRepro(%q) = %#v\nits reprint %q parses to %#v", line, rp, again, rp2)
		}
	})
}
