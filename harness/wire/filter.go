package wire

import "golang.org/x/net/bpf"

// PortFilter is the classic BPF program attached to the capture socket: it
// keeps Ethernet frames carrying TCP (IPv4 first fragments, or IPv6 without
// extension headers) to or from port, and lets the kernel drop everything
// else before it is copied to the witness.
func PortFilter(port uint16) ([]bpf.RawInstruction, error) {
	p := uint32(port)
	const accept, reject = 0x40000, 0
	prog := []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv4, SkipFalse: 9},
		// IPv4: protocol TCP, not a later fragment, then the ports after a
		// header of IHL words.
		/* 2 */ bpf.LoadAbsolute{Off: 23, Size: 1},
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoTCP, SkipFalse: 15},
		/* 4 */ bpf.LoadAbsolute{Off: 20, Size: 2},
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 13},
		/* 6 */ bpf.LoadMemShift{Off: 14},
		/* 7 */ bpf.LoadIndirect{Off: 14, Size: 2},
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: p, SkipTrue: 9},
		/* 9 */ bpf.LoadIndirect{Off: 16, Size: 2},
		/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: p, SkipTrue: 7, SkipFalse: 8},
		// IPv6: next header TCP right after the fixed header.
		/* 11 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv6, SkipFalse: 7},
		/* 12 */ bpf.LoadAbsolute{Off: 20, Size: 1},
		/* 13 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoTCP, SkipFalse: 5},
		/* 14 */ bpf.LoadAbsolute{Off: 54, Size: 2},
		/* 15 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: p, SkipTrue: 2},
		/* 16 */ bpf.LoadAbsolute{Off: 56, Size: 2},
		/* 17 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: p, SkipFalse: 1},
		/* 18 */ bpf.RetConstant{Val: accept},
		/* 19 */ bpf.RetConstant{Val: reject},
	}
	return bpf.Assemble(prog)
}
