package conformance

// The inject-icmp step: the harness plays a router (or the peer's IP
// layer) that sends the stack an ICMP error about the stack's latest TCP
// segment, quoting its IPv4 header and first 8 bytes as RFC 792 asks:
//
//	inject-icmp unreach code=1              host unreachable
//	inject-icmp unreach code=4 mtu=1000     fragmentation needed, next-hop MTU 1000
//	inject-icmp quench                      source quench
//	inject-icmp time-exceeded [code=N]      TTL exceeded in transit (code 0)
//	inject-icmp param-problem               parameter problem
//
// seq=N (relative to the stack's ISS, or abs:N) rewrites the quoted
// sequence number, to quote a segment that was never sent. Errors a router
// sends come from RouterAddr; protocol and port unreachable, which only
// the destination host can send, come from PeerAddr.
//
// The soft-error step checks what the stack tells the application of such
// an error on a connection that goes on (SHLD-25):
//
//	soft-error host-unreachable|net-unreachable|refused|none

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// RouterAddr is the router between the stack and the peer that ICMP
// errors come from, inside the scenarios' /24 like the other two.
var RouterAddr = netip.MustParseAddr("10.99.0.254")

// icmpTypes names the ICMP errors of inject-icmp.
var icmpTypes = map[string]uint8{
	"unreach":       ip.TypeDestinationUnreachable,
	"quench":        ip.TypeSourceQuench,
	"time-exceeded": ip.TypeTimeExceeded,
	"param-problem": ip.TypeParameterProblem,
}

func (r *runner) injectICMP(st *Step) error {
	typ, ok := icmpTypes[arg(st, 0)]
	if !ok {
		return fmt.Errorf("inject-icmp %q: want unreach, quench, time-exceeded or param-problem", arg(st, 0))
	}
	code, err := st.integer("code", 0)
	if err != nil {
		return err
	}
	mtu, err := st.integer("mtu", 0)
	if err != nil {
		return err
	}
	if r.lastSent == nil {
		return errors.New("inject-icmp quotes the stack's latest segment, and it has sent none")
	}
	orig, err := ip.ParseIPv4(r.lastSent)
	if err != nil {
		return err
	}
	m := make([]byte, ip.MaxErrorLen)
	n := ip.Error(m, typ, uint8(code), uint16(mtu), orig)
	if n < ip.ICMPHeaderLen+orig.HeaderLen()+8 {
		return errors.New("inject-icmp: the stack's latest packet is too short to quote")
	}
	m = m[:n]
	quoted := m[ip.ICMPHeaderLen+orig.HeaderLen():]
	if seq, ok, err := r.seqField(st, "seq", r.stackISS, r.issKnown); err != nil {
		return err
	} else if ok {
		binary.BigEndian.PutUint32(quoted[4:], uint32(seq))
		binary.BigEndian.PutUint16(m[2:], 0)
		binary.BigEndian.PutUint16(m[2:], ip.Checksum(m))
	}
	src := RouterAddr
	if typ == ip.TypeDestinationUnreachable && (code == ip.CodeProtocolUnreachable || code == ip.CodePortUnreachable) {
		src = PeerAddr
	}
	pkt := make([]byte, ip.HeaderMinLen+n)
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: 64, Protocol: ip.ProtocolICMP, Src: src, Dst: StackAddr}
	f.Encode(pkt)
	copy(pkt[ip.HeaderMinLen:], m)

	// The trace shows the quoted segment as the stack sent it, with the
	// sequence number as quoted.
	var seg tcp.Segment
	if err := tcp.ParseSegment(orig.Payload(), &seg); err == nil {
		seg.Seq = tcp.Seq(binary.BigEndian.Uint32(quoted[4:]))
		r.trace = append(r.trace, fmt.Sprintf("%s < icmp %s code=%d mtu=%d from %v quoting %s",
			fmtTime(r.inst.Now()), arg(st, 0), code, mtu, src, r.describe(&seg)))
	}
	if err := r.inst.Inject(pkt); err != nil {
		return err
	}
	r.last = r.inst.Now()
	return nil
}

// softErrorer is a Socket that can tell the soft error an ICMP message
// reported (RFC 9293 §3.9.2.2, SHLD-25) on a connection that lives on:
// tinytcp's Conn.SoftError, SO_ERROR on Linux, LastError in gVisor. The
// latter two clear it as they tell it.
type softErrorer interface {
	SoftError() error
}

// softError is the soft-error step: soft-error NAME|none.
func (r *runner) softError(st *Step) error {
	s, ok := r.need().(softErrorer)
	if !ok {
		return fmt.Errorf("soft-error: %w", ErrNotSupported)
	}
	got := s.SoftError()
	if arg(st, 0) == "none" {
		if got != nil {
			return fmt.Errorf("soft error %v, want none", got)
		}
		return nil
	}
	if want := namedError(arg(st, 0)); !errors.Is(got, want) {
		return fmt.Errorf("soft error %v, want %v", got, want)
	}
	return nil
}

// SoftError implements softErrorer.
func (c *tinytcpConn) SoftError() error { return normalise(c.c.SoftError()) }

// SoftError implements softErrorer: netstack keeps the error of an ICMP
// message in its last-error slot, which LastError empties.
func (c *gvisorConn) SoftError() error {
	if c.closed || gtcp.EndpointState(c.ep.State()) == gtcp.StateError {
		return nil
	}
	defer c.i.settle()
	return gvisorError(c.ep.LastError())
}
