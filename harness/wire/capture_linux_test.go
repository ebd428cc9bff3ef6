//go:build linux

package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// syncBuffer is the capture's stdout, read while it writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The real socket on loopback: every frame is seen twice there (outgoing and
// incoming), like a pod-to-pod hop, and each request must come out once.
func TestCaptureLoopback(t *testing.T) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)})
		unix.Close(fd)
	}
	if err != nil {
		t.Skipf("no AF_PACKET socket here (%v): the capture needs CAP_NET_RAW", err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	var served sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer served.Done()
		if r.Header.Get(SessionTokenHeader) != secretToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "ok")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Capture(ctx, CaptureInput{Port: uint16(port), Out: out, StatsEvery: time.Hour}) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), `"kind":"ready"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no ready line: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	const n = 20
	served.Add(n)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for i := range n {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/workflow?i=%d", port, i), strings.NewReader(`{"x":1}`))
		if i%2 == 0 {
			req.Header.Set(SessionTokenHeader, secretToken)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	served.Wait()
	time.Sleep(300 * time.Millisecond) // the last response's frames reach the socket
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var reqs []Request
	var last *Stats
	err = Lines(strings.NewReader(out.String()), func(b []byte) error {
		l, err := DecodeLine(b)
		switch {
		case err != nil:
			return err
		case l.Request != nil:
			reqs = append(reqs, *l.Request)
		case l.Stats != nil:
			last = l.Stats
		case l.Error != nil:
			return errors.New(l.Error.Message)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), secretToken) {
		t.Fatal("the token's value is in the capture's output")
	}
	if len(reqs) != n || last == nil {
		t.Fatalf("%d requests captured, want %d (stats %+v)", len(reqs), n, last)
	}
	for i, r := range reqs {
		want := 401
		if i%2 == 0 {
			want = 200
			if len(r.TokenHeaders) != 1 || r.TokenHeaders[0].Fingerprint != secrets.Fingerprint(secretToken) {
				t.Errorf("request %d: token headers %+v", i, r.TokenHeaders)
			}
		}
		if r.Status != want || r.Path != "/workflow" || r.Method != "POST" {
			t.Errorf("request %d: %s %s %d, want POST /workflow %d", i, r.Method, r.Path, r.Status, want)
		}
	}
	if last.Duplicates == 0 || last.Requests != n || last.Responses != n {
		t.Errorf("stats %+v: want loopback's second copies counted as duplicates, %d requests and responses", last, n)
	}
	t.Logf("stats: packets %d, segments %d, duplicates %d, drops %d, cpu %.3fs, max rss %d KiB",
		last.Packets, last.Segments, last.Duplicates, last.Drops.Total(), last.CPUSeconds, last.MaxRSSBytes/1024)
}
