package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// Identity of the harness user (docs/platform.md §5 kind overlay, §9 item 4).
const (
	PlatformNamespace      = "ambient-code"
	TestUserSecretName     = "test-user-token"
	TestUserSecretTokenKey = "token"
	TestUserName           = "test-user"
	TestUserSubject        = "system:serviceaccount:ambient-code:test-user"
	TestUserEmail          = "test-user@example.com"
	// MockReplayKey makes the Claude bridge replay recorded fixtures (§5 step 3).
	MockReplayKey = "mock-replay-key"
)

// Classification of an API answer, stored in ledger Observation.Detail.
const (
	ClassRunner401  = "runner-401"
	ClassBackend401 = "backend-401"
	ClassOK         = "ok"
	ClassError      = "error"
)

// DefaultBodyLimit is how much of an answer body APIResult keeps.
const DefaultBodyLimit = 2048

// APIResult is the answer to one backend API call.
type APIResult struct {
	// Route is the route template, e.g. "POST agui/interrupt".
	Route    string
	Status   int
	Body     string // truncated to the client's body limit, token values redacted
	Duration time.Duration
	// Class is one of ClassRunner401, ClassBackend401, ClassOK, ClassError.
	Class string
	Err   error
}

// OK reports whether the call reached the backend and got a 2xx answer that is
// not a runner rejection in disguise (e.g. capabilities' 200 {"detail":"Unauthorized"}).
func (r APIResult) OK() bool { return r.Class == ClassOK && r.Err == nil }

// Error describes a failed result for error returns, or nil when OK.
func (r APIResult) Error() error {
	if r.OK() {
		return nil
	}
	if r.Err != nil {
		return fmt.Errorf("%s: %w", r.Route, r.Err)
	}
	return fmt.Errorf("%s: HTTP %d (%s): %s", r.Route, r.Status, r.Class, r.Body)
}

