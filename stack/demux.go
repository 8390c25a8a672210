package stack

import (
	"errors"
	"net/netip"
	"time"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// Demultiplexing of arriving packets (RFC 1122 §3.3 for IP, RFC 9293 §3.10.7
// for choosing the TCB): check the IPv4 header, keep only packets for our
// address, answer ICMP echo and pass ICMP errors to the connection they
// quote (icmp.go), then find the connection by its 4-tuple, or a listener
// by the destination port, or answer for a closed port.
//
// Left out: IP fragment reassembly (fragments are counted and dropped; the
// kernel does path MTU discovery with DF set, so none arrive on a TUN link
// in practice), IP options (accepted, ignored).

// connKey is a connection's 4-tuple as the connection table's key: 12
// bytes, where a tcp.ID is 64 (a netip.Addr has room for IPv6 and a zone).
// The table holds one entry per connection, idle ones included, so the
// difference is worth having; every address the stack knows is IPv4
// (New, Connect and the IPv4 parser see to it), so nothing is lost.
type connKey struct {
	local, remote         [4]byte
	localPort, remotePort uint16
}

// keyOf returns the table key of the 4-tuple id.
func keyOf(id tcp.ID) connKey {
	return connKey{
		local: id.Local.Addr().As4(), remote: id.Remote.Addr().As4(),
		localPort: id.Local.Port(), remotePort: id.Remote.Port(),
	}
}

// deliver handles one packet from the device. vouched says the device
// vouches for its TCP checksum (offload.go), which is then not checked.
// Called with mu held.
func (s *Stack) deliver(pkt []byte, vouched bool, now time.Time) {
	s.Counters.incHot(hotPacketsReceived)
	h, err := ip.ParseIPv4(pkt)
	if err != nil {
		s.Counters.inc("drop." + ip.DropReason(err))
		s.Counters.inc("ip.MalformedPacketsReceived")
		return
	}
	if h.Dst() != s.addr {
		s.Counters.inc(dropNotForUs)
		s.Counters.inc("ip.InvalidDestinationAddressesReceived")
		return
	}
	if ip.ValidPeer(h.Src()) != nil {
		// A martian: broadcast, multicast, loopback or unspecified
		// sources never send to us. Drop it silently, never answering
		// (RFC 1122 §3.2.1.3; a SYN from one is rejected, MUST-63).
		s.Counters.inc(dropInvalidSource)
		s.Counters.inc("ip.InvalidSourceAddressesReceived")
		return
	}
	if h.IsFragment() {
		s.Counters.inc(dropFragment)
		return
	}
	switch h.Protocol() {
	case ip.ProtocolTCP:
		s.deliverTCP(h, vouched, now)
	case ip.ProtocolICMP:
		s.deliverICMP(h, now)
	case ip.ProtocolUDP:
		s.deliverUDP(h, vouched)
	default:
		s.Counters.inc(dropUnknownProtocol)
		s.sendICMPUnreachable(h, ip.CodeProtocolUnreachable)
	}
}

// deliverICMP answers echo requests (RFC 792, RFC 1122 §3.2.2.6) and hands
// errors to TCP (icmp.go).
func (s *Stack) deliverICMP(h ip.IPv4, now time.Time) {
	m, err := ip.ParseICMP(h.Payload())
	if err != nil {
		s.Counters.inc("drop." + ip.DropReason(err))
		return
	}
	if m.IsError() {
		s.deliverICMPError(m, now)
		return
	}
	if m.Type() != ip.TypeEchoRequest {
		s.Counters.inc(dropICMPUnhandled)
		return
	}
	s.Counters.inc("icmp.EchoRequestReceived")
	if ip.HeaderMinLen+len(m) > s.mtu {
		s.Counters.inc(dropOversized)
		return
	}
	pkt := s.getBuf()
	n := ip.EchoReply(pkt[ip.HeaderMinLen:], m)
	if n == 0 {
		s.putBuf(pkt)
		return
	}
	s.finishIP(pkt, ip.ProtocolICMP, h.Src(), n)
	s.Counters.inc("icmp.EchoReplySent")
}

// sendICMPUnreachable tells the sender its packet had nowhere to go.
func (s *Stack) sendICMPUnreachable(h ip.IPv4, code uint8) {
	pkt := s.getBuf()
	n := ip.DestUnreachable(pkt[ip.HeaderMinLen:], code, 0, h)
	if n == 0 {
		s.putBuf(pkt)
		return
	}
	s.finishIP(pkt, ip.ProtocolICMP, h.Src(), n)
}

// finishIP writes the IPv4 header in front of a payload of n bytes already
// in pkt[20:] and queues the packet.
func (s *Stack) finishIP(pkt []byte, proto uint8, dst netip.Addr, n int) {
	s.finishIPWith(pkt, proto, dst, n, tcp.IPFields{}, 0)
}

// finishIPWith is finishIP with a connection's TTL and DSCP (zero fields
// take the stack's defaults) and, for a super-packet, the payload per
// segment the device is to cut it into (gso; 0 for none).
func (s *Stack) finishIPWith(pkt []byte, proto uint8, dst netip.Addr, n int, fields tcp.IPFields, gso uint16) {
	s.ipID++
	f := ip.IPv4Fields{
		TOS:          fields.DSCP << 2,
		TotalLen:     uint16(ip.HeaderMinLen + n),
		ID:           s.ipID,
		DontFragment: true,
		TTL:          s.cfg.TTL,
		Protocol:     proto,
		Src:          s.addr,
		Dst:          dst,
	}
	if fields.TTL != 0 {
		f.TTL = fields.TTL
	}
	f.Encode(pkt)
	s.queue(pkt[:ip.HeaderMinLen+n], gso)
}

// deliverTCP checks a segment and hands it to its connection.
func (s *Stack) deliverTCP(h ip.IPv4, vouched bool, now time.Time) {
	b := h.Payload()
	if !vouched && ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(h.Src(), h.Dst(), ip.ProtocolTCP, len(b)))) != 0 {
		// MUST-3: a segment with a bad checksum is dropped.
		s.Counters.inc(dropTCPChecksum)
		s.Counters.inc("tcp.ChecksumErrors")
		return
	}
	var seg tcp.Segment
	if err := tcp.ParseSegment(b, &seg); err != nil {
		if !errors.Is(err, tcp.ErrBadOption) {
			s.Counters.inc(dropTCPMalformed)
			s.Counters.inc("tcp.InvalidSegmentsReceived")
			return
		}
		// MUST-7: an illegal option length does not crash anything. Like
		// Linux, keep the options parsed before it and go on.
		s.Counters.inc(dropTCPBadOption)
	}
	s.Counters.incHot(hotValidSegmentsReceived)
	if seg.Flags.Has(tcp.FlagRST) {
		s.Counters.inc("tcp.ResetsReceived")
	}
	id := tcp.ID{
		Local:  netip.AddrPortFrom(h.Dst(), seg.DstPort),
		Remote: netip.AddrPortFrom(h.Src(), seg.SrcPort),
	}
	s.traceSegment(dirIn, id.Remote, id.Local, &seg)

	if c := s.conns[keyOf(id)]; c != nil {
		if !s.reopensTimeWait(c, &seg) {
			s.hold(c)
			c.recvDSCP = h.TOS() >> 2
			c.tcb.Input(&seg, now)
			s.settle(c)
			return
		}
	}
	if l := s.listeners[seg.DstPort]; l != nil && !l.closed {
		s.listenInput(l, id, &seg, now)
		return
	}
	s.sendClosedReset(id, &seg)
}

