package tcp

import "time"

// The fifth step of SEGMENT ARRIVES, "check the ACK field" (RFC 9293
// §3.10.7.4): completing the handshake in SYN-RECEIVED, removing
// acknowledged data from the send buffer, RTT samples, the send window
// update (SND.WL1, SND.WL2), duplicate ACKs, and what an acknowledged FIN
// does to each closing state.

// inputACK is the fifth step. It returns false when the segment is done with.
func (c *Conn) inputACK(seg *Segment, now time.Time) bool {
	if c.state == StateSynReceived {
		// "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state
		// and continue processing ... If the segment acknowledgment is not
		// acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST> and send
		// it."
		if !seg.Ack.GreaterThan(c.snd.una) || seg.Ack.GreaterThan(c.snd.max) {
			c.sendResetFor(seg)
			return false
		}
		c.setSendWindow(uint32(seg.Window) << c.snd.shift)
		c.snd.wl1, c.snd.wl2 = seg.Seq, seg.Ack
		c.establish()
	}
	if c.state == StateTimeWait {
		// Only a retransmitted FIN can arrive here, and the eighth step
		// handles it.
		return true
	}
	switch {
	case seg.Ack.LessThan(c.snd.una) && c.snd.una.Sub(seg.Ack) > c.snd.maxWnd:
		// Older than anything the peer could still be acknowledging: a
		// blind data-injection attempt (RFC 5961 §5.2, MAY-12). "The ACK
		// value is considered acceptable only if it is in the range of
		// ((SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT)"; otherwise send
		// a challenge ACK and drop the segment.
		c.challengeACK(now)
		return false
	case seg.Ack.GreaterThan(c.snd.max):
		// "If the ACK acks something not yet sent (SEG.ACK > SND.NXT),
		// then send an ACK, drop the segment, and return."
		c.sendACK()
		return false
	case seg.Ack.GreaterThan(c.snd.una):
		sacked := c.noteSACK(seg)
		c.ackSent(seg, now)
		if sacked && !c.rec.active && c.snd.una != c.snd.max && c.lossDetected() {
			// An ACK that moves SND.UNA can still SACK enough above it
			// to show the next segment lost (RFC 6675 §5).
			c.enterRecovery(now)
		}
	case seg.Ack == c.snd.una:
		c.duplicateACK(seg, c.noteSACK(seg), now)
	}
	// "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated.
	// If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)),
	// set SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
	if seg.Ack.GreaterThanEq(c.snd.una) &&
		(c.snd.wl1.LessThan(seg.Seq) || (c.snd.wl1 == seg.Seq && c.snd.wl2.LessThanEq(seg.Ack))) {
		c.setSendWindow(uint32(seg.Window) << c.snd.shift)
		c.snd.wl1, c.snd.wl2 = seg.Seq, seg.Ack
	}

	finAcked := c.closeSent && c.snd.una.GreaterThan(c.finSeq)
	switch c.state {
	case StateFinWait1:
		// "In addition to the processing for the ESTABLISHED state, if the
		// FIN segment is now acknowledged, then enter FIN-WAIT-2."
		if finAcked {
			c.setState(StateFinWait2)
			if c.readClosed {
				c.armCloseTimer(now)
			}
		}
	case StateClosing:
		// "if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
		if finAcked {
			c.enterTimeWait(now)
		}
	case StateLastAck:
		// "If our FIN is now acknowledged, delete the TCB, enter the CLOSED
		// state, and return."
		if finAcked {
			c.setState(StateClosed)
			return false
		}
	}
	return true
}

// setSendWindow sets SND.WND and remembers the largest one (MAX.SND.WND).
func (c *Conn) setSendWindow(w uint32) {
	c.snd.wnd = w
	c.snd.maxWnd = max(c.snd.maxWnd, w)
}

// ackSent processes an ACK that covers new data: SND.UNA < SEG.ACK =< SND.MAX.
// "Any segments on the retransmission queue that are thereby entirely
// acknowledged are removed."
func (c *Conn) ackSent(seg *Segment, now time.Time) {
	ack := seg.Ack
	acked := ack.Sub(c.snd.una)
	data := acked
	if c.snd.una == c.iss {
		data-- // the SYN occupies a sequence number but no buffer byte
	}
	if c.closeSent && ack.GreaterThan(c.finSeq) {
		data-- // so does the FIN
	}
	c.sendBuf.Discard(int(data))
	c.snd.una = ack
	if c.snd.nxt.LessThan(ack) {
		c.snd.nxt = ack
	}
	// RTT sample: from the echoed timestamp when there is one (RFC 7323
	// §4.1, valid for retransmissions too), otherwise only from a segment
	// sent once (Karn's algorithm, MUST-18).
	if r := c.tsRTT(seg, now); r > 0 {
		c.rtt.sample(r)
		c.rttStart = time.Time{}
	} else if !c.rttStart.IsZero() && ack.GreaterThanEq(c.rttSeq) {
		c.rtt.sample(now.Sub(c.rttStart))
		c.rttStart = time.Time{}
	}
	c.rtt.backoff = 0
	c.retries = 0
	c.progress()
	c.clearSoftError()
	c.dupACKs = 0
	c.sb.pruneBelow(ack)
	c.probeAcknowledged()
	switch {
	case c.rec.active && ack.GreaterThanEq(c.rec.point):
		c.Stats.FastRecoveries++
		c.endRecovery(now, false)
	case c.rec.active:
		// Partial ACK: handled below, once the timer is restarted.
	case c.state.Synchronized() && data > 0:
		// The window grows only outside recovery (RFC 6582 §3.2).
		c.onAckCongestion(data)
	}
	// RFC 6298 §5.2 and §5.3: stop the timer when everything is
	// acknowledged, otherwise restart it.
	c.timers[timerRetransmit] = time.Time{}
	c.persist = false
	if c.snd.una != c.snd.max {
		c.armRetransmit(now)
	}
	if c.sendBuf.Len() == 0 {
		c.buffersEmptied(now)
	}
	if c.rec.active {
		c.partialACK(now)
	}
}

// duplicateACK counts ACKs that acknowledge nothing new while data is in
// flight (RFC 5681 §2: no data, no window change; RFC 6675 §2: or new SACK
// information) and acts on them (recovery.go): limited transmit at the
// first two, fast retransmit and fast recovery at the third, and in
// recovery each one lets pipe shrink and something more out.
func (c *Conn) duplicateACK(seg *Segment, newlySACKed bool, now time.Time) {
	if c.snd.una == c.snd.max || len(seg.Payload) > 0 || seg.Flags.Has(FlagFIN) ||
		(uint32(seg.Window)<<c.snd.shift != c.snd.wnd && !newlySACKed) {
		if !c.rec.active {
			c.dupACKs = 0
		}
		return
	}
	if c.sackOK && !newlySACKed {
		// With SACK, an ACK that SACKs nothing new says nothing about a
		// loss (RFC 6675 §2 counts only ACKs that SACK new data): it may
		// be a copy the network duplicated, or the answer to a duplicate
		// segment (its D-SACK). It is neither counted nor a reason to
		// start over.
		return
	}
	c.dupACKs++
	switch {
	case c.rec.active:
		c.rec.dupACKs++
		c.recoverySend(now)
	case c.lossDetected():
		c.enterRecovery(now)
	default:
		c.output(now) // limited transmit (RFC 3042)
	}
}
