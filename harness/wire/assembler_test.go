package wire

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

var t0 = time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)

// conversation drives an assembler with frames that went through the
// decoder, as the capture loop does.
type conversation struct {
	t    *testing.T
	a    *Assembler
	out  []Request
	now  time.Time
	cISN uint32
	sISN uint32
	cSeq uint32 // next client byte
	sSeq uint32
}

func newConversation(t *testing.T, lim Limits) *conversation {
	c := &conversation{t: t, now: t0, cISN: 1000, sISN: 5000}
	c.a = NewAssembler(8001, lim, func(r Request) { c.out = append(c.out, r) })
	c.cSeq, c.sSeq = c.cISN+1, c.sISN+1
	return c
}

func (c *conversation) feed(f tcpFrame) {
	c.t.Helper()
	c.now = c.now.Add(time.Millisecond)
	seg, err := DecodeEthernet(f.bytes())
	if err != nil {
		c.t.Fatal(err)
	}
	c.a.Add(seg, c.now)
}

func (c *conversation) handshake(client, server netip.AddrPort) {
	c.feed(tcpFrame{src: client, dst: server, seq: c.cISN, flags: flagSYN})
	c.feed(tcpFrame{src: server, dst: client, seq: c.sISN, flags: flagSYN})
}

// clientSegments cuts data at the given offsets into frames from client to server.
func (c *conversation) clientSegments(client, server netip.AddrPort, data string, cuts ...int) []tcpFrame {
	return segments(client, server, &c.cSeq, data, cuts...)
}

func (c *conversation) serverSegments(server, client netip.AddrPort, data string, cuts ...int) []tcpFrame {
	return segments(server, client, &c.sSeq, data, cuts...)
}

func segments(src, dst netip.AddrPort, seq *uint32, data string, cuts ...int) []tcpFrame {
	var out []tcpFrame
	prev := 0
	for _, cut := range append(cuts, len(data)) {
		out = append(out, tcpFrame{src: src, dst: dst, seq: *seq + uint32(prev), payload: []byte(data[prev:cut])})
		prev = cut
	}
	*seq += uint32(len(data))
	return out
}

const secretToken = "7f3c9a52-1b2d-4e8f-9a0b-c1d2e3f4a5b6"

var postWorkflow = "POST /workflow HTTP/1.1\r\nHost: session-a:8001\r\nX-Ambient-Session-Token: " + secretToken +
	"\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}"

func TestAssemblerRequestAcrossSegments(t *testing.T) {
	c := newConversation(t, Limits{})
	c.handshake(backendAddr, runnerAddr)
	for _, f := range c.clientSegments(backendAddr, runnerAddr, postWorkflow, 5, 40, 90) {
		c.feed(f)
	}
	if len(c.out) != 0 {
		t.Fatalf("emitted before the response: %+v", c.out)
	}
	for _, f := range c.serverSegments(runnerAddr, backendAddr, "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n", 12) {
		c.feed(f)
	}
	if len(c.out) != 1 {
		t.Fatalf("%d requests, want 1", len(c.out))
	}
	r := c.out[0]
	if r.Method != "POST" || r.Path != "/workflow" || r.Status != 401 || r.Src != backendAddr.String() || r.Dst != runnerAddr.String() {
		t.Errorf("request %+v", r)
	}
	wantNames := "Host,X-Ambient-Session-Token,Content-Type,Content-Length"
	if got := strings.Join(r.HeaderNames, ","); got != wantNames {
		t.Errorf("header names %s, want %s", got, wantNames)
	}
	if len(r.TokenHeaders) != 1 || r.TokenHeaders[0].Fingerprint != secrets.Fingerprint(secretToken) || r.TokenHeaders[0].Bearer {
		t.Errorf("token headers %+v, want one with %s", r.TokenHeaders, secrets.Fingerprint(secretToken))
	}
	if !r.Time.Equal(t0.Add(3*time.Millisecond)) || r.ResponseTime == nil || !r.ResponseTime.After(r.Time) {
		t.Errorf("times %v, %v: the request is timed by its first segment", r.Time, r.ResponseTime)
	}
}

