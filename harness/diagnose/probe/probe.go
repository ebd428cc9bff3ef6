// Package probe is the harness's black-box runner probe: the requests it sends
// a runner, and how it reports the answers. The same code runs inside the
// short-lived probe pod (harness/cmd/runner-probe), which reads the session's
// token Secret itself through the API server, and parses that pod's log in the
// harness. Token values never leave the pod: a report carries statuses, Secret
// key names and secrets.Fingerprint of the token only.
package probe

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// The requests a probe sends, in order. (a)–(d) of the diagnosis go to
// UnknownPath; (e) checks that /health is exempt from auth, as the kubelet's
// probes need (docs/platform.md §2).
const (
	RequestNoHeader    = "no-header"    // (a) no header
	RequestSecretToken = "secret-token" // (b) X-Ambient-Session-Token: the Secret's agui-token
	RequestWrongToken  = "wrong-token"  // (c) X-Ambient-Session-Token: a random value
	RequestBearer      = "bearer"       // (d) Authorization: Bearer <the Secret's agui-token>
	RequestHealth      = "health"       // (e) GET /health with no header
)

// Requests lists the requests in the order they are sent.
var Requests = []string{RequestNoHeader, RequestSecretToken, RequestWrongToken, RequestBearer, RequestHealth}

// UnknownPath has no route in any runner release, so a call to it has no side
// effect: the runner middleware runs before routing (docs/platform.md §2), so it
// answers 401 when it rejects the request and 404 when it lets it through.
const UnknownPath = "/upgrade-harness-probe"

// ReportPrefix starts every report line of the probe's output, so the harness
// finds them among anything else the pod logs.
const ReportPrefix = "upgrade-harness-probe-report "

// Target is one runner pod to probe.
type Target struct {
	Namespace string `json:"namespace"`
	Session   string `json:"session"`
	Pod       string `json:"pod"`
	// PodIP and Port: the probe calls the pod directly, so a runner whose
	// Service has no ready endpoint (failing readiness probes) is still reached.
	PodIP string `json:"podIP"`
	Port  int    `json:"port"`
	// Secret and Key are where callers read the session's token (the
	// contract's, not whatever the runner's env names): ambient-runner-token-<s>, agui-token.
	Secret string `json:"secret"`
	Key    string `json:"key"`
}

// NewTarget is the target of a session's runner pod with the contract's Secret and key.
func NewTarget(namespace, session, pod, podIP string, port int) Target {
	if port == 0 {
		port = platform.RunnerPort
	}
	return Target{Namespace: namespace, Session: session, Pod: pod, PodIP: podIP, Port: port,
		Secret: platform.RunnerTokenSecret(session), Key: platform.AGUITokenKey}
}

// Validate says what is missing from t.
func (t Target) Validate() error {
	var missing []string
	for name, v := range map[string]string{"namespace": t.Namespace, "session": t.Session, "podIP": t.PodIP, "secret": t.Secret, "key": t.Key} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return fmt.Errorf("probe target %s/%s: %s empty", t.Namespace, t.Pod, strings.Join(missing, ", "))
	}
	if net.ParseIP(t.PodIP) == nil {
		return fmt.Errorf("probe target %s/%s: podIP %q is not an IP address", t.Namespace, t.Pod, t.PodIP)
	}
	if t.Port <= 0 || t.Port > 65535 {
		return fmt.Errorf("probe target %s/%s: port %d is not a TCP port", t.Namespace, t.Pod, t.Port)
	}
	return nil
}

