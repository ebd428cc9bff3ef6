package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

func projectPath(project string) string { return "/api/projects/" + url.PathEscape(project) }

func sessionPath(ref SessionRef) string {
	return projectPath(ref.Project) + "/agentic-sessions/" + url.PathEscape(ref.Name)
}

func (c *Client) sessionCall(ref SessionRef, method, sub string, body any) call {
	return call{
		route:   method + " " + sub,
		method:  method,
		path:    sessionPath(ref) + "/" + sub,
		body:    body,
		project: ref.Project,
		session: ref.Name,
	}
}

// decodeInto fills v from a 2xx body; a decode failure is reported in res.Err
// so that res.OK() turns false.
func decodeInto(res *APIResult, full []byte, v any) {
	if !res.OK() {
		return
	}
	if err := json.Unmarshal(full, v); err != nil {
		res.Err = fmt.Errorf("decode %s answer (HTTP %d) as JSON: %w", res.Route, res.Status, err)
	}
}

// CreateProject creates project (a managed namespace). 409 means it exists and
// counts as success.
func (c *Client) CreateProject(ctx context.Context, project, displayName string) APIResult {
	if displayName == "" {
		displayName = project
	}
	res, _ := c.do(ctx, call{
		route: "POST projects", method: http.MethodPost, path: "/api/projects",
		body: map[string]string{"name": project, "displayName": displayName}, project: project,
		alsoOK: []int{http.StatusConflict},
	})
	return res
}

// GetProject reads one project; 200 means it is ready for sessions.
func (c *Client) GetProject(ctx context.Context, project string) APIResult {
	res, _ := c.do(ctx, call{route: "GET projects/{p}", method: http.MethodGet, path: projectPath(project), project: project})
	return res
}

// PutRunnerSecrets writes Secret ambient-runner-secrets in the project with
// ANTHROPIC_API_KEY=mock-replay-key (docs/platform.md §5 step 3).
func (c *Client) PutRunnerSecrets(ctx context.Context, project string) APIResult {
	res, _ := c.do(ctx, call{
		route: "PUT runner-secrets", method: http.MethodPut, path: projectPath(project) + "/runner-secrets",
		body: map[string]any{"data": map[string]string{"ANTHROPIC_API_KEY": MockReplayKey}}, project: project,
	})
	return res
}

// CreateSession creates a session through the backend and returns its name
// (session-<uuid>).
func (c *Client) CreateSession(ctx context.Context, project string, spec SessionSpec) (string, APIResult) {
	res, full := c.do(ctx, call{
		route: "POST agentic-sessions", method: http.MethodPost, path: projectPath(project) + "/agentic-sessions",
		body: spec, project: project,
	})
	var created struct {
		Name string `json:"name"`
	}
	decodeInto(&res, full, &created)
	if res.OK() && created.Name == "" {
		res.Err = fmt.Errorf("POST agentic-sessions answered HTTP %d without a \"name\" field: %s", res.Status, res.Body)
	}
	return created.Name, res
}

// GetSession reads phase, conditions, observedGeneration and agentStatus.
func (c *Client) GetSession(ctx context.Context, ref SessionRef) (Session, APIResult) {
	res, full := c.do(ctx, call{
		route: "GET agentic-sessions/{s}", method: http.MethodGet, path: sessionPath(ref),
		project: ref.Project, session: ref.Name,
	})
	var doc sessionJSON
	decodeInto(&res, full, &doc)
	return doc.toSession(ref), res
}

// Run sends one user message (AG-UI RunAgentInput). The backend answers 200
// before it contacts the runner: a runner 401 shows up only on the event stream.
func (c *Client) Run(ctx context.Context, ref SessionRef, message string) (RunResult, APIResult) {
	body := map[string]any{
		"threadId": ref.Name,
		"runId":    newUUID(),
		"messages": []map[string]string{{"id": newUUID(), "role": "user", "content": message}},
	}
	res, full := c.do(ctx, c.sessionCall(ref, http.MethodPost, "agui/run", body))
	var run RunResult
	decodeInto(&res, full, &run)
	return run, res
}

// Interrupt calls POST …/agui/interrupt (runner POST /interrupt).
func (c *Client) Interrupt(ctx context.Context, ref SessionRef) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodPost, "agui/interrupt", map[string]any{}))
	return res
}

// Capabilities calls GET …/agui/capabilities; at v0.2.2 a runner 401 comes back
// as HTTP 200 with body {"detail":"Unauthorized"}, classified runner-401.
func (c *Client) Capabilities(ctx context.Context, ref SessionRef) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodGet, "agui/capabilities", nil))
	return res
}

