package wire

import (
	"bytes"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits bound the assembler's memory and how long a request waits for its
// answer. Zero fields take DefaultLimits' values.
type Limits struct {
	// MaxConns is how many connections are tracked at once.
	MaxConns int
	// MaxHeadBytes is the longest request or response head kept.
	MaxHeadBytes int
	// MaxOutOfOrderBytes and MaxOutOfOrderSegments bound what one direction
	// holds past a hole.
	MaxOutOfOrderBytes    int
	MaxOutOfOrderSegments int
	// MaxBufferedBytes bounds the bytes held by all connections together.
	MaxBufferedBytes int
	// MaxPending is how many requests of one connection await an answer.
	MaxPending int
	// ResponseTimeout: a request unanswered this long is emitted with status 0.
	ResponseTimeout time.Duration
	// IdleTimeout: a connection silent this long is forgotten.
	IdleTimeout time.Duration
	// CloseGrace is how long a closed connection is kept, so the copy of its
	// last segments on the second interface is recognised, not taken as new.
	CloseGrace time.Duration
}

// DefaultLimits: 64 KiB heads, 1,024 connections, 32 MiB in all.
var DefaultLimits = Limits{
	MaxConns: 1024, MaxHeadBytes: 64 << 10, MaxOutOfOrderBytes: 256 << 10, MaxOutOfOrderSegments: 64,
	MaxBufferedBytes: 32 << 20, MaxPending: 32,
	ResponseTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute, CloseGrace: 2 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pickD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.MaxConns, d.MaxConns)
	pick(&l.MaxHeadBytes, d.MaxHeadBytes)
	pick(&l.MaxOutOfOrderBytes, d.MaxOutOfOrderBytes)
	pick(&l.MaxOutOfOrderSegments, d.MaxOutOfOrderSegments)
	pick(&l.MaxBufferedBytes, d.MaxBufferedBytes)
	pick(&l.MaxPending, d.MaxPending)
	pickD(&l.ResponseTimeout, d.ResponseTimeout)
	pickD(&l.IdleTimeout, d.IdleTimeout)
	pickD(&l.CloseGrace, d.CloseGrace)
	return l
}

// maxLineBytes bounds a chunk-size or trailer line.
const maxLineBytes = 4096

// connKey names one view of a connection: its client end and the server
// address as seen on one interface. A call through a Service shows the
// ClusterIP on the caller's veth and the pod IP (after DNAT) on the
// runner's: two keys, one conn, joined by their sequence numbers (alias).
// Keying by the client end alone merged two connections that share a client
// port towards two servers, which Linux allows (the kubelet probing two
// runners): one's segments were then taken for the other's duplicates.
type connKey struct {
	client netip.AddrPort
	server netip.AddrPort
}

// aliasWindow is how far (bytes) a segment's sequence number may lie from a
// connection's to be the other interface's copy of it. The copies are
// microseconds apart; an unrelated connection's random sequence numbers
// fall inside with a chance of 2^-11.
const aliasWindow = 1 << 20

type conn struct {
	key connKey
	// keys are every view (key first); all of them lead to this conn.
	keys      []connKey
	serverIPs []netip.Addr
	req, resp stream
	pending   []*Request
	lastSeen  time.Time
	closedAt  time.Time
	// clientISN is the client's SYN sequence number: another SYN from the
	// same port is a new connection.
	clientISN uint32
	hasISN    bool
}

type streamState int

const (
	stHead streamState = iota
	stBody
	stChunkSize
	stTrailer
	stOpaque // an upgraded or close-delimited rest: not HTTP any more
)

type oooSegment struct {
	seq  uint32
	data []byte
	t    time.Time
}

// stream is one direction of a connection.
type stream struct {
	synced    bool
	next      uint32
	ooo       []oooSegment
	oooBytes  int
	buf       []byte
	headTime  time.Time
	state     streamState
	remaining int64
	after     streamState // the state once a body of stBody is consumed
}

// Assembler reassembles the TCP streams to and from one port and emits every
// HTTP/1.1 request it sees, with its answer's status. Not safe for
// concurrent use: the capture loop owns it.
type Assembler struct {
	port     uint16
	lim      Limits
	emit     func(Request)
	conns    map[connKey]*conn
	live     map[*conn]struct{}
	byClient map[netip.AddrPort][]*conn
	buffered int
	stats    Stats
}

// NewAssembler returns an assembler for the server port that hands each
// finished request to emit.
func NewAssembler(port uint16, lim Limits, emit func(Request)) *Assembler {
	return &Assembler{port: port, lim: lim.withDefaults(), emit: emit, conns: map[connKey]*conn{},
		live: map[*conn]struct{}{}, byClient: map[netip.AddrPort][]*conn{}}
}