// reopensTimeWait lets a new SYN take over a 4-tuple in TIME-WAIT when its
// timestamp or sequence number is beyond anything of the old connection
// (RFC 9293 §3.10.7.4 allows it, MAY-2; RFC 6191 says when:
// tcp/timewait.go). The old TCB is dropped; the caller then treats the SYN
// as a new connection.
func (s *Stack) reopensTimeWait(c *Conn, seg *tcp.Segment) bool {
	if !c.tcb.AcceptsNewIncarnation(seg) {
		return false
	}
	c.tcb.Abort(s.now())
	s.settle(c)
	return true
}

// sendClosedReset answers a segment for a port nobody listens on
// (RFC 9293 §3.10.7.1).
func (s *Stack) sendClosedReset(id tcp.ID, seg *tcp.Segment) {
	rst, ok := tcp.ResetFor(seg)
	if !ok {
		return
	}
	s.Counters.inc("tcp.ResetsSent")
	s.transmit(id, &rst)
}

// listenInput runs a segment for a listening port through a fresh TCB in
// LISTEN (RFC 9293 §3.10.7.2). A SYN moves it to SYN-RECEIVED and it joins
// the connection table; anything else leaves it in LISTEN and it is
// forgotten.
func (s *Stack) listenInput(l *Listener, id tcp.ID, seg *tcp.Segment, now time.Time) {
	if seg.Flags&(tcp.FlagSYN|tcp.FlagACK|tcp.FlagRST) == tcp.FlagSYN {
		switch {
		case l.pending+len(l.queue) >= l.backlog:
			// Like Linux, drop the SYN silently; the peer retries.
			s.Counters.inc(dropListenOverflow)
			return
		case len(s.conns) >= s.cfg.MaxConnections:
			s.Counters.inc(dropTableFull)
			return
		}
	}
	c := newConn(s)
	c.listener = l
	c.tcb = tcp.Listen(l.tcp, s, id)
	s.conns[keyOf(id)] = c
	s.hold(c)
	c.tcb.Input(seg, now)
	if c.tcb.State() == tcp.StateListen {
		delete(s.conns, keyOf(id))
		return
	}
	l.pending++
	s.Counters.inc("tcp.PassiveConnectionOpenings")
	s.settle(c)
}
