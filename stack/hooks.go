package stack

import (
	"tinytcp/ip"
	"tinytcp/tcp"
)

// The stack's side of tcp.Hooks: turning segments into packets, and acting
// on state changes (accept queues, the connection table, waking waiters).

// Transmit builds the packet for a segment of connection c and queues it.
// Called by the TCB with mu held.
func (s *Stack) Transmit(c *tcp.Conn, seg *tcp.Segment) {
	if seg.Flags.Has(tcp.FlagRST) {
		s.Counters.inc("tcp.ResetsSent")
	}
	s.transmitWith(c.ID(), seg, c.IPFields(), c.SendMSS())
}

// transmit serialises seg for the 4-tuple id with the stack's default IPv4
// header fields.
func (s *Stack) transmit(id tcp.ID, seg *tcp.Segment) {
	s.transmitWith(id, seg, tcp.IPFields{}, 0)
}

// transmitWith serialises seg for the 4-tuple id: IPv4 header (with the
// TTL and DSCP the connection asked for), TCP header and options, payload,
// then the TCP checksum over the pseudo-header (MUST-2). mss is the
// connection's send MSS (0 for a segment of no connection), which a
// super-packet is cut by.
func (s *Stack) transmitWith(id tcp.ID, seg *tcp.Segment, f tcp.IPFields, mss int) {
	s.traceSegment(dirOut, id.Local, id.Remote, seg)
	hl := seg.HeaderLen()
	n := hl + len(seg.Payload)
	if ip.HeaderMinLen+n > s.maxPkt {
		// The TCB never builds a segment larger than the MSS it derived
		// from this MTU, or than the offload limit the stack gave it;
		// count it rather than crash if it ever did.
		s.Counters.inc(dropOversized)
		return
	}
	pkt := s.getBuf()
	b := pkt[ip.HeaderMinLen : ip.HeaderMinLen+n]
	seg.MarshalHeader(b)
	copy(b[hl:], seg.Payload)
	pseudo := ip.PseudoHeaderSum(id.Local.Addr(), id.Remote.Addr(), ip.ProtocolTCP, n)
	var gso uint16
	if s.od != nil {
		// The device completes the checksum (offload.go).
		tcp.Header(b).SetChecksum(^ip.Fold(pseudo))
		gso = s.gsoSize(mss, hl, len(seg.Payload))
	} else {
		tcp.Header(b).SetChecksum(ip.Fold(ip.Sum(b, pseudo)))
	}
	s.finishIPWith(pkt, ip.ProtocolTCP, id.Remote.Addr(), n, f, gso)
	s.Counters.incHot(hotSegmentsSent)
}

// NegativeAdvice is the advice TCP gives IP when a connection's
// retransmissions reach R1 (RFC 9293 §3.8.3, MUST-20). A router would drop
// its cached route or neighbour entry and look again; a point-to-point TUN
// link has nothing else to try, so the advice is counted and traced, and
// the application sees it as Info().Trouble. Called with mu held.
func (s *Stack) NegativeAdvice(c *tcp.Conn) {
	s.Counters.inc("tcp.NegativeAdvice")
	s.traceNote(c.ID(), "R1 reached: negative advice to IP")
}

// Event traces a connection's loss-recovery and congestion events
// (tcp.Tracer). Called with mu held.
func (s *Stack) Event(c *tcp.Conn, what string) { s.traceNote(c.ID(), what) }

// StateChanged traces a transition and keeps the tables in step. Called by
// the TCB with mu held.
func (s *Stack) StateChanged(t *tcp.Conn, from, to tcp.State) {
	s.traceState(t.ID(), from, to)
	c := s.conns[keyOf(t.ID())]
	if c == nil || c.tcb != t {
		return
	}
	// gVisor's CurrentEstablished counts ESTABLISHED and CLOSE-WAIT.
	current := func(st tcp.State) bool { return st == tcp.StateEstablished || st == tcp.StateCloseWait }
	switch {
	case current(to) && !current(from):
		s.Counters.inc("tcp.CurrentEstablished")
	case current(from) && !current(to):
		s.Counters.add("tcp.CurrentEstablished", ^uint64(0))
	}
	if current(from) && to == tcp.StateClosed {
		s.Counters.inc("tcp.EstablishedResets")
	}
	if from == tcp.StateSynReceived && c.listener != nil {
		c.listener.pending--
		if to != tcp.StateClosed && !c.listener.closed {
			c.listener.enqueue(c)
		}
	}
}

// settle is called after every call into a TCB: it removes a closed
// connection from the table, reschedules its timer and wakes whoever waits
// on it. Called with mu held.
func (s *Stack) settle(c *Conn) {
	if c.tcb.State() == tcp.StateClosed {
		if key := keyOf(c.id()); s.conns[key] == c {
			delete(s.conns, key)
		}
		if c.heapIndex >= 0 {
			s.timersRemove(c)
		}
	} else {
		s.schedule(c)
	}
	c.wake()
}
