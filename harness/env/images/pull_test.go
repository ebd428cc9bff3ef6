package images

import "testing"

func TestLocalOnly(t *testing.T) {
	for ref, want := range map[string]bool{
		"localhost/pr/vteam_backend:pr-1":             true,
		"localhost/ambient-sim/vteam_operator:v0.2.3": true,
		"localhost:5000/pr/vteam_backend:pr-1":        false,
		"quay.io/ambient_code/vteam_backend:v0.2.7":   false,
		"busybox:1.36": false,
		"localhost":    false,
	} {
		if got := LocalOnly(ref); got != want {
			t.Errorf("LocalOnly(%q) = %v, want %v", ref, got, want)
		}
	}
}