func TestAssemblerOutOfOrderAndDuplicateSegments(t *testing.T) {
	c := newConversation(t, Limits{})
	c.handshake(backendAddr, runnerAddr)
	segs := c.clientSegments(backendAddr, runnerAddr, postWorkflow, 10, 30, 60, 100)
	// Last first, one twice, the first retransmitted after the rest.
	for _, i := range []int{4, 2, 2, 3, 1, 0, 0, 1} {
		c.feed(segs[i])
	}
	for _, f := range c.serverSegments(runnerAddr, backendAddr, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") {
		c.feed(f)
	}
	if len(c.out) != 1 || c.out[0].Path != "/workflow" || c.out[0].Status != 200 {
		t.Fatalf("requests %+v, want POST /workflow 200 once", c.out)
	}
	if st := c.a.Stats(); st.Duplicates != 3 || st.Requests != 1 || st.BufferedBytes != 0 {
		t.Errorf("stats %+v: want 3 duplicates, 1 request, nothing left buffered", st)
	}
}

// A pod-to-pod call through a Service crosses the caller's veth (to the
// ClusterIP) and the runner's veth (to the pod IP, after DNAT): every frame
// is seen twice, with two server addresses, and is still one request.
func TestAssemblerDedupesTheTwoInterfaces(t *testing.T) {
	c := newConversation(t, Limits{})
	twice := func(f tcpFrame) {
		viaService := f
		if f.dst == runnerAddr {
			viaService.dst = serviceAddr
			c.feed(viaService) // caller's veth first
			c.feed(f)
		} else {
			viaService.src = serviceAddr
			c.feed(f) // runner's veth first
			c.feed(viaService)
		}
	}
	twice(tcpFrame{src: backendAddr, dst: runnerAddr, seq: c.cISN, flags: flagSYN})
	twice(tcpFrame{src: runnerAddr, dst: backendAddr, seq: c.sISN, flags: flagSYN})
	for _, f := range c.clientSegments(backendAddr, runnerAddr, postWorkflow, 50) {
		twice(f)
	}
	for _, f := range c.serverSegments(runnerAddr, backendAddr, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
		twice(f)
	}
	twice(tcpFrame{src: backendAddr, dst: runnerAddr, seq: c.cSeq, flags: flagFIN})
	c.a.Flush(c.now.Add(time.Minute))
	if len(c.out) != 1 {
		t.Fatalf("%d requests, want 1: %+v", len(c.out), c.out)
	}
	if got := strings.Join(c.out[0].ServerIPs, ","); got != "10.96.14.7,10.244.0.9" {
		t.Errorf("server IPs %s, want the ClusterIP and the pod IP", got)
	}
	if st := c.a.Stats(); st.Duplicates < 4 || st.Conns != 0 || st.ConnsTotal != 1 {
		t.Errorf("stats %+v: want the second copies counted as duplicates and the connection forgotten", st)
	}
}

