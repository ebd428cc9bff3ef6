package probe

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

const token = "5b0f8c2e-1d3a-4e6f-8a9b-0c1d2e3f4a5b"

// runner answers like the v0.2.2+ middleware, reading the token from header
// (or not checking at all when expect is empty).
func runner(expect, header string, guardHealth bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(header)
		if header == "Authorization" {
			got = strings.TrimPrefix(got, "Bearer ")
		}
		exempt := r.URL.Path == "/health" && !guardHealth
		if expect != "" && !exempt && got != expect {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/health" {
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
}

func target(t *testing.T, h http.Handler) Target {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	return NewTarget("proj", "s1", "s1-runner", host, p)
}

func secretWith(data map[string]string) SecretReader {
	return func(_ context.Context, ns, name string) (map[string][]byte, error) {
		if ns != "proj" || name != "ambient-runner-token-s1" {
			return nil, errors.New("secrets \"" + name + "\" not found")
		}
		out := map[string][]byte{}
		for k, v := range data {
			out[k] = []byte(v)
		}
		return out, nil
	}
}

func statuses(r Report) string {
	var parts []string
	for _, a := range r.Answers {
		s := strconv.Itoa(a.Status)
		if a.Skipped != "" {
			s = "skipped"
		}
		parts = append(parts, a.Request+"="+s)
	}
	return strings.Join(parts, " ")
}

func TestRunAgainstRunnerVariants(t *testing.T) {
	both := map[string]string{"agui-token": token, "k8s-token": "jwt-value-0123456789"}
	for _, tc := range []struct {
		name   string
		h      http.Handler
		secret map[string]string
		want   string
	}{
		{"upstream v0.2.2+ middleware", runner(token, "X-Ambient-Session-Token", false), both,
			"no-header=401 secret-token=404 wrong-token=401 bearer=401 health=200"},
		{"no auth", runner("", "", false), both, "no-header=404 secret-token=404 wrong-token=404 bearer=404 health=200"},
		{"runner started with another key", runner("jwt-value-0123456789", "X-Ambient-Session-Token", false), both,
			"no-header=401 secret-token=401 wrong-token=401 bearer=401 health=200"},
		{"runner reads Authorization", runner(token, "Authorization", false), both,
			"no-header=401 secret-token=401 wrong-token=401 bearer=404 health=200"},
		{"health guarded", runner(token, "X-Ambient-Session-Token", true), both,
			"no-header=401 secret-token=404 wrong-token=401 bearer=401 health=401"},
		{"Secret without agui-token", runner("", "", false), map[string]string{"k8s-token": "jwt"},
			"no-header=404 secret-token=skipped wrong-token=404 bearer=skipped health=200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reps := Run(context.Background(), RunInput{Targets: []Target{target(t, tc.h)}, ReadSecret: secretWith(tc.secret)})
			if len(reps) != 1 {
				t.Fatalf("%d reports", len(reps))
			}
			if got := statuses(reps[0]); got != tc.want {
				t.Errorf("answers %s, want %s", got, tc.want)
			}
			var out bytes.Buffer
			if err := Encode(&out, reps); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), token) || strings.Contains(out.String(), "jwt-value") {
				t.Fatalf("a token value is in the probe output: %s", out.String())
			}
			back, err := Decode(strings.NewReader("other log line\n" + out.String()))
			if err != nil || len(back) != 1 || statuses(back[0]) != tc.want {
				t.Fatalf("Decode = %v, %v", back, err)
			}
		})
	}
}

func TestReportCarriesKeysAndFingerprintOnly(t *testing.T) {
	rep := Run(context.Background(), RunInput{Targets: []Target{target(t, runner(token, "X-Ambient-Session-Token", false))},
		ReadSecret: secretWith(map[string]string{"agui-token": token, "k8s-token": "k"})})[0]
	if strings.Join(rep.SecretKeys, ",") != "agui-token,k8s-token" || rep.TokenFingerprint != secrets.Fingerprint(token) || rep.SecretError != "" {
		t.Errorf("report = %+v", rep)
	}
	a, _ := rep.Answer(RequestBearer)
	if a.Header != "Authorization" || a.Path != UnknownPath {
		t.Errorf("bearer answer = %+v", a)
	}
}

func TestSecretUnreadableAndRunnerUnreachable(t *testing.T) {
	tg := NewTarget("proj", "other", "other-runner", "127.0.0.1", 1) // nothing listens on port 1
	rep := Run(context.Background(), RunInput{Targets: []Target{tg}, ReadSecret: secretWith(nil)})[0]
	if !strings.Contains(rep.SecretError, "not found") {
		t.Errorf("SecretError = %q", rep.SecretError)
	}
	a, _ := rep.Answer(RequestNoHeader)
	if a.Status != 0 || a.Error == "" || a.Accepted() || a.Rejected() {
		t.Errorf("unreachable runner answer = %+v", a)
	}
}

func TestDecodeTargets(t *testing.T) {
	good, _ := EncodeTargets([]Target{NewTarget("p", "s", "s-runner", "10.0.0.1", 0)})
	if ts, err := DecodeTargets(good); err != nil || ts[0].Port != 8001 || ts[0].Secret != "ambient-runner-token-s" || ts[0].Key != "agui-token" {
		t.Fatalf("DecodeTargets(%s) = %+v, %v", good, ts, err)
	}
	for in, want := range map[string]string{
		"":   "not a JSON list",
		"[]": "is empty",
		`[{"namespace":"p","session":"s","pod":"x","podIP":"nope","port":8001,"secret":"a","key":"b"}]`: `podIP "nope" is not an IP address`,
		`[{"namespace":"p","pod":"x","podIP":"10.0.0.1","port":8001}]`:                                  "key, secret, session empty",
	} {
		if _, err := DecodeTargets(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeTargets(%q) = %v, want %q", in, err, want)
		}
	}
}
