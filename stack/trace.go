package stack

import (
	"fmt"
	"io"
	"net/netip"

	"tinytcp/tcp"
)

// The segment tracer: one tcpdump-like line per segment in and out, and one
// line per state transition in RFC spelling, e.g.
//
//	12:00:01.000123 In  IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [S], seq 1000, win 64240, options [mss 1460,wscale 7], length 0
//	12:00:01.000150     10.77.0.2.80 10.77.0.1.40000 LISTEN -> SYN-RECEIVED
//
// The tracer lives in the stack, above the link, because it speaks TCP; the
// pcap writer below it records raw bytes.

type direction uint8

const (
	dirIn direction = iota
	dirOut
)

type tracer struct {
	w   io.Writer
	buf []byte
}

func (s *Stack) traceSegment(d direction, src, dst netip.AddrPort, seg *tcp.Segment) {
	if s.tracer == nil {
		return
	}
	t := s.tracer
	dir := "In "
	if d == dirOut {
		dir = "Out"
	}
	b := t.buf[:0]
	b = s.now().AppendFormat(b, "15:04:05.000000")
	b = fmt.Appendf(b, " %s IP %v.%d > %v.%d: Flags [%v], seq %d", dir, src.Addr(), src.Port(), dst.Addr(), dst.Port(), seg.Flags, uint32(seg.Seq))
	if len(seg.Payload) > 0 {
		b = fmt.Appendf(b, ":%d", uint32(seg.Seq)+uint32(len(seg.Payload)))
	}
	if seg.Flags.Has(tcp.FlagACK) {
		b = fmt.Appendf(b, ", ack %d", uint32(seg.Ack))
	}
	b = fmt.Appendf(b, ", win %d", seg.Window)
	if seg.Flags.Has(tcp.FlagURG) {
		b = fmt.Appendf(b, ", urg %d", seg.Urgent)
	}
	if opts := seg.Options.String(); opts != "" {
		b = fmt.Appendf(b, ", options [%s]", opts)
	}
	b = fmt.Appendf(b, ", length %d\n", len(seg.Payload))
	t.buf = b
	t.w.Write(b) //nolint:errcheck // a broken trace stream must not break the stack
}

func (s *Stack) traceState(id tcp.ID, from, to tcp.State) {
	s.traceNote(id, fmt.Sprintf("%v -> %v", from, to))
}

// traceNote writes one line about connection id: a transition, or an event
// such as reaching R1.
func (s *Stack) traceNote(id tcp.ID, note string) {
	if s.tracer == nil {
		return
	}
	t := s.tracer
	b := s.now().AppendFormat(t.buf[:0], "15:04:05.000000")
	b = fmt.Appendf(b, "     %v %v %s\n", id.Local, id.Remote, note)
	t.buf = b
	t.w.Write(b) //nolint:errcheck
}