// Client calls the backend REST API as SA test-user.
type Client struct {
	baseURL   *url.URL
	token     string
	http      *http.Client
	ledger    *ledger.Ledger
	bodyLimit int
	timeout   time.Duration
	now       func() time.Time
	// kube, when set, lets session waits read the runner pod and its events.
	kube  kubernetes.Interface
	clock clock.Clock
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithLedger records every call as a ledger.SignalAPI observation.
func WithLedger(l *ledger.Ledger) ClientOption { return func(c *Client) { c.ledger = l } }

// WithHTTPClient replaces the HTTP client (its Transport wins over the endpoint's).
func WithHTTPClient(hc *http.Client) ClientOption { return func(c *Client) { c.http = hc } }

// WithRequestTimeout bounds each non-streaming call (default 30 s), so a hung
// backend during an upgrade cannot stall a caller that passed a long ctx.
func WithRequestTimeout(d time.Duration) ClientOption { return func(c *Client) { c.timeout = d } }

// WithKubernetes lets every session wait inspect the session's runner pod and
// its events, so that a pod that cannot run ends the wait with the reason.
func WithKubernetes(cs kubernetes.Interface) ClientOption { return func(c *Client) { c.kube = cs } }

// WithClock replaces the clock of session waits (unit tests use a fake one).
func WithClock(clk clock.Clock) ClientOption { return func(c *Client) { c.clock = clk } }

// WithBodyLimit sets how many body bytes APIResult.Body keeps.
func WithBodyLimit(n int) ClientOption { return func(c *Client) { c.bodyLimit = n } }

// NewClient returns a client for the backend behind endpoint, authenticating with
// token (the test-user SA token; see ReadTestUserToken).
func NewClient(endpoint *BackendEndpoint, token string, opts ...ClientOption) (*Client, error) {
	if endpoint == nil {
		return nil, errors.New("session.NewClient: endpoint is nil; create one with NewBackendEndpoint")
	}
	if strings.TrimSpace(token) == "" {
		return nil, fmt.Errorf("session.NewClient: token is empty; the backend answers 401 %q without one (read it from Secret %s/%s key %q)",
			"User token required", PlatformNamespace, TestUserSecretName, TestUserSecretTokenKey)
	}
	u, err := url.Parse(strings.TrimRight(endpoint.URL(), "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("session.NewClient: endpoint URL %q is not an absolute http(s) URL", endpoint.URL())
	}
	c := &Client{
		baseURL:   u,
		token:     token,
		http:      &http.Client{Transport: endpoint.Transport()},
		bodyLimit: DefaultBodyLimit,
		timeout:   30 * time.Second,
		now:       time.Now,
		clock:     clock.RealClock{},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// TokenFingerprint identifies the client's token without revealing it.
func (c *Client) TokenFingerprint() string { return secrets.Fingerprint(c.token) }

// ReadTestUserToken reads the test-user SA token from Secret test-user-token in ambient-code.
func ReadTestUserToken(ctx context.Context, cs kubernetes.Interface) (string, error) {
	sec, err := cs.CoreV1().Secrets(PlatformNamespace).Get(ctx, TestUserSecretName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read Secret %s/%s (the kind overlay's test-user token): %w", PlatformNamespace, TestUserSecretName, err)
	}
	return tokenFromSecret(sec)
}

func tokenFromSecret(sec *corev1.Secret) (string, error) {
	v := strings.TrimSpace(string(sec.Data[TestUserSecretTokenKey]))
	if v == "" {
		keys := make([]string, 0, len(sec.Data))
		for k := range sec.Data {
			keys = append(keys, k)
		}
		return "", fmt.Errorf("secret %s/%s has no non-empty key %q (keys present: %v); it must be a service-account-token Secret for SA %s",
			sec.Namespace, sec.Name, TestUserSecretTokenKey, keys, TestUserName)
	}
	return v, nil
}

// call is one API request. route is the ledger template ("POST agui/run");
// path is the concrete URL path below the base URL.
type call struct {
	route   string
	method  string
	path    string
	query   url.Values
	body    any
	project string
	session string
	// alsoOK lists non-2xx statuses that mean success for this call (409 on create).
	alsoOK []int
}

func (c *Client) setIdentity(h http.Header) {
	h.Set("Authorization", "Bearer "+c.token)
	h.Set("X-Forwarded-User", TestUserSubject)
	h.Set("X-Forwarded-Preferred-Username", TestUserName)
	h.Set("X-Forwarded-Email", TestUserEmail)
	h.Set("X-Forwarded-Access-Token", c.token)
}

func (c *Client) newRequest(ctx context.Context, k call) (*http.Request, error) {
	u := *c.baseURL
	u.Path = strings.TrimRight(u.Path, "/") + k.path
	if len(k.query) > 0 {
		u.RawQuery = k.query.Encode()
	}
	var body io.Reader
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return nil, fmt.Errorf("encode %s request body: %w", k.route, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", k.route, err)
	}
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	c.setIdentity(req.Header)
	return req, nil
}

// do sends k, reads the whole answer and records it. full is the untruncated
// body (token-redacted) for decoding.
func (c *Client) do(ctx context.Context, k call) (res APIResult, full []byte) {
	start := c.now()
	res.Route = k.route
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, k)
	if err == nil {
		var resp *http.Response
		resp, err = c.http.Do(req)
		if err == nil {
			res.Status = resp.StatusCode
			full, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			resp.Body.Close()
			if err != nil {
				err = fmt.Errorf("read answer body: %w", err)
			}
		}
	}
	res.Duration = c.now().Sub(start)
	full = c.redact(full)
	res.Body = truncate(string(full), c.bodyLimit)
	res.Err = c.redactErr(err)
	res.Class = Classify(res.Status, full, res.Err)
	if res.Class == ClassError && res.Err == nil && slices.Contains(k.alsoOK, res.Status) {
		res.Class = ClassOK
	}
	c.record(k, res, start)
	return res, full
}

func (c *Client) record(k call, res APIResult, start time.Time) {
	if c.ledger == nil {
		return
	}
	method, _, _ := strings.Cut(k.route, " ")
	c.ledger.Add(ledger.Observation{
		Time:      start.Add(res.Duration),
		Signal:    ledger.SignalAPI,
		Source:    "backend-api:" + k.project,
		Caller:    ledger.CallerHarness,
		Method:    method,
		Path:      k.route,
		Status:    res.Status,
		Namespace: k.project,
		Session:   k.session,
		Detail:    res.Class,
	})
}

// redact replaces the token by its fingerprint: a backend that echoes headers
// must not leak it into results or reports.
func (c *Client) redact(b []byte) []byte {
	if c.token == "" || !bytes.Contains(b, []byte(c.token)) {
		return b
	}
	return bytes.ReplaceAll(b, []byte(c.token), []byte(secrets.Fingerprint(c.token)))
}

func (c *Client) redactErr(err error) error {
	if err == nil || c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), c.token, secrets.Fingerprint(c.token)))
}

func truncate(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	return s[:n] + "…(truncated)"
}

// Backend-own 401 messages (docs/platform.md §5 Auth, §9 item 4).
var backendAuthErrors = map[string]bool{
	"User token required":      true,
	"Invalid or missing token": true,
	"Invalid token":            true,
}

// Classify names who answered: the runner rejecting the backend's proxied call
// (its exact rejection body {"detail":"Unauthorized"} shows up as the whole
// body, inside an "error" string, or with a 200 from capabilities), the backend
// rejecting the harness, a success, or anything else.
func Classify(status int, body []byte, err error) string {
	if err != nil {
		return ClassError
	}
	if carriesRunnerRejection(body) {
		return ClassRunner401
	}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		errText, _ := m["error"].(string)
		if status == http.StatusUnauthorized && backendAuthErrors[errText] {
			return ClassBackend401
		}
		// HandleAGUIFeedback hides the runner body behind its own message (§5 table).
		if status == http.StatusUnauthorized && errText == "Runner rejected feedback" {
			return ClassRunner401
		}
		// e.g. feedback's 202 "Runner unavailable — feedback not recorded": no runner was reached.
		if st, _ := m["status"].(string); st == "failed" {
			return ClassError
		}
	}
	if status >= 200 && status < 300 {
		return ClassOK
	}
	return ClassError
}

func carriesRunnerRejection(body []byte) bool {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	if d, ok := m["detail"].(string); ok && d == "Unauthorized" {
		return true
	}
	for _, key := range []string{"error", "message", "details"} {
		s, ok := m[key].(string)
		if !ok {
			continue
		}
		var inner map[string]any
		if json.Unmarshal([]byte(strings.TrimSpace(s)), &inner) == nil {
			if d, ok := inner["detail"].(string); ok && d == "Unauthorized" {
				return true
			}
		}
		// e.g. AddRepo on an old backend: "Failed to clone repository: {\"detail\":\"Unauthorized\"}"
		compact := strings.ReplaceAll(s, " ", "")
		if strings.Contains(compact, `{"detail":"Unauthorized"}`) {
			return true
		}
	}
	return false
}