// Stats returns the counters so far (Kind and Time set by the caller).
func (a *Assembler) Stats() Stats {
	s := a.stats
	s.Conns = len(a.live)
	s.BufferedBytes = a.buffered
	return s
}

// CountMalformed counts a frame that did not decode.
func (a *Assembler) CountMalformed() { a.stats.Drops.Malformed++ }

// Add feeds one segment seen at t. Segments of other ports are ignored.
func (a *Assembler) Add(seg Segment, t time.Time) {
	var client netip.AddrPort
	var server netip.Addr
	toServer := seg.Dst.Port() == a.port
	switch {
	case toServer:
		client, server = seg.Src, seg.Dst.Addr()
	case seg.Src.Port() == a.port:
		client, server = seg.Dst, seg.Src.Addr()
	default:
		return
	}
	a.stats.Segments++
	a.stats.PayloadBytes += uint64(len(seg.Payload))
	client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
	key := connKey{client: client, server: netip.AddrPortFrom(server.Unmap(), a.port)}
	c := a.conns[key]
	if c != nil && seg.SYN() && toServer && c.hasISN && seg.Seq != c.clientISN {
		// The client port was reused for a new connection.
		a.drop(c, "closed")
		c = nil
	}
	if c == nil {
		if c = a.aliasOf(client, seg, toServer); c != nil {
			c.keys = append(c.keys, key)
			a.conns[key] = c
		}
	}
	if c == nil {
		plausible := len(seg.Payload) > 0 && ((toServer && looksLikeRequest(seg.Payload)) || (!toServer && looksLikeResponse(seg.Payload)))
		if !seg.SYN() && !plausible {
			if len(seg.Payload) > 0 {
				a.stats.Drops.Midstream++
			}
			return
		}
		if len(a.live) >= a.lim.MaxConns {
			a.stats.Drops.ConnLimit++
			return
		}
		c = &conn{key: key, keys: []connKey{key}}
		a.conns[key] = c
		a.live[c] = struct{}{}
		a.byClient[client] = append(a.byClient[client], c)
		a.stats.ConnsTotal++
	}
	c.lastSeen = t
	server = server.Unmap()
	known := false
	for _, ip := range c.serverIPs {
		known = known || ip == server
	}
	if !known && len(c.serverIPs) < 4 {
		c.serverIPs = append(c.serverIPs, server)
	}
	s := &c.resp
	if toServer {
		s = &c.req
	}
	if seg.SYN() && toServer && !c.hasISN {
		c.hasISN, c.clientISN = true, seg.Seq
	}
	if seg.SYN() {
		if !s.synced {
			s.synced, s.next = true, seg.Seq+1
		} else if seg.Seq+1 == s.next {
			a.stats.Duplicates++
		}
		seg.Seq++
	}
	if len(seg.Payload) > 0 {
		a.addData(c, s, toServer, seg.Seq, seg.Payload, t)
	}
	if (seg.FIN() || seg.RST()) && c.closedAt.IsZero() {
		c.closedAt = t
	}
}

// aliasOf finds the connection a segment with an unseen server address
// belongs to: one of the same client end whose sequence numbers it
// continues (the other interface's copy of a call through a Service), or
// nil (a connection of its own).
func (a *Assembler) aliasOf(client netip.AddrPort, seg Segment, toServer bool) *conn {
	near := func(x, y uint32) bool { d := int32(x - y); return d > -aliasWindow && d < aliasWindow }
	for _, c := range a.byClient[client] {
		if len(c.serverIPs) >= 4 {
			continue
		}
		switch {
		case toServer && seg.SYN():
			if c.hasISN && seg.Seq == c.clientISN {
				return c
			}
		case toServer:
			if c.req.synced && near(seg.Seq, c.req.next) {
				return c
			}
		case seg.SYN():
			// The server's SYN acknowledges the client's.
			if c.hasISN && seg.ACK() && seg.Ack == c.clientISN+1 {
				return c
			}
		default:
			if (c.resp.synced && near(seg.Seq, c.resp.next)) || (c.req.synced && seg.ACK() && near(seg.Ack, c.req.next)) {
				return c
			}
		}
	}
	return nil
}

// addData places payload at seq in s.
func (a *Assembler) addData(c *conn, s *stream, toServer bool, seq uint32, payload []byte, t time.Time) {
	if !s.synced {
		if (toServer && !looksLikeRequest(payload)) || (!toServer && !looksLikeResponse(payload)) {
			a.stats.Drops.Midstream++
			return
		}
		s.synced, s.next, s.state = true, seq, stHead
	}
	diff := int32(seq - s.next)
	if diff < 0 {
		if int(-diff) >= len(payload) {
			a.stats.Duplicates++
			return
		}
		payload = payload[-diff:]
		diff = 0
	}
	if diff > 0 {
		a.holdOutOfOrder(c, s, toServer, seq, payload, t)
		return
	}
	a.consume(c, s, toServer, payload, t)
	s.next += uint32(len(payload))
	a.drainOutOfOrder(c, s, toServer)
}

