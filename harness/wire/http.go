package wire

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// methods are the HTTP/1.1 request methods a request head may begin with.
var methods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"}

// looksLikeRequest reports whether b could be the start of a request head:
// a stream first seen in the middle (no SYN) is picked up only there.
func looksLikeRequest(b []byte) bool {
	for _, m := range methods {
		if len(b) > len(m) && string(b[:len(m)]) == m && b[len(m)] == ' ' {
			return true
		}
	}
	return false
}

// looksLikeResponse reports whether b could be the start of a response head.
func looksLikeResponse(b []byte) bool { return bytes.HasPrefix(b, []byte("HTTP/1.")) }

// bodyKind is how a message's body is delimited (RFC 9112 §6.3).
type bodyKind int

const (
	bodyNone   bodyKind = iota
	bodyLength          // Content-Length bytes
	bodyChunked
	bodyUntilClose // the rest of the connection (a close-delimited response, an upgrade)
)

// requestHead is what the witness keeps of a request head.
type requestHead struct {
	method, path string
	headerNames  []string
	tokens       []TokenHeader
	body         bodyKind
	length       int64
	upgrade      bool
}

// responseHead is what the witness keeps of a response head.
type responseHead struct {
	status int
	body   bodyKind
	length int64
}

// parseRequestHead parses a request head (without the final blank line's
// CRLF CRLF). Token-like values are fingerprinted here and never leave.
func parseRequestHead(head []byte) (requestHead, error) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	parts := strings.Split(string(line), " ")
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") || !looksLikeRequest(line) {
		return requestHead{}, errors.New("malformed request line")
	}
	rh := requestHead{method: parts[0], path: parts[1]}
	// The query may carry a token (websocket clients): only the path is kept.
	if i := strings.IndexByte(rh.path, '?'); i >= 0 {
		rh.path = rh.path[:i]
	}
	err := eachHeader(rest, func(name, value string) {
		rh.headerNames = append(rh.headerNames, name)
		if IsTokenLike(name) {
			rh.tokens = append(rh.tokens, fingerprintHeader(name, value))
		}
		switch strings.ToLower(name) {
		case "content-length":
			if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil && n >= 0 && rh.body != bodyChunked {
				rh.body, rh.length = bodyLength, n
			}
		case "transfer-encoding":
			if strings.Contains(strings.ToLower(value), "chunked") {
				rh.body, rh.length = bodyChunked, 0
			}
		case "upgrade":
			rh.upgrade = true
		}
	})
	if err != nil {
		return requestHead{}, err
	}
	if rh.body == bodyLength && rh.length == 0 {
		rh.body = bodyNone
	}
	return rh, nil
}

// parseResponseHead parses a response head; method is the request's (a HEAD
// response has no body).
func parseResponseHead(head []byte, method string) (responseHead, error) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !looksLikeResponse(line) || len(line) < 12 || line[8] != ' ' {
		return responseHead{}, errors.New("malformed status line")
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 || code > 999 {
		return responseHead{}, errors.New("malformed status code")
	}
	rh := responseHead{status: code, body: bodyUntilClose}
	err = eachHeader(rest, func(name, value string) {
		switch strings.ToLower(name) {
		case "content-length":
			if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil && n >= 0 && rh.body != bodyChunked {
				rh.body, rh.length = bodyLength, n
			}
		case "transfer-encoding":
			if strings.Contains(strings.ToLower(value), "chunked") {
				rh.body, rh.length = bodyChunked, 0
			}
		}
	})
	if err != nil {
		return responseHead{}, err
	}
	switch {
	case code == 101:
		rh.body = bodyUntilClose // the connection is no longer HTTP
	case code < 200 || code == 204 || code == 304 || method == "HEAD":
		rh.body = bodyNone
	case rh.body == bodyLength && rh.length == 0:
		rh.body = bodyNone
	}
	return rh, nil
}

// eachHeader calls fn for every "Name: value" line of a head's header block.
func eachHeader(block []byte, fn func(name, value string)) error {
	for len(block) > 0 {
		var line []byte
		line, block, _ = bytes.Cut(block, []byte("\r\n"))
		if len(line) == 0 {
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return errors.New("malformed header line")
		}
		fn(string(name), string(value))
	}
	return nil
}
