package wire

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// TCP flags the assembler reads.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// Segment is one TCP segment decoded from a link-layer frame. Payload aliases
// the frame's buffer: the assembler copies what it keeps.
type Segment struct {
	Src, Dst netip.AddrPort
	Seq      uint32
	// Ack is the acknowledgment number (meaningful with the ACK flag).
	Ack     uint32
	Flags   uint8
	Payload []byte
}

// SYN, FIN and RST report the segment's flags.
func (s Segment) SYN() bool { return s.Flags&flagSYN != 0 }
func (s Segment) FIN() bool { return s.Flags&flagFIN != 0 }
func (s Segment) RST() bool { return s.Flags&flagRST != 0 }
func (s Segment) ACK() bool { return s.Flags&flagACK != 0 }

// ErrNotTCP is returned for frames that are valid but carry no TCP segment
// (ARP, UDP, IP fragments after the first): skipped, not counted as malformed.
var ErrNotTCP = errors.New("not a TCP segment")

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
	protoTCP      = 6
)

// DecodeEthernet decodes an Ethernet II frame (what an AF_PACKET SOCK_RAW
// socket reads on veth, bridge and loopback devices) down to its TCP segment.
// One or two VLAN tags are skipped.
func DecodeEthernet(frame []byte) (Segment, error) {
	if len(frame) < 14 {
		return Segment{}, errors.New("ethernet frame shorter than its 14-byte header")
	}
	et := binary.BigEndian.Uint16(frame[12:14])
	off := 14
	for i := 0; i < 2 && (et == etherTypeVLAN || et == etherTypeQinQ); i++ {
		if len(frame) < off+4 {
			return Segment{}, errors.New("truncated VLAN tag")
		}
		et = binary.BigEndian.Uint16(frame[off+2 : off+4])
		off += 4
	}
	return decodeIP(et, frame[off:])
}

func decodeIP(etherType uint16, p []byte) (Segment, error) {
	switch etherType {
	case etherTypeIPv4:
		return decodeIPv4(p)
	case etherTypeIPv6:
		return decodeIPv6(p)
	}
	return Segment{}, ErrNotTCP
}

func decodeIPv4(p []byte) (Segment, error) {
	if len(p) < 20 || p[0]>>4 != 4 {
		return Segment{}, errors.New("malformed IPv4 header")
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if ihl < 20 || total < ihl || len(p) < ihl {
		return Segment{}, errors.New("malformed IPv4 header lengths")
	}
	if p[9] != protoTCP {
		return Segment{}, ErrNotTCP
	}
	if binary.BigEndian.Uint16(p[6:8])&0x1fff != 0 {
		return Segment{}, ErrNotTCP // a later fragment: no TCP header in it
	}
	// Ethernet pads short frames; the IP total length says where the packet
	// ends. A GSO frame may say 0 (its length is the buffer's).
	end := len(p)
	if total > 0 && total < end {
		end = total
	}
	src, _ := netip.AddrFromSlice(p[12:16])
	dst, _ := netip.AddrFromSlice(p[16:20])
	return decodeTCP(src, dst, p[ihl:end])
}

func decodeIPv6(p []byte) (Segment, error) {
	if len(p) < 40 || p[0]>>4 != 6 {
		return Segment{}, errors.New("malformed IPv6 header")
	}
	// Extension headers are not followed: pod traffic on kind carries none.
	if p[6] != protoTCP {
		return Segment{}, ErrNotTCP
	}
	end := len(p)
	if pl := int(binary.BigEndian.Uint16(p[4:6])); pl > 0 && 40+pl < end {
		end = 40 + pl
	}
	src, _ := netip.AddrFromSlice(p[8:24])
	dst, _ := netip.AddrFromSlice(p[24:40])
	return decodeTCP(src, dst, p[40:end])
}

func decodeTCP(src, dst netip.Addr, p []byte) (Segment, error) {
	if len(p) < 20 {
		return Segment{}, errors.New("truncated TCP header")
	}
	doff := int(p[12]>>4) * 4
	if doff < 20 || doff > len(p) {
		return Segment{}, errors.New("malformed TCP data offset")
	}
	return Segment{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(p[0:2])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[2:4])),
		Seq:     binary.BigEndian.Uint32(p[4:8]),
		Ack:     binary.BigEndian.Uint32(p[8:12]),
		Flags:   p[13],
		Payload: p[doff:],
	}, nil
}