// Feedback calls POST …/agui/feedback (runner POST /feedback) with a thumbs-up
// AG-UI META event: the backend answers 400 "Expected META event type" to any
// other body and never calls the runner (docs/platform.md §10 item 4).
func (c *Client) Feedback(ctx context.Context, ref SessionRef, comment string) APIResult {
	body := map[string]any{
		"type":     "META",
		"metaType": "thumbs_up",
		"payload":  map[string]string{"threadId": ref.Name, "comment": comment, "userId": TestUserSubject},
	}
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodPost, "agui/feedback", body))
	return res
}

// McpStatus calls GET …/mcp/status (a runner 401 is hidden as an empty server list).
func (c *Client) McpStatus(ctx context.Context, ref SessionRef) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodGet, "mcp/status", nil))
	return res
}

// SelectWorkflow changes spec.activeWorkflow; backend and operator both call
// runner POST /workflow.
func (c *Client) SelectWorkflow(ctx context.Context, ref SessionRef, wf Workflow) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodPost, "workflow", wf))
	return res
}

// AddRepo adds to spec.repos; backend and operator call runner POST /repos/add.
func (c *Client) AddRepo(ctx context.Context, ref SessionRef, repo Repo) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodPost, "repos", repo))
	return res
}

// RemoveRepo removes repoName (Repo.Name()) from spec.repos; runner POST /repos/remove.
func (c *Client) RemoveRepo(ctx context.Context, ref SessionRef, repoName string) APIResult {
	k := c.sessionCall(ref, http.MethodDelete, "repos/"+url.PathEscape(repoName), nil)
	k.route = "DELETE repos/{repo}"
	res, _ := c.do(ctx, k)
	return res
}

// SwitchModel calls POST …/model (runner POST /model).
func (c *Client) SwitchModel(ctx context.Context, ref SessionRef, model string) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodPost, "model", map[string]string{"model": model}))
	return res
}

// ListWorkspace calls GET …/workspace (runner GET /content/list).
func (c *Client) ListWorkspace(ctx context.Context, ref SessionRef) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodGet, "workspace", nil))
	return res
}

// ReposStatus calls GET …/repos/status (runner GET /repos/status).
func (c *Client) ReposStatus(ctx context.Context, ref SessionRef) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodGet, "repos/status", nil))
	return res
}

// Stop asks for the session to stop (202); the operator deletes pod and Service.
func (c *Client) Stop(ctx context.Context, ref SessionRef) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodPost, "stop", nil))
	return res
}

// Start asks for a stopped session to run again (IS_RESUME=true, token Secret reused).
func (c *Client) Start(ctx context.Context, ref SessionRef) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodPost, "start", nil))
	return res
}

// PodEvents reads the kubelet/scheduler events of the session's runner pod.
func (c *Client) PodEvents(ctx context.Context, ref SessionRef) APIResult {
	res, _ := c.do(ctx, c.sessionCall(ref, http.MethodGet, "pod-events", nil))
	return res
}

// Events opens the session's SSE stream (GET …/agui/events: replay plus live
// events and ": heartbeat" lines). The caller must close the stream; it ends
// when ctx ends or the backend goes away. The connect attempt is recorded like
// any other call.
func (c *Client) Events(ctx context.Context, ref SessionRef) (io.ReadCloser, error) {
	k := c.sessionCall(ref, http.MethodGet, "agui/events", nil)
	start := c.now()
	res := APIResult{Route: k.route}
	req, err := c.newRequest(ctx, k)
	if err != nil {
		res.Err, res.Class = err, ClassError
		c.record(k, res, start)
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	res.Duration = c.now().Sub(start)
	if err != nil {
		res.Err = c.redactErr(err)
		res.Class = ClassError
		c.record(k, res, start)
		return nil, fmt.Errorf("%s for %s: %w", k.route, ref, res.Err)
	}
	res.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, int64(c.bodyLimit)+1))
		resp.Body.Close()
		b = c.redact(b)
		res.Body = truncate(string(b), c.bodyLimit)
		res.Class = Classify(res.Status, b, nil)
		if res.Class == ClassOK {
			res.Class = ClassError
		}
		c.record(k, res, start)
		return nil, fmt.Errorf("%s for %s: HTTP %d (%s): %s (want 200 text/event-stream)", k.route, ref, res.Status, res.Class, res.Body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		res.Class, res.Err = ClassError, fmt.Errorf("content type %q, want text/event-stream", ct)
		c.record(k, res, start)
		return nil, fmt.Errorf("%s for %s: %w", k.route, ref, res.Err)
	}
	res.Class = ClassOK
	c.record(k, res, start)
	return resp.Body, nil
}
