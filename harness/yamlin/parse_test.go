package yamlin

import (
	"fmt"
	"strings"
	"testing"
)

var testSpec = Spec{
	MaxDepth: 4, MaxEntries: 20, MaxItems: 3, MaxDocuments: 5,
	A: "a list file", Document: "List document",
	TypicalDepth: "a list file nests 2 deep", TypicalEntries: "a list file has ten", TypicalKeys: "an entry has 2 keys", TypicalItems: "a list has 3",
	Empty:          "is empty (want a List document)",
	SecondDocument: func(held int) string { return fmt.Sprintf("holds %d documents (want one)", held) },
	SyntaxPrefix:   "bad YAML: ",
}

// Each refusal is located and worded by the Spec; a good file gives its root.
func TestParse(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "# nothing\n", "f.yaml: is empty (want a List document)"},
		{"only separators", "---\n---\n", "f.yaml: is empty (want a List document)"},
		{"second document", "a: 1\n---\nb: 2\n", "f.yaml:2: holds 2 documents (want one)"},
		{"too many documents", strings.Repeat("---\na: 1\n", 6), "f.yaml: the file holds more than 5 YAML documents (want exactly one List document per file)"},
		{"syntax", "a: [1\n", "f.yaml:1:4: bad YAML: "},
		{"too deep", "a: [[[[[1]]]]]\n", "f.yaml:1:7: collections nest more than 4 levels deep here (want at most 4: a list file nests 2 deep; is a bracket or an indentation off?)"},
		{"too many entries", strings.Repeat("- 1\n", 21), "f.yaml:21:1: the file holds more than 20 entries (lines or list and mapping items) by here (want a list file of at most 20; a list file has ten)"},
		{"wide list", "a: [1, 2, 3, 4]\n", "f.yaml:1:4: this list has 4 items (want at most 3: a list has 3)"},
		{"wide mapping", "{a: 1, b: 2, c: 3, d: 4}\n", "f.yaml:1:1: this mapping has 4 keys (want at most 3: an entry has 2 keys)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, p := Parse("f.yaml", []byte(tc.data), testSpec)
			if p == nil {
				t.Fatalf("accepted (root %v), want %q", root, tc.want)
			}
			if !strings.HasPrefix(p.String(), tc.want) {
				t.Errorf("got %q, want it to start with %q", p.String(), tc.want)
			}
		})
	}
	root, p := Parse("f.yaml", []byte("---\na: [1, 2]\n"), testSpec)
	if p != nil || root == nil || KindName(root) != "a mapping" || len(root.Content) != 2 {
		t.Fatalf("good file: root %v, problem %v", root, p)
	}
}

func TestErrorLine(t *testing.T) {
	for msg, want := range map[string]string{
		"yaml: line 3: mapping values are not allowed": "3 mapping values are not allowed",
		"line 7: did not find expected key":            "7 did not find expected key",
		"yaml: unknown anchor 'a' referenced":          "0 unknown anchor 'a' referenced",
	} {
		line, rest := ErrorLine(msg)
		if got := fmt.Sprint(line, " ", rest); got != want {
			t.Errorf("ErrorLine(%q) = %q, want %q", msg, got, want)
		}
	}
}