func TestAssemblerKeepAliveBodiesAndPairing(t *testing.T) {
	c := newConversation(t, Limits{})
	c.handshake(backendAddr, runnerAddr)
	chunked := "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer " + secretToken + "\r\n\r\n" +
		"5;x=y\r\nGET /\r\n3\r\nabc\r\n0\r\nTrailer: z\r\n\r\n"
	for _, f := range c.clientSegments(backendAddr, runnerAddr, chunked+"GET /health HTTP/1.1\r\n\r\n", 70) {
		c.feed(f)
	}
	event := "data: HTTP/1.1 500 Bad\n\n" // a body line that looks like a status line
	sse := fmt.Sprintf("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(event), event)
	for _, f := range c.serverSegments(runnerAddr, backendAddr, sse+"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", 20, 60) {
		c.feed(f)
	}
	if len(c.out) != 2 {
		t.Fatalf("%d requests, want 2: %+v", len(c.out), c.out)
	}
	if c.out[0].Method != "POST" || c.out[0].Status != 200 || c.out[1].Path != "/health" || c.out[1].Status != 404 {
		t.Errorf("pairing: %s %s %d, %s %s %d", c.out[0].Method, c.out[0].Path, c.out[0].Status, c.out[1].Method, c.out[1].Path, c.out[1].Status)
	}
	if th := c.out[0].TokenHeaders; len(th) != 1 || !th[0].Bearer || th[0].Fingerprint != secrets.Fingerprint(secretToken) {
		t.Errorf("Authorization: %+v, want Bearer and the token's fingerprint without the prefix", th)
	}
	if len(c.out[1].TokenHeaders) != 0 {
		t.Errorf("/health sent no token header, got %+v", c.out[1].TokenHeaders)
	}
}

func TestAssemblerUpgradeAndQuery(t *testing.T) {
	c := newConversation(t, Limits{})
	c.handshake(backendAddr, runnerAddr)
	ws := "GET /events?token=" + secretToken + " HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"
	for _, f := range c.clientSegments(backendAddr, runnerAddr, ws) {
		c.feed(f)
	}
	for _, f := range c.serverSegments(runnerAddr, backendAddr, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x03GET / HTTP/1.1\r\n\r\n") {
		c.feed(f)
	}
	if len(c.out) != 1 || c.out[0].Path != "/events" || c.out[0].Status != 101 {
		t.Fatalf("requests %+v, want GET /events 101 once (frames after the upgrade are not HTTP)", c.out)
	}
	b, _ := json.Marshal(c.out[0])
	if strings.Contains(string(b), secretToken) {
		t.Errorf("the query's token reached the output: %s", b)
	}
}

// The output carries names and fingerprints: no header value, no body.
func TestRequestJSONNeverHoldsAValue(t *testing.T) {
	c := newConversation(t, Limits{})
	c.handshake(backendAddr, runnerAddr)
	head := "GET /x HTTP/1.1\r\nX-Ambient-Session-Tokn: " + secretToken + "\r\nCookie: sid=" + secretToken +
		"\r\nAuthorisation: bearer " + secretToken + "\r\nContent-Length: 36\r\n\r\n" + secretToken
	for _, f := range c.clientSegments(backendAddr, runnerAddr, head) {
		c.feed(f)
	}
	c.a.Close()
	if len(c.out) != 1 || c.out[0].Ended != "shutdown" || c.out[0].Status != 0 {
		t.Fatalf("requests %+v, want one unanswered, ended by shutdown", c.out)
	}
	b, err := json.Marshal(c.out[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secretToken) || strings.Contains(string(b), "7f3c9a52") {
		t.Fatalf("a value reached the output: %s", b)
	}
	var names []string
	for _, th := range c.out[0].TokenHeaders {
		names = append(names, th.Name)
		if th.Fingerprint != secrets.Fingerprint(secretToken) {
			t.Errorf("%s: fingerprint %s, want %s", th.Name, th.Fingerprint, secrets.Fingerprint(secretToken))
		}
	}
	if got := strings.Join(names, ","); got != "X-Ambient-Session-Tokn,Authorisation" {
		t.Errorf("token-like headers %s, want the misspelt session header and Authorisation (not Cookie)", got)
	}
}

func TestIsTokenLike(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"X-Ambient-Session-Token", true},
		{"x-ambient-session-token", true},
		{"X-Ambient-Session-Tokn", true},  // 1 edit
		{"X-Ambient-Sesion-Tokn", true},   // 2 edits
		{"X-Ambyent-Sesion-Tokn", false},  // 3 edits
		{"X-Ambient-Token", true},         // renamed, names a token
		{"Authorization", true},           //
		{"AUTHORISATION", true},           // 1 edit
		{"Authorizaton", true},            // 1 edit
		{"Autorisation", true},            // 2 edits
		{"Autorisaton", false},            // 3 edits
		{"X-Ambient-Session-Id", false},   //
		{"Content-Type", false},           //
		{"Cookie", false},                 //
		{"X-Ambient-Session-Tkoen", true}, // names no "token", 2 edits (a transposition)
		{"X-Ambient-Sesson-Tkoen", false}, // 3 edits, no "token"
	} {
		if got := IsTokenLike(tc.name); got != tc.want {
			t.Errorf("IsTokenLike(%q) = %v, want %v (distance to the session header %d, to authorization %d)", tc.name, got, tc.want,
				nameDistance(strings.ToLower(tc.name), "x-ambient-session-token"), nameDistance(strings.ToLower(tc.name), "authorization"))
		}
	}
}

