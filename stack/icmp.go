package stack

import (
	"fmt"
	"net/netip"
	"time"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// ICMP errors delivered to TCP (RFC 9293 §3.9.2.2, MUST-54; RFC 1122
// §3.2.2 and §4.2.3.9): destination unreachable, source quench, time
// exceeded and parameter problem quote the header of the datagram that
// caused them and its first 8 bytes, which for one of our segments hold the
// 4-tuple and the sequence number. The stack checks that the quote is a TCP
// segment from our address, finds the connection with that 4-tuple and
// hands the error to it; tcp/icmp.go decides what it means. Each step that
// drops the message counts it under a reason, and each message reaching a
// connection is counted with what the connection did.
//
// Left out: redirects (counted and dropped: a host on a point-to-point
// link has no other first hop), and errors about anything but TCP: those
// about our UDP datagrams are counted and dropped, so a UDP socket never
// sees ECONNREFUSED (RFC 1122 §4.1.3.3 asks that UDP pass them up; not
// done yet), and ICMP errors about ICMP are never sent (RFC 1122 §3.2.2).

// Counters of ICMP errors. The icmp.* names are gVisor's
// ICMPv4ReceivedPacketStats fields; what a connection did with an error is
// counted as tcp.icmp_ plus the tcp.ICMPOutcome: tcp.icmp_soft_error,
// tcp.icmp_aborted, tcp.icmp_source_quench_discarded,
// tcp.icmp_path_mtu_lowered, tcp.icmp_path_mtu_kept, tcp.icmp_ignored.
const (
	dropICMPQuoteNotTCP    = "drop.icmp_quote_not_tcp"     // the quoted datagram is not TCP
	dropICMPQuoteNotOurs   = "drop.icmp_quote_not_ours"    // the quoted datagram is not from our address
	dropICMPUnknownCode    = "drop.icmp_unknown_code"      // a destination-unreachable code RFC 1812 does not define
	dropICMPNoConnection   = "drop.tcp_icmp_no_connection" // no connection has the quoted 4-tuple
	countICMPTCPPrefix     = "tcp.icmp_"                   // + tcp.ICMPOutcome: what the connection did
	dropICMPTCPOutOfWindow = "drop.tcp_icmp_out_of_window" // RFC 5927 §4.1; Linux's OutOfWindowIcmps
)

// icmpReceived names the counter of each ICMP error type.
var icmpReceived = map[uint8]string{
	ip.TypeDestinationUnreachable: "icmp.DstUnreachableReceived",
	ip.TypeSourceQuench:           "icmp.SrcQuenchReceived",
	ip.TypeRedirect:               "icmp.RedirectReceived",
	ip.TypeTimeExceeded:           "icmp.TimeExceededReceived",
	ip.TypeParameterProblem:       "icmp.ParamProblemReceived",
}

// deliverICMPError hands an ICMP error to the TCP connection whose segment
// it quotes. Called with mu held.
func (s *Stack) deliverICMPError(m ip.ICMP, now time.Time) {
	s.Counters.inc(icmpReceived[m.Type()])
	if m.Type() == ip.TypeRedirect {
		s.Counters.inc(dropICMPUnhandled)
		return
	}
	q, err := m.Quote()
	switch {
	case err != nil:
		s.Counters.inc("drop." + ip.DropReason(err))
		return
	case q.Protocol != ip.ProtocolTCP:
		s.Counters.inc(dropICMPQuoteNotTCP)
		return
	case q.Src != s.addr:
		// We did not send it, so it cannot be about any connection of
		// ours (RFC 5927 suggests filtering on the quoted addresses).
		s.Counters.inc(dropICMPQuoteNotOurs)
		return
	}
	id := tcp.ID{Local: netip.AddrPortFrom(q.Src, q.SrcPort), Remote: netip.AddrPortFrom(q.Dst, q.DstPort)}
	c := s.conns[keyOf(id)]
	if c == nil {
		s.Counters.inc(dropICMPNoConnection)
		return
	}
	seq := tcp.Seq(q.Seq)
	var out tcp.ICMPOutcome
	if m.Type() == ip.TypeDestinationUnreachable && m.Code() == ip.CodeFragmentationNeeded {
		out = c.tcb.PathMTU(int(m.MTU()), seq, now)
	} else {
		kind, ok := icmpKind(m.Type(), m.Code())
		if !ok {
			s.Counters.inc(dropICMPUnknownCode)
			return
		}
		out = c.tcb.ICMPError(kind, seq, now)
	}
	if out == tcp.ICMPOutOfWindow {
		s.Counters.inc(dropICMPTCPOutOfWindow)
	} else {
		s.Counters.inc(countICMPTCPPrefix + out.String())
	}
	if s.tracer != nil {
		s.traceNote(id, fmt.Sprintf("ICMP %s quoting seq %d: %v", icmpName(m), q.Seq, out))
	}
	s.settle(c)
}

// icmpName describes an ICMP error for the trace.
func icmpName(m ip.ICMP) string {
	switch m.Type() {
	case ip.TypeDestinationUnreachable:
		if m.Code() == ip.CodeFragmentationNeeded {
			return fmt.Sprintf("fragmentation needed (next-hop MTU %d)", m.MTU())
		}
		return fmt.Sprintf("destination unreachable (code %d)", m.Code())
	case ip.TypeSourceQuench:
		return "source quench"
	case ip.TypeTimeExceeded:
		return fmt.Sprintf("time exceeded (code %d)", m.Code())
	case ip.TypeParameterProblem:
		return "parameter problem"
	}
	return fmt.Sprintf("type %d code %d", m.Type(), m.Code())
}

// icmpKind maps an ICMP error type and code (RFC 792, RFC 1812 §5.2.7.1)
// onto the kinds TCP tells apart; "fragmentation needed" is not among them.
func icmpKind(typ, code uint8) (tcp.ICMPKind, bool) {
	switch typ {
	case ip.TypeSourceQuench:
		return tcp.ICMPSourceQuench, true
	case ip.TypeTimeExceeded:
		return tcp.ICMPTimeExceeded, true
	case ip.TypeParameterProblem:
		return tcp.ICMPParameterProblem, true
	case ip.TypeDestinationUnreachable:
		switch code {
		case ip.CodeNetUnreachable, ip.CodeNetUnknown, ip.CodeNetProhibited, ip.CodeNetUnreachableForTOS:
			return tcp.ICMPNetUnreachable, true
		case ip.CodeHostUnreachable, ip.CodeHostUnknown, ip.CodeSourceHostIsolated, ip.CodeHostProhibited,
			ip.CodeHostUnreachableForTOS, ip.CodeCommunicationProhibited, ip.CodeHostPrecedenceViolation, ip.CodePrecedenceCutoff:
			return tcp.ICMPHostUnreachable, true
		case ip.CodeProtocolUnreachable:
			return tcp.ICMPProtocolUnreachable, true
		case ip.CodePortUnreachable:
			return tcp.ICMPPortUnreachable, true
		case ip.CodeSourceRouteFailed:
			return tcp.ICMPSourceRouteFailed, true
		}
	}
	return 0, false
}

// SoftError returns the soft error an ICMP message reported for the
// connection and no acknowledgment has cleared since, as the errno a
// kernel would report (EHOSTUNREACH, ...), or nil (RFC 9293 §3.9.2.2,
// SHLD-25). The connection goes on regardless; if it times out, Read and
// Write report this error instead of ETIMEDOUT, as Linux does.
func (c *Conn) SoftError() error {
	c.s.mu.Lock()
	err := c.tcb.SoftError()
	c.s.mu.Unlock()
	if err == nil {
		return nil
	}
	return errnoFor("icmp", err)
}
