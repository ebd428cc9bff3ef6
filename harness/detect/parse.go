package detect

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// SplitKubeletTimestamp strips the RFC 3339 timestamp the kubelet prepends to
// every line when logs are read with Timestamps: true. ok is false when the line
// carries no such prefix; rest is then the whole line.
func SplitKubeletTimestamp(line string) (ts time.Time, rest string, ok bool) {
	sp := strings.IndexByte(line, ' ')
	// The shortest RFC 3339 stamp is 20 bytes ("2006-01-02T15:04:05Z"); checking
	// the shape first keeps ordinary text from being parsed as a time.
	if sp < 20 || line[4] != '-' || line[10] != 'T' {
		return time.Time{}, line, false
	}
	t, err := time.Parse(time.RFC3339Nano, line[:sp])
	if err != nil {
		return time.Time{}, line, false
	}
	return t.UTC(), line[sp+1:], true
}

// goLogTimestamp matches the standard library log prefix "2006/01/02 15:04:05"
// with optional microseconds (log.Lmicroseconds).
var goLogTimestamp = regexp.MustCompile(`^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) `)

// SplitGoLogTimestamp strips a Go log prefix; the time is read as UTC because
// platform containers run without a local zone.
func SplitGoLogTimestamp(line string) (ts time.Time, rest string, ok bool) {
	m := goLogTimestamp.FindStringSubmatch(line)
	if m == nil {
		return time.Time{}, line, false
	}
	layout := "2006/01/02 15:04:05"
	if strings.Contains(m[1], ".") {
		layout += "." + strings.Repeat("0", len(m[1])-len(layout)-1)
	}
	t, err := time.ParseInLocation(layout, m[1], time.UTC)
	if err != nil {
		return time.Time{}, line, false
	}
	return t, line[len(m[0]):], true
}

// AccessLine is one uvicorn access log line of a runner (docs/platform.md §2).
type AccessLine struct {
	// Time is the kubelet timestamp when the line carried one.
	Time       time.Time
	ClientIP   string
	ClientPort int
	Method     string
	// Path is the request path without the query string.
	Path   string
	Query  string
	Status int
	Reason string
}

// uvicorn: INFO:     <ip>:<port> - "<METHOD> <target> HTTP/<v>" <code> <reason>
// The IP may be IPv6 in brackets or bare; the port is the last colon group.
var accessLineRE = regexp.MustCompile(`^INFO:\s+(\[?[0-9A-Fa-f.:]+\]?):(\d+) - "([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})(?: (.*))?$`)

// ParseAccessLine parses a runner access line, with or without the kubelet
// timestamp prefix.
func ParseAccessLine(line string) (AccessLine, bool) {
	ts, rest, _ := SplitKubeletTimestamp(strings.TrimRight(line, "\r\n"))
	m := accessLineRE.FindStringSubmatch(rest)
	if m == nil {
		return AccessLine{}, false
	}
	port, err := strconv.Atoi(m[2])
	if err != nil || port > 65535 {
		return AccessLine{}, false
	}
	status, _ := strconv.Atoi(m[5])
	path, query, _ := strings.Cut(m[4], "?")
	return AccessLine{
		Time:       ts,
		ClientIP:   strings.Trim(m[1], "[]"),
		ClientPort: port,
		Method:     m[3],
		Path:       path,
		Query:      query,
		Status:     status,
		Reason:     m[6],
	}, true
}

// PathFamily groups runner paths for reports: per-thread and per-task paths
// collapse into one family (/events/{thread}, /tasks/{id}/…) so counts do not
// explode with ids. It is the verdict package's grouping, so reports and rules agree.
func PathFamily(path string) string { return platform.PathFamily(path) }

// authEnabledText is what the v0.2.2+ runner logs when it installs its
// middleware (docs/platform.md §2, §8.1).
const authEnabledText = "AG-UI token authentication enabled"

// IsAuthEnabledLine reports whether line is the runner's auth startup line.
func IsAuthEnabledLine(line string) bool {
	_, rest, _ := SplitKubeletTimestamp(line)
	return strings.HasSuffix(strings.TrimSpace(rest), authEnabledText)
}

