package wire

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// FuzzAssembler feeds arbitrary segments (and frames) and checks that
// nothing panics and the memory bounds hold: what the assembler holds never
// passes its budget and is all released once it closes.
func FuzzAssembler(f *testing.F) {
	seg := func(dir, flags byte, seq uint16, payload string) []byte {
		b := []byte{dir, flags}
		b = binary.BigEndian.AppendUint16(b, seq)
		return append(append(b, byte(len(payload))), payload...)
	}
	f.Add(append(append(seg(0, flagSYN, 0, ""), seg(1, flagSYN, 0, "")...),
		append(seg(0, 0, 1, "GET / HTTP/1.1\r\nAuthorization: x\r\n\r\n"), seg(1, 0, 1, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")...)...))
	f.Add(append(seg(0, 0, 40, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), seg(0, 0, 10, "ffff\r\n")...))
	f.Add(seg(1, flagRST, 3, "HTTP/1.1 101 x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeEthernet(data)
		lim := Limits{MaxConns: 4, MaxHeadBytes: 128, MaxOutOfOrderBytes: 256, MaxOutOfOrderSegments: 4, MaxBufferedBytes: 512, MaxPending: 3}
		a := NewAssembler(8001, lim, func(r Request) {
			if r.Method == "" || r.HeaderNames == nil {
				t.Fatalf("emitted a request without method or names: %+v", r)
			}
		})
		client := netip.MustParseAddrPort("10.0.0.1:5000")
		server := netip.MustParseAddrPort("10.0.0.2:8001")
		now := t0
		for len(data) >= 5 {
			dir, flags, seq, n := data[0], data[1], binary.BigEndian.Uint16(data[2:4]), int(data[4])
			data = data[5:]
			n = min(n, len(data))
			s := Segment{Src: client, Dst: server, Seq: uint32(seq), Flags: flags, Payload: data[:n]}
			if dir&1 == 1 {
				s.Src, s.Dst = server, client
			}
			if dir&2 == 2 {
				s.Src = netip.AddrPortFrom(client.Addr(), 5000+uint16(dir>>2))
			}
			data = data[n:]
			now = now.Add(time.Duration(dir) * 100 * time.Millisecond)
			a.Add(s, now)
			a.Flush(now)
			if st := a.Stats(); st.BufferedBytes < 0 || st.BufferedBytes > lim.MaxBufferedBytes || st.Conns > lim.MaxConns {
				t.Fatalf("bounds broken: %+v", st)
			}
		}
		a.Close()
		if st := a.Stats(); st.BufferedBytes != 0 || st.Conns != 0 {
			t.Fatalf("after Close: %d bytes held, %d connections", st.BufferedBytes, st.Conns)
		}
	})
}