func TestAssemblerBounds(t *testing.T) {
	t.Run("head too large", func(t *testing.T) {
		c := newConversation(t, Limits{MaxHeadBytes: 256})
		c.handshake(backendAddr, runnerAddr)
		big := "GET /big HTTP/1.1\r\nX-Filler: " + strings.Repeat("a", 400) + "\r\n\r\n"
		for _, f := range c.clientSegments(backendAddr, runnerAddr, big, 100, 200, 300) {
			c.feed(f)
		}
		for _, f := range c.clientSegments(backendAddr, runnerAddr, "GET /next HTTP/1.1\r\n\r\n") {
			c.feed(f)
		}
		for _, f := range c.serverSegments(runnerAddr, backendAddr, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
			c.feed(f)
		}
		st := c.a.Stats()
		if st.Drops.HeadTooLarge != 1 || len(c.out) != 1 || c.out[0].Path != "/next" {
			t.Errorf("drops %+v, requests %+v: want the big head dropped and counted, the next one read", st.Drops, c.out)
		}
		if st.BufferedBytes != 0 {
			t.Errorf("%d bytes still buffered", st.BufferedBytes)
		}
	})
	t.Run("connection limit", func(t *testing.T) {
		c := newConversation(t, Limits{MaxConns: 2})
		for i := range 3 {
			client := netip.AddrPortFrom(backendAddr.Addr(), uint16(40000+i))
			c.feed(tcpFrame{src: client, dst: runnerAddr, seq: 1, flags: flagSYN})
		}
		if st := c.a.Stats(); st.Conns != 2 || st.Drops.ConnLimit != 1 {
			t.Errorf("stats %+v: want 2 tracked, 1 refused", st)
		}
	})
	t.Run("out of order budget", func(t *testing.T) {
		c := newConversation(t, Limits{MaxOutOfOrderSegments: 2})
		c.handshake(backendAddr, runnerAddr)
		segs := c.clientSegments(backendAddr, runnerAddr, postWorkflow, 10, 20, 30, 40)
		for _, f := range segs[1:] {
			c.feed(f)
		}
		if st := c.a.Stats(); st.Drops.OutOfOrder != 1 || st.BufferedBytes != 0 {
			t.Errorf("stats %+v: want one out-of-order drop and nothing held", st)
		}
	})
	t.Run("global buffer budget", func(t *testing.T) {
		c := newConversation(t, Limits{MaxBufferedBytes: 64})
		c.handshake(backendAddr, runnerAddr)
		for _, f := range c.clientSegments(backendAddr, runnerAddr, "GET / HTTP/1.1\r\nX-A: "+strings.Repeat("b", 100)) {
			c.feed(f)
		}
		if st := c.a.Stats(); st.Drops.BufferLimit != 1 || st.BufferedBytes != 0 {
			t.Errorf("stats %+v: want one buffer-limit drop", st)
		}
	})
	t.Run("midstream", func(t *testing.T) {
		c := newConversation(t, Limits{})
		c.feed(tcpFrame{src: backendAddr, dst: runnerAddr, seq: 77, payload: []byte("tail of a body")})
		if st := c.a.Stats(); st.Drops.Midstream != 1 || st.Conns != 0 {
			t.Errorf("stats %+v: want the segment dropped as midstream, no connection", st)
		}
	})
	t.Run("response timeout", func(t *testing.T) {
		c := newConversation(t, Limits{ResponseTimeout: 5 * time.Second})
		c.handshake(backendAddr, runnerAddr)
		for _, f := range c.clientSegments(backendAddr, runnerAddr, "GET /slow HTTP/1.1\r\n\r\n") {
			c.feed(f)
		}
		c.a.Flush(c.now.Add(4 * time.Second))
		if len(c.out) != 0 {
			t.Fatalf("emitted before the timeout: %+v", c.out)
		}
		c.a.Flush(c.now.Add(6 * time.Second))
		if len(c.out) != 1 || c.out[0].Ended != "timeout" || c.out[0].Status != 0 || c.a.Stats().Unanswered != 1 {
			t.Errorf("requests %+v, want one unanswered by timeout", c.out)
		}
	})
	t.Run("pending limit", func(t *testing.T) {
		c := newConversation(t, Limits{MaxPending: 2})
		c.handshake(backendAddr, runnerAddr)
		for i := range 3 {
			for _, f := range c.clientSegments(backendAddr, runnerAddr, fmt.Sprintf("GET /%d HTTP/1.1\r\n\r\n", i)) {
				c.feed(f)
			}
		}
		if st := c.a.Stats(); len(c.out) != 1 || c.out[0].Path != "/0" || st.Drops.PendingLimit != 1 {
			t.Errorf("requests %+v, drops %+v: want /0 emitted early", c.out, st.Drops)
		}
	})
}

