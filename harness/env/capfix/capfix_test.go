package capfix

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilesToPatchFindsBundleAndProcess(t *testing.T) {
	cases := []struct {
		args []string
		want []File
	}{
		{[]string{"--root", "/run/r", "--log", "x.log", "create", "--bundle", "/b", "--pid-file", "p", "id"}, []File{{"/b/config.json", BundleConfig}}},
		{[]string{"run", "-b", "/c", "id"}, []File{{"/c/config.json", BundleConfig}}},
		{[]string{"create", "--bundle=/d", "id"}, []File{{"/d/config.json", BundleConfig}}},
		{[]string{"--root", "/r", "exec", "--process", "/tmp/proc.json", "--detach", "id"}, []File{{"/tmp/proc.json", ProcessSpec}}},
		{[]string{"exec", "-p", "/tmp/p2.json", "id"}, []File{{"/tmp/p2.json", ProcessSpec}}},
		{[]string{"state", "id"}, nil},
		{[]string{"--version"}, nil},
	}
	for _, c := range cases {
		got := FilesToPatch(c.args)
		if len(got) != len(c.want) {
			t.Fatalf("%v: got %v want %v", c.args, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%v: got %v want %v", c.args, got[i], c.want[i])
			}
		}
	}
}

func TestPatchRemovesCapabilityFromEveryList(t *testing.T) {
	in := `{"ociVersion":"1.0.2","process":{"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE"],"effective":["CAP_SYS_RESOURCE","CAP_KILL"],"permitted":["CAP_SYS_RESOURCE"]}},"linux":{"resources":{"memory":{"limit":9223372036854771712}}}}`
	out, changed, err := Patch([]byte(in), BundleConfig)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	s := string(out)
	if strings.Contains(s, Dropped) {
		t.Fatalf("still contains %s: %s", Dropped, s)
	}
	for _, want := range []string{`"CAP_CHOWN"`, `"CAP_KILL"`, `"permitted":[]`, `9223372036854771712`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in %s", want, s)
		}
	}
}

func TestPatchProcessSpecAndUntouchedFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "process.json")
	os.WriteFile(p, []byte(`{"args":["sh"],"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_NET_ADMIN"]}}`), 0o600)
	if err := PatchFile(p, ProcessSpec); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if strings.Contains(string(b), Dropped) || !strings.Contains(string(b), "CAP_NET_ADMIN") {
		t.Fatalf("bad patch: %s", b)
	}
	clean := `{"process": {"capabilities": {"bounding": ["CAP_CHOWN"]}}}`
	q := filepath.Join(dir, "config.json")
	os.WriteFile(q, []byte(clean), 0o600)
	if err := PatchFile(q, BundleConfig); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(q); string(b) != clean {
		t.Fatalf("file without the capability was rewritten: %s", b)
	}
}
