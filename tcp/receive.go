package tcp

import "time"

// The receiving half of SEGMENT ARRIVES (RFC 9293 §3.10.7.4, seventh and
// eighth steps): segment text into the receive buffer (or the out-of-order
// queue), delayed acknowledgments, and the peer's FIN with the states it
// leads to, TIME-WAIT included.

// inputText is the seventh step. It returns false when the segment is done
// with, and whether a FIN is now in order (it rode on this segment, or on a
// held one that this segment let through).
func (c *Conn) inputText(seg *Segment, inOrder bool, now time.Time) (more, fin bool) {
	if !c.state.canReceiveData() {
		// CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not occur
		// since a FIN has been received from the remote side. Ignore the
		// segment text."
		return true, false
	}
	if c.readClosed {
		// The application closed its reading half: nobody will ever read
		// this, so tell the peer rather than lose it silently (RFC 2525
		// §2.17, as Linux does).
		c.transmit(&Segment{Seq: c.snd.max, Flags: FlagRST})
		c.fail(ErrConnectionReset)
		return false, false
	}
	if !inOrder {
		// Beyond RCV.NXT: hold it, and send an immediate duplicate ACK so
		// the sender learns of the gap (RFC 5681 §4.2).
		c.ooo.hold(seg.Seq, seg.Payload, seg.Flags.Has(FlagFIN), c.recvBuf.Free())
		c.oooLatest = seg.Seq
		c.sendACK()
		return false, false
	}
	n := c.recvBuf.Write(seg.Payload)
	c.rcv.nxt = c.rcv.nxt.Add(uint32(n))
	c.noteRecvRTT(seg, now)
	fin = seg.Flags.Has(FlagFIN)
	filled := false
	for !fin {
		data, heldFIN, ok := c.ooo.next(c.rcv.nxt)
		if !ok {
			break
		}
		filled = true
		n := c.recvBuf.Write(data)
		c.rcv.nxt = c.rcv.nxt.Add(uint32(n))
		// Held data lies inside the window, which the buffer's free space
		// always covers, so it fits; should it not, the sender resends the
		// rest, and a FIN behind it waits for that.
		fin = heldFIN && n == len(data)
	}
	c.rcv.wnd = uint32(c.recvBuf.Free())
	// Delayed ACK (RFC 9293 §3.8.6.3): acknowledge at least every second
	// full-sized segment, otherwise within DelayedACK (MUST-40, SHLD-19);
	// at once when the segment filled a gap (RFC 5681 §4.2). A segment
	// counts for as many full-sized ones as it carries, as in Linux, which
	// compares the bytes received with the MSS: a 64 KiB super-packet
	// from a sender's segmentation offload is forty-odd segments, not one
	// to sit on for the delayed-ACK timeout.
	c.ackPending += max(1, len(seg.Payload)/c.cfg.MSS)
	switch {
	case fin:
		// The eighth step acknowledges the FIN, and the data with it.
	case c.ackPending >= 2 || filled || !c.ooo.empty():
		c.sendACK()
	case c.timers[timerDelayedACK].IsZero():
		c.timers[timerDelayedACK] = now.Add(c.cfg.DelayedACK)
	}
	return true, fin
}

// inputFIN is the eighth step: the peer has no more data.
func (c *Conn) inputFIN(now time.Time) {
	// "advance RCV.NXT over the FIN, and send an acknowledgment for the FIN."
	c.rcv.nxt = c.rcv.nxt.Add(1)
	c.sendACK()
	switch c.state {
	case StateSynReceived, StateEstablished:
		c.setState(StateCloseWait)
	case StateFinWait1:
		// "If our FIN has been ACKed (perhaps in this segment), then enter
		// TIME-WAIT, start the time-wait timer, turn off the other timers;
		// otherwise, enter the CLOSING state."
		if c.snd.una.GreaterThan(c.finSeq) {
			c.enterTimeWait(now)
		} else {
			c.setState(StateClosing)
		}
	case StateFinWait2:
		c.enterTimeWait(now)
	case StateTimeWait:
		c.timers[timerClose] = now.Add(2 * c.cfg.MSL)
	}
}

// enterTimeWait enters TIME-WAIT for 2*MSL (MUST-13) with the other timers
// off.
func (c *Conn) enterTimeWait(now time.Time) {
	c.setState(StateTimeWait)
	c.timers = [numTimers]time.Time{}
	c.timers[timerClose] = now.Add(2 * c.cfg.MSL)
	c.sendBuf.release()
	c.recvBuf.release() // if empty; a Read that empties it later arms the reclaim timer
}

// armCloseTimer bounds how long a connection the application has closed
// entirely may wait in FIN-WAIT-2 for the peer's FIN (Linux's
// tcp_fin_timeout: 2*MSL here), so a silent peer cannot pin it forever.
func (c *Conn) armCloseTimer(now time.Time) {
	if c.timers[timerClose].IsZero() {
		c.timers[timerClose] = now.Add(2 * c.cfg.MSL)
	}
}