func TestAssemblerNewConnectionOnReusedPort(t *testing.T) {
	c := newConversation(t, Limits{})
	c.handshake(backendAddr, runnerAddr)
	for _, f := range c.clientSegments(backendAddr, runnerAddr, "GET /a HTTP/1.1\r\n\r\n") {
		c.feed(f)
	}
	c.cISN, c.cSeq = 90000, 90001
	c.feed(tcpFrame{src: backendAddr, dst: runnerAddr, seq: c.cISN, flags: flagSYN})
	for _, f := range c.clientSegments(backendAddr, runnerAddr, "GET /b HTTP/1.1\r\n\r\n") {
		c.feed(f)
	}
	c.a.Close()
	if len(c.out) != 2 || c.out[0].Path != "/a" || c.out[0].Ended != "closed" || c.out[1].Path != "/b" {
		t.Errorf("requests %+v, want /a closed by the new SYN, then /b", c.out)
	}
}

// Linux lets one client port carry connections to two servers at once (the
// 4-tuples differ): the kubelet probing two runners, or a caller calling two
// runners. Each is its own connection.
func TestAssemblerOneClientPortToTwoServers(t *testing.T) {
	var out []Request
	a := NewAssembler(8001, Limits{}, func(r Request) { out = append(out, r) })
	kubelet := netip.MustParseAddrPort("10.244.0.1:50000")
	runnerA := netip.MustParseAddrPort("10.244.0.9:8001")
	runnerB := netip.MustParseAddrPort("10.244.0.10:8001")
	now := t0
	feed := func(f tcpFrame) {
		now = now.Add(time.Millisecond)
		seg, err := DecodeEthernet(f.bytes())
		if err != nil {
			t.Fatal(err)
		}
		a.Add(seg, now)
	}
	probe := "GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: kube-probe/1.33\r\nConnection: close\r\n\r\n"
	answer := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
	type side struct {
		srv        netip.AddrPort
		cISN, sISN uint32
	}
	A, B := side{runnerA, 111111, 222222}, side{runnerB, 3333333333, 44444}
	feed(tcpFrame{src: kubelet, dst: A.srv, seq: A.cISN, flags: flagSYN})
	feed(tcpFrame{src: kubelet, dst: B.srv, seq: B.cISN, flags: flagSYN})
	feed(tcpFrame{src: A.srv, dst: kubelet, seq: A.sISN, flags: flagSYN})
	feed(tcpFrame{src: B.srv, dst: kubelet, seq: B.sISN, flags: flagSYN})
	feed(tcpFrame{src: kubelet, dst: A.srv, seq: A.cISN + 1, payload: []byte(probe)})
	feed(tcpFrame{src: kubelet, dst: B.srv, seq: B.cISN + 1, payload: []byte(probe)})
	feed(tcpFrame{src: A.srv, dst: kubelet, seq: A.sISN + 1, payload: []byte(answer), flags: flagFIN})
	feed(tcpFrame{src: B.srv, dst: kubelet, seq: B.sISN + 1, payload: []byte(answer), flags: flagFIN})
	a.Close()
	answered := 0
	for _, r := range out {
		if r.Status == 200 {
			answered++
		}
	}
	if len(out) != 2 || answered != 2 {
		t.Errorf("requests %+v, want two answered probes", out)
	}
}

