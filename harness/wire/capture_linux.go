//go:build linux

package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// readBufferBytes is larger than any frame a veth hands over, GSO
// super-frames (64 KiB plus headers) included.
const readBufferBytes = 256 << 10

// Capture opens an AF_PACKET socket on every interface of the current
// network namespace (the node's, for a hostNetwork pod), keeps TCP to and
// from in.Port with a kernel filter, and writes a ready line, one line per
// request and periodic stats to in.Out until ctx ends; then it emits every
// waiting request and a last stats line. Needs CAP_NET_RAW.
func Capture(ctx context.Context, in CaptureInput) error {
	in = in.withDefaults()
	prog, err := PortFilter(in.Port)
	if err != nil {
		return fmt.Errorf("port filter: %w", err)
	}
	// Protocol 0: the socket receives nothing until the filter is attached
	// and it is bound to every protocol, so no unfiltered frame slips in.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("AF_PACKET socket (needs CAP_NET_RAW, e.g. a privileged pod): %w", err)
	}
	defer unix.Close(fd)
	if err := attachFilter(fd, prog); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	tv := unix.NsecToTimeval((250 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("socket receive timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}); err != nil {
		return fmt.Errorf("bind the AF_PACKET socket to every interface: %w", err)
	}

	out := newLineWriter(in.Out)
	asm := NewAssembler(in.Port, in.Limits, func(r Request) { out.write(r) })
	var kernelDrops uint64
	stats := func(now time.Time) Stats {
		if ts, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			kernelDrops += uint64(ts.Drops) // the kernel resets them on each read
		}
		s := asm.Stats()
		s.Kind, s.Time = KindStats, now.UTC()
		s.Drops.Kernel = kernelDrops
		fillCost(&s)
		return s
	}
	if err := out.write(Ready{Kind: KindReady, Time: time.Now().UTC(), Port: int(in.Port), Node: in.Node}); err != nil {
		return err
	}

	buf := make([]byte, readBufferBytes)
	lastFlush, lastStats := time.Now(), time.Now()
	var packets, truncated uint64
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_TRUNC)
		now := time.Now()
		switch {
		case err == nil && n > len(buf):
			packets++
			truncated++
		case err == nil:
			packets++
			seg, derr := DecodeEthernet(buf[:n])
			switch {
			case derr == nil:
				asm.Add(seg, now)
			case !errors.Is(derr, ErrNotTCP):
				asm.CountMalformed()
			}
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		default:
			return fmt.Errorf("read the AF_PACKET socket: %w", err)
		}
		if now.Sub(lastFlush) >= time.Second {
			asm.Flush(now)
			lastFlush = now
		}
		if now.Sub(lastStats) >= in.StatsEvery {
			s := stats(now)
			s.Packets, s.Drops.Truncated = packets, truncated
			if err := out.write(s); err != nil {
				return err
			}
			lastStats = now
		}
	}
	asm.Close()
	s := stats(time.Now())
	s.Packets, s.Drops.Truncated = packets, truncated
	return out.write(s)
}

func attachFilter(fd int, prog []bpf.RawInstruction) error {
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: unsafe.SliceData(filter)}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach the port filter: %w", err)
	}
	return nil
}

// htons puts a protocol number in network byte order for sockaddr_ll.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}

// fillCost adds the process's CPU and peak memory, and its cgroup's memory.
func fillCost(s *Stats) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		s.CPUSeconds = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		s.MaxRSSBytes = ru.Maxrss * 1024
	}
	s.CgroupMemoryBytes = readCgroupInt("/sys/fs/cgroup/memory.current")
	s.CgroupMemoryPeak = readCgroupInt("/sys/fs/cgroup/memory.peak")
}