func (a *Assembler) holdOutOfOrder(c *conn, s *stream, toServer bool, seq uint32, payload []byte, t time.Time) {
	for _, o := range s.ooo {
		if o.seq == seq && len(o.data) >= len(payload) {
			a.stats.Duplicates++
			return
		}
	}
	if len(s.ooo) >= a.lim.MaxOutOfOrderSegments || s.oooBytes+len(payload) > a.lim.MaxOutOfOrderBytes ||
		a.buffered+len(payload) > a.lim.MaxBufferedBytes {
		// The hole will not be filled in time: give the stream up until its
		// next head.
		a.stats.Drops.OutOfOrder++
		a.resync(s)
		return
	}
	s.ooo = append(s.ooo, oooSegment{seq: seq, data: bytes.Clone(payload), t: t})
	s.oooBytes += len(payload)
	a.buffered += len(payload)
}

func (a *Assembler) drainOutOfOrder(c *conn, s *stream, toServer bool) {
	for len(s.ooo) > 0 {
		sort.Slice(s.ooo, func(i, j int) bool { return int32(s.ooo[i].seq-s.ooo[j].seq) < 0 })
		o := s.ooo[0]
		diff := int32(o.seq - s.next)
		if diff > 0 {
			return // still a hole
		}
		s.ooo = s.ooo[1:]
		s.oooBytes -= len(o.data)
		a.buffered -= len(o.data)
		if int(-diff) >= len(o.data) {
			a.stats.Duplicates++
			continue
		}
		data := o.data[-diff:]
		a.consume(c, s, toServer, data, o.t)
		if !s.synced {
			return // consume gave the stream up
		}
		s.next += uint32(len(data))
	}
}

// resync forgets a direction's buffered data: it is picked up again at the
// next segment that starts a head.
func (a *Assembler) resync(s *stream) {
	a.buffered -= len(s.buf) + s.oooBytes
	*s = stream{}
}

// consume runs in-order bytes through the direction's HTTP state machine.
func (a *Assembler) consume(c *conn, s *stream, toServer bool, data []byte, t time.Time) {
	if s.state == stOpaque {
		return
	}
	if s.state == stBody && len(s.buf) == 0 {
		// The common case of a body: skip it without buffering.
		n := int(min(s.remaining, int64(len(data))))
		s.remaining -= int64(n)
		data = data[n:]
		if s.remaining == 0 {
			s.state = s.after
		}
		if len(data) == 0 {
			return
		}
	}
	if a.buffered+len(data) > a.lim.MaxBufferedBytes {
		a.stats.Drops.BufferLimit++
		a.resync(s)
		return
	}
	if len(s.buf) == 0 {
		s.headTime = t
	}
	s.buf = append(s.buf, data...)
	a.buffered += len(data)
	before := len(s.buf)
	ok := a.run(c, s, toServer, t)
	a.buffered -= before - len(s.buf)
	if !ok {
		a.resync(s)
		return
	}
	if len(s.buf) == 0 {
		s.buf = nil
	} else if cap(s.buf) > 4*len(s.buf) && cap(s.buf) > 4096 {
		s.buf = bytes.Clone(s.buf)
	}
}

// run parses what s.buf holds; false: the stream is lost until its next head.
func (a *Assembler) run(c *conn, s *stream, toServer bool, t time.Time) bool {
	for len(s.buf) > 0 {
		switch s.state {
		case stOpaque:
			s.buf = s.buf[:0]
		case stBody:
			n := int(min(s.remaining, int64(len(s.buf))))
			s.remaining -= int64(n)
			s.buf = s.buf[n:]
			if s.remaining == 0 {
				s.state = s.after
			}
		case stHead:
			for len(s.buf) >= 2 && s.buf[0] == '\r' && s.buf[1] == '\n' {
				s.buf = s.buf[2:] // CRLF between messages
			}
			if len(s.buf) == 0 {
				return true
			}
			i := bytes.Index(s.buf, []byte("\r\n\r\n"))
			if i < 0 || i > a.lim.MaxHeadBytes {
				if i > a.lim.MaxHeadBytes || len(s.buf) > a.lim.MaxHeadBytes {
					a.stats.Drops.HeadTooLarge++
					return false
				}
				return true
			}
			head := s.buf[:i]
			s.buf = s.buf[i+4:]
			if !a.head(c, s, toServer, head) {
				a.stats.Drops.BadHead++
				return false
			}
			s.headTime = t
		case stChunkSize, stTrailer:
			i := bytes.Index(s.buf, []byte("\r\n"))
			if i < 0 {
				return len(s.buf) <= maxLineBytes
			}
			line := string(s.buf[:i])
			s.buf = s.buf[i+2:]
			if s.state == stTrailer {
				if line == "" {
					s.state = stHead
				}
				continue
			}
			sizeText, _, _ := strings.Cut(line, ";")
			size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
			if err != nil || size < 0 {
				a.stats.Drops.BadHead++
				return false
			}
			if size == 0 {
				s.state = stTrailer
			} else {
				s.state, s.remaining, s.after = stBody, size+2, stChunkSize // data and its CRLF
			}
		}
	}
	return true
}