// PlatformLineKind names which of the docs/platform.md §8 operator/backend lines a
// platform log line is.
type PlatformLineKind string

const (
	KindBackendProxy401        PlatformLineKind = "backend-proxy-401"
	KindBackendFeedback401     PlatformLineKind = "backend-feedback-401"
	KindBackendWorkspace401    PlatformLineKind = "backend-workspace-401"
	KindBackendListener401     PlatformLineKind = "backend-listener-401"
	KindBackendListenerGaveUp  PlatformLineKind = "backend-listener-gave-up"
	KindOperatorWorkflowNon200 PlatformLineKind = "operator-workflow-non200"
	KindOperatorWorkflowFailed PlatformLineKind = "operator-workflow-failed"
	KindOperatorRepo401        PlatformLineKind = "operator-repo-401"
	KindOperatorTokenRefreshed PlatformLineKind = "operator-token-refreshed"
	KindOperatorTokenProvision PlatformLineKind = "operator-token-provision"
)

// PlatformLine is a recognised operator or backend log line.
type PlatformLine struct {
	Kind PlatformLineKind
	// Time is the kubelet timestamp, else the Go log timestamp, else zero.
	Time time.Time
	// Namespace and Session are set when the line names them.
	Namespace string
	Session   string
	// Status is the runner's HTTP status when the line reports one.
	Status int
	// Attempt and MaxAttempts are the listener's retry counters.
	Attempt     int
	MaxAttempts int
	// RepoOp is "repo add", "branch change" or "repo remove".
	RepoOp string
	// Message is the line without timestamps.
	Message string
}

// Signal is the ledger signal this line is evidence of. Lines that are context
// rather than a 401 (token refresh, provisioning, listener giving up) are
// session facts.
func (p PlatformLine) Signal() ledger.Signal {
	switch p.Kind {
	case KindBackendProxy401, KindBackendFeedback401, KindBackendWorkspace401:
		return ledger.SignalBackendProxy401
	case KindBackendListener401:
		return ledger.SignalBackendListener401
	case KindOperatorWorkflowNon200, KindOperatorWorkflowFailed:
		if p.Status == 401 {
			return ledger.SignalOperatorWorkflow401
		}
		return ledger.SignalSessionState
	case KindOperatorRepo401:
		return ledger.SignalOperatorRepo401
	}
	return ledger.SignalSessionState
}

// RunnerCall is the runner method and path the line's request went to, as far
// as docs/platform.md (§1.3, §1.4) tells.
func (p PlatformLine) RunnerCall() (method, path string) {
	switch p.Kind {
	case KindBackendProxy401:
		return "POST", "/"
	case KindBackendFeedback401:
		return "POST", "/feedback"
	case KindBackendWorkspace401:
		return "GET", "/content/list"
	case KindBackendListener401, KindBackendListenerGaveUp:
		return "GET", "/events"
	case KindOperatorWorkflowNon200, KindOperatorWorkflowFailed:
		return "POST", "/workflow"
	case KindOperatorRepo401:
		if p.RepoOp == "repo remove" {
			return "POST", "/repos/remove"
		}
		return "POST", "/repos/add"
	}
	return "", ""
}

type platformPattern struct {
	kind PlatformLineKind
	re   *regexp.Regexp
	fill func(m []string, p *PlatformLine)
}

// nsSession splits "<ns>/<session>" as printed by the platform.
func nsSession(s string, p *PlatformLine) {
	p.Namespace, p.Session, _ = strings.Cut(s, "/")
}