// Answer is what the runner answered to one request.
type Answer struct {
	Request string `json:"request"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	// Header names the header the token went under ("" for none); never its value.
	Header string `json:"header,omitempty"`
	Status int    `json:"status,omitempty"`
	// Error is a transport error (the runner did not answer).
	Error string `json:"error,omitempty"`
	// Skipped says why the request was not sent (e.g. the Secret has no token).
	Skipped string `json:"skipped,omitempty"`
}

// Rejected reports whether the runner's middleware rejected the request.
func (a Answer) Rejected() bool { return a.Status == http.StatusUnauthorized }

// Accepted reports whether the request got past the middleware (any other answer).
func (a Answer) Accepted() bool { return a.Status != 0 && a.Status != http.StatusUnauthorized }

// Report is the probe of one target.
type Report struct {
	Target Target `json:"target"`
	// SecretKeys are the key names of Target.Secret (sorted); SecretError says
	// why it could not be read.
	SecretKeys  []string `json:"secretKeys,omitempty"`
	SecretError string   `json:"secretError,omitempty"`
	// TokenFingerprint is secrets.Fingerprint of the token sent in (b) and (d).
	TokenFingerprint string   `json:"tokenFingerprint,omitempty"`
	Answers          []Answer `json:"answers"`
}

// Answer returns the answer to request name.
func (r Report) Answer(name string) (Answer, bool) {
	for _, a := range r.Answers {
		if a.Request == name {
			return a, true
		}
	}
	return Answer{}, false
}

// SecretReader returns the data of Secret name in namespace.
type SecretReader func(ctx context.Context, namespace, name string) (map[string][]byte, error)

// RunInput configures Run.
type RunInput struct {
	Targets    []Target
	ReadSecret SecretReader
	// HTTP sends the requests (default: 5 s timeout, no proxy).
	HTTP *http.Client
	// WrongToken is request (c)'s value (default: a random UUID-shaped value).
	WrongToken string
}

// Run probes every target in turn; a failure of one request or Secret read is
// recorded in its report, never fatal.
func Run(ctx context.Context, in RunInput) []Report {
	client := in.HTTP
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	}
	wrong := in.WrongToken
	if wrong == "" {
		wrong = randomToken()
	}
	out := make([]Report, 0, len(in.Targets))
	for _, t := range in.Targets {
		out = append(out, probeOne(ctx, client, in.ReadSecret, t, wrong))
	}
	return out
}

func probeOne(ctx context.Context, client *http.Client, read SecretReader, t Target, wrong string) Report {
	rep := Report{Target: t}
	token := ""
	if read == nil {
		rep.SecretError = "no Secret reader"
	} else if data, err := read(ctx, t.Namespace, t.Secret); err != nil {
		rep.SecretError = err.Error()
	} else {
		for k := range data {
			rep.SecretKeys = append(rep.SecretKeys, k)
		}
		sort.Strings(rep.SecretKeys)
		// Callers send the value as stored (the backend does not trim).
		token = string(data[t.Key])
		if token != "" {
			rep.TokenFingerprint = secrets.Fingerprint(token)
		}
	}
	base := "http://" + net.JoinHostPort(t.PodIP, strconv.Itoa(t.Port))
	noToken := ""
	switch {
	case rep.SecretError != "":
		noToken = "the Secret could not be read"
	case token == "":
		noToken = fmt.Sprintf("Secret %s has no key %s", t.Secret, t.Key)
	}
	for _, name := range Requests {
		a := Answer{Request: name, Method: http.MethodGet, Path: UnknownPath}
		var header, value string
		switch name {
		case RequestSecretToken:
			header, value = platform.SessionTokenHeader, token
		case RequestWrongToken:
			header, value = platform.SessionTokenHeader, wrong
		case RequestBearer:
			header, value = "Authorization", "Bearer "+token
		case RequestHealth:
			a.Path = "/health"
		}
		a.Header = header
		if (name == RequestSecretToken || name == RequestBearer) && noToken != "" {
			a.Skipped = noToken
			rep.Answers = append(rep.Answers, a)
			continue
		}
		a.Status, a.Error = send(ctx, client, base+a.Path, header, value)
		rep.Answers = append(rep.Answers, a)
	}
	return rep
}

func send(ctx context.Context, client *http.Client, url, header, value string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) && uerr.Unwrap() != nil {
			// Drop the URL wrapper: the error names the pod IP, nothing secret.
			return 0, uerr.Unwrap().Error()
		}
		return 0, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return resp.StatusCode, ""
}

func randomToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "upgrade-harness-wrong-token"
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Encode writes one ReportPrefix line per report.
func Encode(w io.Writer, reports []Report) error {
	for _, r := range reports {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s%s\n", ReportPrefix, b); err != nil {
			return err
		}
	}
	return nil
}

// Decode reads the report lines of a probe's output, ignoring other lines.
func Decode(r io.Reader) ([]Report, error) {
	var out []Report
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), ReportPrefix)
		if !ok {
			continue
		}
		var rep Report
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			return out, fmt.Errorf("probe report line is not JSON: %w", err)
		}
		out = append(out, rep)
	}
	return out, sc.Err()
}

// EncodeTargets is the probe program's -targets argument.
func EncodeTargets(ts []Target) (string, error) {
	b, err := json.Marshal(ts)
	return string(b), err
}

// DecodeTargets parses -targets and validates every target.
func DecodeTargets(s string) ([]Target, error) {
	var ts []Target
	if err := json.Unmarshal([]byte(s), &ts); err != nil {
		return nil, fmt.Errorf("-targets is not a JSON list of targets: %w", err)
	}
	if len(ts) == 0 {
		return nil, errors.New("-targets is empty: want at least one runner pod")
	}
	for _, t := range ts {
		if err := t.Validate(); err != nil {
			return nil, err
		}
	}
	return ts, nil
}