// head handles one complete head and sets how its body is skipped.
func (a *Assembler) head(c *conn, s *stream, toServer bool, head []byte) bool {
	var kind bodyKind
	var length int64
	if toServer {
		rh, err := parseRequestHead(head)
		if err != nil {
			return false
		}
		a.stats.Requests++
		if len(c.pending) >= a.lim.MaxPending {
			a.stats.Drops.PendingLimit++
			a.emitFirst(c, "pending-limit")
		}
		r := &Request{Kind: KindRequest, Time: s.headTime, Src: c.key.client.String(),
			Method: rh.method, Path: rh.path, HeaderNames: rh.headerNames, TokenHeaders: rh.tokens}
		if r.HeaderNames == nil {
			r.HeaderNames = []string{}
		}
		c.pending = append(c.pending, r)
		kind, length = rh.body, rh.length
		if rh.upgrade {
			kind = bodyUntilClose // a websocket's frames follow (or the server refuses and closes)
		}
	} else {
		method := ""
		if len(c.pending) > 0 {
			method = c.pending[0].Method
		}
		rh, err := parseResponseHead(head, method)
		if err != nil {
			return false
		}
		if rh.status >= 200 || rh.status == 101 {
			if len(c.pending) == 0 {
				a.stats.OrphanResponses++
			} else {
				r := c.pending[0]
				c.pending = c.pending[1:]
				r.Status = rh.status
				at := s.headTime
				r.ResponseTime = &at
				a.stats.Responses++
				a.send(c, r)
			}
		}
		kind, length = rh.body, rh.length
	}
	switch kind {
	case bodyNone:
		s.state = stHead
	case bodyLength:
		s.state, s.remaining, s.after = stBody, length, stHead
	case bodyChunked:
		s.state = stChunkSize
	case bodyUntilClose:
		s.state = stOpaque
	}
	return true
}

// send completes r with the connection's addresses and emits it.
func (a *Assembler) send(c *conn, r *Request) {
	r.ServerIPs = make([]string, len(c.serverIPs))
	for i, ip := range c.serverIPs {
		r.ServerIPs[i] = ip.String()
	}
	r.Dst = c.key.server.String()
	if r.Status == 0 {
		a.stats.Unanswered++
	}
	a.emit(*r)
}

func (a *Assembler) emitFirst(c *conn, why string) {
	r := c.pending[0]
	c.pending = c.pending[1:]
	r.Ended = why
	a.send(c, r)
}

// drop emits a connection's waiting requests and forgets it.
func (a *Assembler) drop(c *conn, why string) {
	for len(c.pending) > 0 {
		a.emitFirst(c, why)
	}
	a.resync(&c.req)
	a.resync(&c.resp)
	for _, k := range c.keys {
		if a.conns[k] == c {
			delete(a.conns, k)
		}
	}
	delete(a.live, c)
	rest := a.byClient[c.key.client][:0]
	for _, o := range a.byClient[c.key.client] {
		if o != c {
			rest = append(rest, o)
		}
	}
	if len(rest) == 0 {
		delete(a.byClient, c.key.client)
	} else {
		a.byClient[c.key.client] = rest
	}
}

// Flush emits requests that waited ResponseTimeout and forgets connections
// closed CloseGrace ago or idle IdleTimeout. Call it about once a second.
func (a *Assembler) Flush(now time.Time) {
	for c := range a.live {
		switch {
		case !c.closedAt.IsZero() && now.Sub(c.closedAt) >= a.lim.CloseGrace:
			a.drop(c, "closed")
		case now.Sub(c.lastSeen) >= a.lim.IdleTimeout:
			a.drop(c, "idle")
		default:
			for len(c.pending) > 0 && now.Sub(c.pending[0].Time) >= a.lim.ResponseTimeout {
				a.emitFirst(c, "timeout")
			}
		}
	}
}

// Close emits every waiting request (the witness is stopping).
func (a *Assembler) Close() {
	for c := range a.live {
		a.drop(c, "shutdown")
	}
}
