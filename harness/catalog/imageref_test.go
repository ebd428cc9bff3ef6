package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestParseImageRef(t *testing.T) {
	digest := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in      string
		want    ImageRef
		wantErr bool
	}{
		{in: "quay.io/ambient_code/vteam_operator:v0.2.0", want: ImageRef{Registry: "quay.io", Repository: "ambient_code/vteam_operator", Tag: "v0.2.0"}},
		{in: "localhost/ambient-sim/vteam_backend:v0.2.2", want: ImageRef{Registry: "localhost", Repository: "ambient-sim/vteam_backend", Tag: "v0.2.2"}},
		{in: "localhost:5000/a/b:pr-12", want: ImageRef{Registry: "localhost:5000", Repository: "a/b", Tag: "pr-12"}},
		{in: "busybox", want: ImageRef{Repository: "busybox"}},
		{in: "library/busybox:1.36", want: ImageRef{Repository: "library/busybox", Tag: "1.36"}},
		{in: "quay.io/x/y:v1@" + digest, want: ImageRef{Registry: "quay.io", Repository: "x/y", Tag: "v1", Digest: digest}},
		{in: "quay.io/x/y@" + digest, want: ImageRef{Registry: "quay.io", Repository: "x/y", Digest: digest}},
		{in: "Registry.Example.COM/a__b/c-d.e:_tag", want: ImageRef{Registry: "Registry.Example.COM", Repository: "a__b/c-d.e", Tag: "_tag"}},
		{in: "[::1]:5000/x/y:1", want: ImageRef{Registry: "[::1]:5000", Repository: "x/y", Tag: "1"}},
		{in: "quay.io/x::1", wantErr: true},
		{in: "quay.io/x@sha512:" + strings.Repeat("ab", 64), wantErr: true}, // the grammar quoted in errors names sha256
		{in: "", wantErr: true},
		{in: " quay.io/x:1", wantErr: true},
		{in: "quay.io/Ambient/x:1", wantErr: true},     // uppercase repository
		{in: "Ambient/x:1", wantErr: true},             // uppercase first component is not a registry
		{in: "quay.io/x:-bad", wantErr: true},          // tag must start with a word character
		{in: "quay.io/x:v1@sha256:abc", wantErr: true}, // short digest
		{in: "quay.io/x:v1@sha256:" + "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", wantErr: true},
		{in: "quay.io/x:v1@md5:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", wantErr: true},
		{in: "quay.io:port/x:1", wantErr: true},
		{in: "quay.io//x:1", wantErr: true},
		{in: "quay.io/x/:1", wantErr: true},
		{in: "quay.io/x_-y:1", wantErr: true},
		{in: "-quay.io/x:1", wantErr: true},
		{in: "quay.io/x:" + strings.Repeat("a", 129), wantErr: true}, // tag longer than 128
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseImageRef(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseImageRef(%q) = %+v, want error", tt.in, got)
				}
				var re *ImageRefError
				if !errors.As(err, &re) || re.Reason == "" {
					t.Fatalf("error %v is not an *ImageRefError with a reason", err)
				}
				want := `"` + tt.in + `" is not a valid image reference (want [registry/]repository[:tag][@sha256:<64 hex>])`
				if err.Error() != want {
					t.Fatalf("error = %q, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseImageRef(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseImageRef(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want round trip to %q", got.String(), tt.in)
			}
		})
	}
}