// A connection first seen in the middle (open before the witness started)
// through a Service: the pod IP's copies are joined to the ClusterIP's by
// their sequence numbers, the response's by its acknowledgment, so the
// request is emitted once, answered, with both addresses.
func TestAssemblerJoinsServiceCopiesMidstream(t *testing.T) {
	c := newConversation(t, Limits{})
	for _, f := range c.clientSegments(backendAddr, runnerAddr, postWorkflow, 30) {
		viaService := f
		viaService.dst = serviceAddr
		c.feed(viaService) // caller's veth
		c.feed(f)          // runner's veth
	}
	for _, f := range c.serverSegments(runnerAddr, backendAddr, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
		f.ack = c.cSeq
		viaService := f
		viaService.src = serviceAddr
		c.feed(f) // runner's veth first
		c.feed(viaService)
	}
	c.a.Close()
	if len(c.out) != 1 || c.out[0].Status != 200 || strings.Join(c.out[0].ServerIPs, ",") != "10.96.14.7,10.244.0.9" {
		t.Fatalf("requests %+v, want one answered request with the ClusterIP and the pod IP", c.out)
	}
	if st := c.a.Stats(); st.ConnsTotal != 1 || st.Duplicates != 3 || st.Drops.Total() != 0 {
		t.Errorf("stats %+v: want one connection, its second copies counted as duplicates", st)
	}
}

// The traffic of a v0.2.3+ backend to one runner through its Service, on
// one kept-alive connection, every frame seen on both veths: a run answered
// by an SSE stream in several chunks and segments, the between-run
// listener's GET /events 404, a call with a chunked body, then /health.
// Issue 26 suspected these; all four requests come out once, answered.
func TestAssemblerKeptAliveRunnerTrafficThroughAService(t *testing.T) {
	c := newConversation(t, Limits{})
	twice := func(f tcpFrame) {
		viaService := f
		if f.dst == runnerAddr {
			viaService.dst = serviceAddr
			c.feed(viaService)
			c.feed(f)
		} else {
			viaService.src = serviceAddr
			c.feed(f)
			c.feed(viaService)
		}
	}
	twice(tcpFrame{src: backendAddr, dst: runnerAddr, seq: c.cISN, flags: flagSYN})
	twice(tcpFrame{src: runnerAddr, dst: backendAddr, seq: c.sISN, ack: c.cISN + 1, flags: flagSYN})
	exchange := func(req, resp string, reqCuts, respCuts []int) {
		for _, f := range c.clientSegments(backendAddr, runnerAddr, req, reqCuts...) {
			twice(f)
		}
		for _, f := range c.serverSegments(runnerAddr, backendAddr, resp, respCuts...) {
			f.ack = c.cSeq
			twice(f)
		}
	}
	var sse strings.Builder
	sse.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n")
	for _, ev := range []string{"RUN_STARTED", "TEXT_MESSAGE_CONTENT", "RUN_FINISHED"} {
		data := `data: {"type":"` + ev + `"}` + "\n\n"
		fmt.Fprintf(&sse, "%x\r\n%s\r\n", len(data), data)
	}
	sse.WriteString("0\r\n\r\n")
	run := "POST / HTTP/1.1\r\nHost: session-a.proj-a.svc.cluster.local:8001\r\nContent-Length: 13\r\nAccept: text/event-stream\r\n" +
		"X-Ambient-Session-Token: " + secretToken + "\r\n\r\n{\"messages\":1"
	exchange(run, sse.String(), []int{60}, []int{40, 130, 170})
	exchange("GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{\"detail\":\"Not Found\"}", nil, nil)
	exchange("POST /interrupt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", []int{45}, nil)
	exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}", nil, nil)
	c.a.Close()
	var got []string
	for _, r := range c.out {
		got = append(got, fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
	}
	if want := "POST / 200,GET /events 404,POST /interrupt 200,GET /health 200"; strings.Join(got, ",") != want {
		t.Fatalf("requests %q, want %s", got, want)
	}
	if st := c.a.Stats(); st.ConnsTotal != 1 || st.Drops.Total() != 0 || st.OrphanResponses != 0 {
		t.Errorf("stats %+v: want one connection, no drop, no orphan answer", st)
	}
}