var platformPatterns = []platformPattern{
	{KindBackendProxy401, regexp.MustCompile(`AGUI Proxy: runner returned 401\b`), nil},
	{KindBackendFeedback401, regexp.MustCompile(`AGUI Feedback: runner returned 401 for (\S+?):`), func(m []string, p *PlatformLine) { p.Session = m[1] }},
	{KindBackendWorkspace401, regexp.MustCompile(`ListSessionWorkspace: runner returned error status 401\b`), nil},
	{KindBackendListener401, regexp.MustCompile(`Between-run listener: runner returned 401 for (\S+/\S+) \(attempt (\d+)/(\d+)\)`), func(m []string, p *PlatformLine) {
		nsSession(m[1], p)
		p.Attempt, _ = strconv.Atoi(m[2])
		p.MaxAttempts, _ = strconv.Atoi(m[3])
	}},
	{KindBackendListenerGaveUp, regexp.MustCompile(`Between-run listener: gave up after (\d+) attempts for (\S+/\S+)`), func(m []string, p *PlatformLine) {
		p.MaxAttempts, _ = strconv.Atoi(m[1])
		nsSession(m[2], p)
	}},
	{KindOperatorWorkflowNon200, regexp.MustCompile(`\[Reconcile\] Runner returned non-200 for workflow change: (\d{3})\b`), func(m []string, p *PlatformLine) {
		p.Status, _ = strconv.Atoi(m[1])
	}},
	{KindOperatorRepo401, regexp.MustCompile(`\[Reconcile\] Runner returned 401 for (repo add|branch change|repo remove)\b`), func(m []string, p *PlatformLine) {
		p.Status = 401
		p.RepoOp = m[1]
	}},
	{KindOperatorWorkflowFailed, regexp.MustCompile(`\[Reconcile\] Failed to reconcile workflow for (\S+/\S+?): runner workflow update failed: (\d{3})\b`), func(m []string, p *PlatformLine) {
		nsSession(m[1], p)
		p.Status, _ = strconv.Atoi(m[2])
	}},
	{KindOperatorTokenRefreshed, regexp.MustCompile(`Refreshed runner token for session (\S+/\S+)`), func(m []string, p *PlatformLine) { nsSession(m[1], p) }},
	{KindOperatorTokenProvision, regexp.MustCompile(`\[TokenProvision\] (.*)`), func(m []string, p *PlatformLine) {
		if n := tokenProvisionNamespaced.FindStringSubmatch(m[1]); n != nil {
			nsSession(strings.TrimRight(n[1], ".:,"), p)
		} else if n := tokenProvisionSecret.FindStringSubmatch(m[1]); n != nil {
			p.Session = n[1]
		}
	}},
}

var (
	tokenProvisionNamespaced = regexp.MustCompile(`for (?:session )?(\S+/\S+)`)
	tokenProvisionSecret     = regexp.MustCompile(`ambient-runner-token-([a-z0-9][-a-z0-9.]*)`)
)

// ParsePlatformLine recognises the operator and backend lines of docs/platform.md §3.1,
// §3.2, §8.2 and §8.6. It accepts the kubelet prefix, the Go log prefix, both, or
// neither.
func ParsePlatformLine(line string) (PlatformLine, bool) {
	line = strings.TrimRight(line, "\r\n")
	kts, rest, _ := SplitKubeletTimestamp(line)
	gts, rest, _ := SplitGoLogTimestamp(rest)
	for _, pat := range platformPatterns {
		m := pat.re.FindStringSubmatch(rest)
		if m == nil {
			continue
		}
		p := PlatformLine{Kind: pat.kind, Time: kts, Message: rest}
		if p.Time.IsZero() {
			p.Time = gts
		}
		if pat.kind == KindBackendProxy401 || pat.kind == KindBackendFeedback401 || pat.kind == KindBackendWorkspace401 || pat.kind == KindBackendListener401 {
			p.Status = 401
		}
		if pat.fill != nil {
			pat.fill(m, &p)
		}
		return p, true
	}
	return PlatformLine{}, false
}

var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)((?:^|[?&\s])(?:token|access_token)=)([^&\s"']+)`),
	regexp.MustCompile(`(?i)(bearer\s+)([A-Za-z0-9._~+/=-]{8,})`),
	regexp.MustCompile(`(?i)((?:x-ambient-session-token|x-forwarded-access-token|agui[-_]token|k8s-token|bot[-_]token)["']?\s*[:=]\s*["']?)([^\s"',}]+)`),
}

// Redact replaces token values in a line with their fingerprint, so raw log
// lines can go into the ledger and reports.
func Redact(line string) string {
	for _, re := range secretPatterns {
		line = re.ReplaceAllStringFunc(line, func(s string) string {
			m := re.FindStringSubmatch(s)
			return m[1] + "<redacted " + secrets.Fingerprint(m[2]) + ">"
		})
	}
	return line
}
