package tcp

import "time"

// Urgent data, RFC 9293 §3.8.5, the sixth step of SEGMENT ARRIVES
// (§3.10.7.4, "check the URG bit"), and RFC 6093 on what the urgent pointer
// means.
//
// "The objective of the TCP urgent mechanism is to allow the sending user
// to stimulate the receiving user to accept some urgent data and to permit
// the receiving TCP endpoint to indicate to the receiving user when all the
// currently known urgent data has been received by the user." (§3.8.5)
//
// The mechanism marks a point in the stream, not a separate channel: the
// urgent pointer is the sequence number of the first octet after the
// urgent data (MUST-62, as RFC 6093 settled it and as Linux and BSD have
// always sent it).
//
//	    SND.UNA        SEG.SEQ                    SND.UP
//	  ----|---------------|--------------------------|----------
//	      |               |<------ SEG.UP ---------->|
//	      |<-------- urgent data, not yet acked ---->| first non-urgent octet
//
// Sending. WriteUrgent is SEND with the URGENT flag (§3.10.2): the data is
// queued like any other and SND.UP moves to its end. Until the peer has
// acknowledged everything up to SND.UP, every segment whose SEG.SEQ lies
// before SND.UP carries URG and SEG.UP = SND.UP - SEG.SEQ: data, pure
// ACKs, retransmissions and window probes alike, so the peer hears of the
// urgent data even while it cannot take any. Urgent data may be of any
// length (MUST-31): when SND.UP lies 64 KiB or more beyond SEG.SEQ, the
// 16-bit field carries 0xffff, which still points forward into the urgent
// data, as Linux does (and, like Linux, not on a retransmission that much
// data has since followed). Nagle's algorithm holds nothing back while
// urgent data is unacknowledged (Linux's rule too), and a zero-window probe
// is preceded by one at SND.UNA, which a receiver with no window accepts
// and so learns of the pointer (Linux's tcp_write_wakeup).
//
// Receiving. RCV.UP <- max(RCV.UP, SEG.SEQ+SEG.UP) for every acceptable
// segment with URG, even with a zero window (MUST-66). The data itself
// stays in the stream and is read in order with the rest ("inline", as
// RFC 6093 advises applications that still use urgent data, and as
// SO_OOBINLINE makes a BSD socket do): no octet is taken out of band.
// Whenever RCV.UP advances beyond what the application has read, the Hooks
// hear of it through UrgentNotifier (MUST-32), and Urgent tells how much
// of the stream, from the next octet Read returns, is urgent (MUST-33), so
// the application can read through it "in urgent mode" and then return to
// "normal mode".
//
// Left out: the BSD out-of-band octet (MSG_OOB on receive), which takes
// the last urgent octet out of the stream, the practice RFC 6093 describes
// and advises against relying on. RFC 9293 asks new applications not to
// use the urgent mechanism at all (SHLD-13); it is here because a TCP
// implementation MUST still support it (MUST-30).

// UrgentNotifier is implemented by Hooks that want to hear of urgent data:
// "A TCP implementation MUST inform the application layer asynchronously
// whenever it receives an urgent pointer and there was previously no
// pending urgent data, or whenever the urgent pointer advances in the data
// stream" (RFC 9293 §3.8.5, MUST-32). UrgentArrived is called from inside
// Input, when RCV.UP has moved beyond the data the application has read;
// Urgent tells how much that is.
type UrgentNotifier interface {
	UrgentArrived(c *Conn)
}

// urgentVars is the state of the urgent mechanism beside SND.UP and
// RCV.UP (sendVars.up, recvVars.up).
type urgentVars struct {
	sending   bool // SND.UP is set: urgent data was written (urgent mode ends once SND.UNA reaches it)
	receiving bool // RCV.UP is ahead of the application's reading ("urgent mode" of the receiver)
	read      Seq  // sequence number of the next octet Read returns, kept while receiving
}

// WriteUrgent is SEND with the URGENT flag set (RFC 9293 §3.10.2): like
// Write it queues as much of p as the send buffer holds, and the urgent
// pointer SND.UP moves to the end of what it queued, so every octet
// written so far, up to the last one of p, is urgent data. The segments
// that carry it, and every segment sent before the peer acknowledges it,
// point there (MUST-62). It returns the number of bytes queued.
func (c *Conn) WriteUrgent(p []byte, now time.Time) (int, error) {
	return c.send(p, true, now)
}

// markUrgentQueued moves SND.UP to the end of the data queued: "The urgent
// pointer MUST point to the sequence number of the octet following the
// urgent data" (RFC 9293 §3.8.5, MUST-62).
func (c *Conn) markUrgentQueued() {
	c.snd.up = c.sendStart().Add(uint32(c.sendBuf.Len()))
	c.urg.sending = true
}

