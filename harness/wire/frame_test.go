package wire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// tcpFrame builds an Ethernet II / IPv4 (or IPv6) / TCP frame as a veth
// would carry it.
type tcpFrame struct {
	src, dst netip.AddrPort
	seq      uint32
	ack      uint32
	flags    uint8
	payload  []byte
	vlan     bool
	pad      int // Ethernet padding after the IP packet
	fragOff  uint16
}

func (f tcpFrame) bytes() []byte {
	tcp := make([]byte, 20, 20+len(f.payload))
	binary.BigEndian.PutUint16(tcp[0:], f.src.Port())
	binary.BigEndian.PutUint16(tcp[2:], f.dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], f.seq)
	binary.BigEndian.PutUint32(tcp[8:], f.ack)
	tcp[12] = 5 << 4
	tcp[13] = f.flags | 0x10 // ACK, as on every segment but the first
	tcp = append(tcp, f.payload...)
	var ip []byte
	var et uint16
	if f.src.Addr().Is4() {
		et = etherTypeIPv4
		ip = make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
		binary.BigEndian.PutUint16(ip[6:], f.fragOff)
		ip[8], ip[9] = 64, protoTCP
		s, d := f.src.Addr().As4(), f.dst.Addr().As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
	} else {
		et = etherTypeIPv6
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)))
		ip[6], ip[7] = protoTCP, 64
		s, d := f.src.Addr().As16(), f.dst.Addr().As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	}
	eth := make([]byte, 12, 18)
	if f.vlan {
		eth = binary.BigEndian.AppendUint16(eth, etherTypeVLAN)
		eth = binary.BigEndian.AppendUint16(eth, 42)
	}
	eth = binary.BigEndian.AppendUint16(eth, et)
	out := append(append(eth, ip...), tcp...)
	return append(out, make([]byte, f.pad)...)
}

var (
	backendAddr = netip.MustParseAddrPort("10.244.0.5:41234")
	runnerAddr  = netip.MustParseAddrPort("10.244.0.9:8001")
	serviceAddr = netip.MustParseAddrPort("10.96.14.7:8001")
)

func TestDecodeEthernetIPv4TCP(t *testing.T) {
	f := tcpFrame{src: backendAddr, dst: runnerAddr, seq: 1000, flags: flagFIN, payload: []byte("GET / HTTP/1.1\r\n\r\n"), pad: 6}
	seg, err := DecodeEthernet(f.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if seg.Src != backendAddr || seg.Dst != runnerAddr || seg.Seq != 1000 || !seg.FIN() || seg.SYN() {
		t.Errorf("decoded %+v", seg)
	}
	if string(seg.Payload) != "GET / HTTP/1.1\r\n\r\n" {
		t.Errorf("payload %q: the Ethernet padding must be cut at the IP total length", seg.Payload)
	}
}

func TestDecodeEthernetVLANAndIPv6(t *testing.T) {
	v4 := tcpFrame{src: backendAddr, dst: runnerAddr, seq: 7, payload: []byte("x"), vlan: true}
	if seg, err := DecodeEthernet(v4.bytes()); err != nil || seg.Dst != runnerAddr {
		t.Errorf("VLAN-tagged frame: %+v, %v", seg, err)
	}
	src := netip.MustParseAddrPort("[fd00:10:244::5]:40000")
	dst := netip.MustParseAddrPort("[fd00:10:244::9]:8001")
	v6 := tcpFrame{src: src, dst: dst, seq: 9, payload: []byte("GET")}
	seg, err := DecodeEthernet(v6.bytes())
	if err != nil || seg.Src != src || seg.Dst != dst || string(seg.Payload) != "GET" {
		t.Errorf("IPv6 frame: %+v, %v", seg, err)
	}
}

func TestDecodeEthernetRefusesWhatIsNotTCP(t *testing.T) {
	frag := tcpFrame{src: backendAddr, dst: runnerAddr, fragOff: 100}
	if _, err := DecodeEthernet(frag.bytes()); !errors.Is(err, ErrNotTCP) {
		t.Errorf("later fragment: %v, want ErrNotTCP", err)
	}
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	if _, err := DecodeEthernet(arp); !errors.Is(err, ErrNotTCP) {
		t.Errorf("ARP: %v, want ErrNotTCP", err)
	}
	good := tcpFrame{src: backendAddr, dst: runnerAddr}.bytes()
	for _, n := range []int{0, 13, 14 + 19, 14 + 20 + 19} {
		if _, err := DecodeEthernet(good[:n]); err == nil || errors.Is(err, ErrNotTCP) {
			t.Errorf("frame cut at %d bytes: %v, want a malformed error", n, err)
		}
	}
}

func TestPortFilterKeepsOnlyThePort(t *testing.T) {
	raw, err := PortFilter(8001)
	if err != nil {
		t.Fatal(err)
	}
	prog := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		prog[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddrPort("10.244.0.3:6443")
	v6src := netip.MustParseAddrPort("[fd00::5]:40000")
	for _, tc := range []struct {
		name string
		f    tcpFrame
		keep bool
	}{
		{"to the port", tcpFrame{src: backendAddr, dst: runnerAddr}, true},
		{"from the port", tcpFrame{src: runnerAddr, dst: backendAddr}, true},
		{"VIP before DNAT", tcpFrame{src: backendAddr, dst: serviceAddr}, true},
		{"other port", tcpFrame{src: backendAddr, dst: other}, false},
		{"later fragment", tcpFrame{src: backendAddr, dst: runnerAddr, fragOff: 10}, false},
		{"IPv6 to the port", tcpFrame{src: v6src, dst: netip.MustParseAddrPort("[fd00::9]:8001")}, true},
		{"IPv6 other port", tcpFrame{src: v6src, dst: netip.MustParseAddrPort("[fd00::9]:443")}, false},
	} {
		n, err := vm.Run(tc.f.bytes())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (n > 0) != tc.keep {
			t.Errorf("%s: filter returned %d, want keep=%v", tc.name, n, tc.keep)
		}
	}
}