// urgentMode reports whether urgent data is unacknowledged: SND.UNA has not
// reached SND.UP. When the peer has acknowledged it, the sender leaves
// urgent mode and segments carry no URG any more.
func (c *Conn) urgentMode() bool {
	if c.urg.sending && !c.snd.una.LessThan(c.snd.up) {
		c.urg.sending = false
	}
	return c.urg.sending
}

// setUrgentPointer sets URG and SEG.UP on a segment about to be sent whose
// SEG.SEQ lies before SND.UP (RFC 9293 §3.8.5: "The URG control flag
// indicates the urgent field is meaningful and must be added to the
// segment sequence number to yield the urgent pointer. The absence of
// this flag indicates that there is no urgent data outstanding.").
func (c *Conn) setUrgentPointer(seg *Segment) {
	if seg.Flags&(FlagSYN|FlagRST) != 0 || !c.urgentMode() || !seg.Seq.LessThan(c.snd.up) {
		return
	}
	switch ahead := c.snd.up.Sub(seg.Seq); {
	case ahead <= 0xffff:
		seg.Urgent = uint16(ahead)
	case seg.Seq.Add(0xffff).GreaterThan(c.snd.max):
		// More urgent data than the 16-bit field reaches (MUST-31): point
		// as far forward as it goes, which is still urgent data not yet
		// sent, so the receiver stays in urgent mode until a later
		// segment brings the real pointer within reach.
		seg.Urgent = 0xffff
	default:
		// A retransmission with 64 KiB or more sent after it: 0xffff would
		// point into data already sent; Linux leaves URG off, and so does
		// tinytcp.
		return
	}
	seg.Flags |= FlagURG
}

// probeUrgent precedes a zero-window probe: while urgent data is pending
// within reach of the pointer field, an ACK at SND.UNA (which the receiver
// finds acceptable even with no window, RFC 9293 §3.10.7.4) carries the
// urgent pointer, since the probe itself, at SND.UNA-1, is outside the
// window and its URG would be ignored. This is Linux's tcp_write_wakeup.
func (c *Conn) probeUrgent() {
	if c.urgentMode() && c.snd.up.Sub(c.snd.una) <= 0xffff {
		c.transmit(&Segment{Seq: c.snd.una, Flags: FlagACK})
	}
}

// urgentPointer returns the urgent pointer a segment carries, SEG.SEQ +
// SEG.UP, as a sequence number. It is taken before the segment is trimmed
// to the window, which moves SEG.SEQ but not the point SEG.UP marks.
func urgentPointer(seg *Segment) (Seq, bool) {
	if !seg.Flags.Has(FlagURG) {
		return 0, false
	}
	return seg.Seq.Add(uint32(seg.Urgent)), true
}

// inputURG is the sixth step of SEGMENT ARRIVES (RFC 9293 §3.10.7.4):
//
//	ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2: "If the URG bit is set,
//	RCV.UP <- max(RCV.UP,SEG.UP), and signal the user that the remote
//	side has urgent data if the urgent pointer (RCV.UP) is in advance of
//	the data consumed."
//	CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not occur
//	since a FIN has been received from the remote side. Ignore the URG."
//
// up is SEG.SEQ+SEG.UP, the RFC's SEG.UP made a sequence number.
func (c *Conn) inputURG(up Seq) {
	if !c.state.canReceiveData() {
		return
	}
	if !c.urg.receiving {
		// Normal mode: no urgent data ahead of the reader. Start from the
		// read position, which the sixth step, running before the peer's
		// FIN is counted, can take from RCV.NXT and the buffer.
		c.urg.read = c.rcv.nxt - Seq(c.recvBuf.Len())
		c.rcv.up = c.urg.read
	}
	if !up.GreaterThan(c.rcv.up) {
		return // an old pointer, or one to data already consumed
	}
	c.rcv.up = up
	c.urg.receiving = true
	if n, ok := c.hooks.(UrgentNotifier); ok {
		n.UrgentArrived(c)
	}
}

// urgentConsumed advances the read position by n octets the application
// has read; "when the receive sequence number catches up to the urgent
// pointer, the TCP must tell user to go into 'normal mode'" (§3.8.5),
// which Urgent then reports.
func (c *Conn) urgentConsumed(n int) {
	if !c.urg.receiving {
		return
	}
	c.urg.read = c.urg.read.Add(uint32(n))
	if !c.rcv.up.GreaterThan(c.urg.read) {
		c.urg.receiving = false
	}
}

// Urgent reports whether the peer has sent urgent data that the
// application has not yet read through, and how much of the stream that
// is: n octets from the next one Read returns up to and including the last
// urgent octet, so reading n octets leaves urgent mode. "The TCP
// implementation MUST provide a way for the application to learn how much
// urgent data remains to be read from the connection" (RFC 9293 §3.8.5,
// MUST-33). Urgent data is read inline, in order with the rest; n may
// exceed Readable while part of it has not arrived yet.
func (c *Conn) Urgent() (pending bool, n int) {
	if !c.urg.receiving {
		return false, 0
	}
	return true, int(c.rcv.up.Sub(c.urg.read))
}
