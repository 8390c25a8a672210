package tcp

import "time"

// SEGMENT ARRIVES, RFC 9293 §3.10.7, in the RFC's order: one function for
// each of the early states (LISTEN, SYN-SENT; CLOSED is ResetFor in
// reset.go, since a closed port has no TCB), then the numbered checks for
// the synchronized states and SYN-RECEIVED.
//
// Deviations and omissions, each waiting for a later issue: the security check (third step) does not
// apply to a TUN link; data carried on a SYN is not queued, so the peer
// sends it again. The sixth step, URG, is in urgent.go.

// Input processes one arriving segment.
func (c *Conn) Input(seg *Segment, now time.Time) {
	c.now = now
	c.Stats.SegmentsReceived++
	c.Stats.BytesReceived += uint64(len(seg.Payload))
	defer c.heardFromPeer(now) // whatever it was, the peer is alive
	switch c.state {
	case StateClosed:
		return
	case StateListen:
		c.inputListen(seg, now)
	case StateSynSent:
		c.inputSynSent(seg, now)
	default:
		c.inputSynchronized(seg, now)
	}
}

// inputListen is RFC 9293 §3.10.7.2, "If the state is LISTEN".
func (c *Conn) inputListen(seg *Segment, now time.Time) {
	// First, check for a RST: "An incoming RST segment could not be valid
	// since it could not have been sent in response to anything sent by
	// this incarnation of the connection. An incoming RST should be ignored."
	if seg.Flags.Has(FlagRST) {
		return
	}
	// Second, check for an ACK: "Any acknowledgment is bad if it arrives on
	// a connection still in the LISTEN state. An acceptable reset segment
	// should be formed for any arriving ACK-bearing segment."
	if seg.Flags.Has(FlagACK) {
		c.sendResetFor(seg)
		return
	}
	// Third, check for a SYN: set RCV.NXT to SEG.SEQ+1, IRS to SEG.SEQ,
	// select an ISS and send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
	if seg.Flags.Has(FlagSYN) {
		c.irs = seg.Seq
		c.rcv.nxt = seg.Seq.Add(1)
		c.negotiate(seg)
		c.iss = c.cfg.ISN.ISN(c.id.Local, c.id.Remote, now)
		c.startTimestamps(now)
		c.snd.una = c.iss
		c.snd.nxt = c.iss.Add(1)
		c.snd.max = c.snd.nxt
		c.setSendWindow(uint32(seg.Window)) // a SYN's window is never scaled
		c.snd.wl1 = seg.Seq
		c.setState(StateSynReceived)
		c.sendSYN(now)
		return
	}
	// Fourth, other text or control: "drop the segment and return".
}

// inputSynSent is RFC 9293 §3.10.7.3, "If the state is SYN-SENT".
func (c *Conn) inputSynSent(seg *Segment, now time.Time) {
	// First, check the ACK bit: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT,
	// send a reset (unless the RST bit is set, if so drop the segment and
	// return)."
	ackOK := false
	if seg.Flags.Has(FlagACK) {
		if seg.Ack.LessThanEq(c.iss) || seg.Ack.GreaterThan(c.snd.nxt) {
			if !seg.Flags.Has(FlagRST) {
				c.sendResetFor(seg)
			}
			return
		}
		ackOK = true // SND.UNA < SEG.ACK =< SND.NXT
	}
	// Second, check the RST bit: "If the ACK was acceptable, then signal to
	// the user 'error: connection reset', drop the segment, enter CLOSED
	// state ... Otherwise (no ACK), drop the segment and return."
	if seg.Flags.Has(FlagRST) {
		if ackOK {
			c.fail(ErrConnectionRefused)
		}
		return
	}
	// Fourth, check the SYN bit.
	if !seg.Flags.Has(FlagSYN) {
		return // Fifth: "If neither of the SYN or RST bits is set, then drop the segment and return."
	}
	c.irs = seg.Seq
	c.rcv.nxt = seg.Seq.Add(1)
	c.negotiate(seg)
	if ackOK {
		c.ackSent(seg, now)
	}
	if c.snd.una.GreaterThan(c.iss) {
		// "If SND.UNA > ISS (our SYN has been ACKed), change the connection
		// state to ESTABLISHED, form an ACK segment <SEQ=SND.NXT>
		// <ACK=RCV.NXT><CTL=ACK> and send it."
		c.setSendWindow(uint32(seg.Window))
		c.snd.wl1, c.snd.wl2 = seg.Seq, seg.Ack
		c.establish()
		c.sendACK()
		c.output(now)
		return
	}
	// "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment
	// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it." This is
	// simultaneous open (RFC 9293 Figure 7, MUST-10).
	c.setSendWindow(uint32(seg.Window))
	c.snd.wl1 = seg.Seq
	c.setState(StateSynReceived)
	c.timers[timerRetransmit] = time.Time{}
	c.sendSYN(now)
}

// negotiate reads the options of the peer's SYN: its MSS (MUST-14, MUST-15,
// MUST-16) and window scale (RFC 7323 §2).
func (c *Conn) negotiate(seg *Segment) {
	c.negotiateOptions(seg)
	mss := uint16(DefaultSendMSS)
	if seg.Options.MSS != 0 {
		mss = seg.Options.MSS
	}
	c.snd.mss = max(min(mss, uint16(c.cfg.MSS)), 64)
	if seg.Options.HasWindowScale && (c.state == StateSynSent || c.state == StateListen) {
		c.wsOK = true
		c.snd.shift = min(seg.Options.WindowScale, 14)
	} else {
		// Window scaling is used only if both sides sent the option.
		c.wsOK = false
		c.snd.shift = 0
		c.rcv.shift = 0
	}
}

// establish enters ESTABLISHED, or FIN-WAIT-1 when the user already asked to
// close (RFC 9293 §3.10.4: the FIN was queued in SYN-RECEIVED).
func (c *Conn) establish() {
	c.initCongestion()
	if c.closeSent {
		c.setState(StateFinWait1)
		return
	}
	c.setState(StateEstablished)
}

// acceptable is the sequence-number test of RFC 9293 §3.10.7.4, first step:
//
//	Segment  Receive  Test
//	Length   Window
//	-------  -------  -------------------------------------------
//	   0        0     SEG.SEQ = RCV.NXT
//	   0       >0     RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
//	  >0        0     not acceptable
//	  >0       >0     RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
//	               or RCV.NXT =< SEG.SEQ+SEG.LEN-1 < RCV.NXT+RCV.WND
func (c *Conn) acceptable(seg *Segment) bool {
	wnd := c.rcv.wnd
	n := seg.Len()
	switch {
	case n == 0 && wnd == 0:
		return seg.Seq == c.rcv.nxt
	case n == 0:
		return seg.Seq.InWindow(c.rcv.nxt, wnd)
	case wnd == 0:
		return false
	default:
		return seg.Seq.InWindow(c.rcv.nxt, wnd) || seg.Seq.Add(n-1).InWindow(c.rcv.nxt, wnd)
	}
}

// zeroWindowAllowance makes the allowance RFC 9293 §3.10.7.4 asks for
// when the receive window is zero: "If the RCV.WND is zero, no segments
// will be acceptable, but special allowance should be made to accept valid
// ACKs, URGs, and RSTs"; §3.8.6 makes it a requirement for RST and URG
// (MUST-66). A segment with text that starts exactly at RCV.NXT loses its
// text and FIN, which do not fit, and goes on as a bare control segment,
// which the table of acceptable finds acceptable; the caller acknowledges
// the refused text. (Linux 6.x drops such a segment whole, ACK and URG
// with it, when its receive queue holds data, and answers with the same
// duplicate ACK.) It reports whether it took the text away.
func (c *Conn) zeroWindowAllowance(seg *Segment) bool {
	if c.rcv.wnd != 0 || seg.Seq != c.rcv.nxt || len(seg.Payload) == 0 || seg.Flags.Has(FlagSYN) {
		return false // (a SYN draws its challenge ACK as it is)
	}
	seg.Payload = nil
	seg.Flags &^= FlagFIN
	return true
}

// ackIfOwed sends the acknowledgment still owed at the end of a segment's
// processing, unless the connection is gone.
func (c *Conn) ackIfOwed() {
	if c.ackPending > 0 && c.state != StateClosed {
		c.sendACK()
	}
}

// trim cuts an acceptable segment down to the receive window: bytes before
// RCV.NXT were received already, bytes past RCV.NXT+RCV.WND do not fit
// ("segments with higher beginning sequence numbers" than the window are
// trimmed, RFC 9293 §3.10.7.4). SYN and FIN go with the bytes they sit on.
func (c *Conn) trim(seg *Segment) {
	if seg.Seq.LessThan(c.rcv.nxt) {
		skip := c.rcv.nxt.Sub(seg.Seq)
		if len(seg.Payload) > 0 {
			c.noteDuplicate(seg.Seq, MinSeq(c.rcv.nxt, seg.Seq.Add(uint32(len(seg.Payload)))))
		}
		if seg.Flags.Has(FlagSYN) {
			seg.Flags &^= FlagSYN
			skip--
			seg.Seq = seg.Seq.Add(1)
		}
		skip = min(skip, uint32(len(seg.Payload)))
		seg.Payload = seg.Payload[skip:]
		seg.Seq = seg.Seq.Add(skip)
	}
	wndEnd := c.rcv.nxt.Add(c.rcv.wnd)
	if seg.End().GreaterThan(wndEnd) {
		if seg.Flags.Has(FlagFIN) {
			seg.Flags &^= FlagFIN
		}
		if keep := wndEnd.Sub(seg.Seq); int(keep) < len(seg.Payload) && seg.Seq.LessThanEq(wndEnd) {
			seg.Payload = seg.Payload[:keep]
		}
	}
}

// inputSynchronized is RFC 9293 §3.10.7.4, "Otherwise" (SYN-RECEIVED and
// the synchronized states).
func (c *Conn) inputSynchronized(seg *Segment, now time.Time) {
	c.rcv.wnd = uint32(c.recvBuf.Free())

	if seg.Flags&(FlagACK|FlagRST|FlagSYN) == 0 && c.state != StateSynReceived && c.state != StateTimeWait {
		// Neither ACK, RST nor SYN on a synchronized connection: the
		// fifth step drops it whatever happens, and Linux drops it before
		// the first step, so an unacceptable one draws no ACK either.
		// (In SYN-RECEIVED and TIME-WAIT Linux answers such a segment
		// outside the window with an ACK, as the first step says, and so
		// does tinytcp.)
		return
	}
	if c.state == StateSynReceived && seg.Flags.Has(FlagSYN) && seg.Seq == c.irs {
		if !c.synAgain(seg, now) {
			return
		}
	}
	if c.state == StateSynReceived && seg.Flags&(FlagACK|FlagRST) == FlagACK &&
		(!seg.Ack.GreaterThan(c.snd.una) || seg.Ack.GreaterThan(c.snd.max)) {
		// An ACK that does not acknowledge our SYN gets the reset of the
		// fifth step, <SEQ=SEG.ACK><CTL=RST>, whatever its sequence
		// number: Linux and gVisor check the ACK of a half-open
		// connection first, so a stray segment of an old connection is
		// told at once that this one is not it.
		c.sendResetFor(seg)
		return
	}

	// PAWS (RFC 7323 §5.3) comes before the sequence check: a segment
	// with an old timestamp is an old duplicate, acknowledged and dropped.
	if c.paws(seg) {
		c.sendACK()
		return
	}

	// First, check the sequence number.
	refused := c.zeroWindowAllowance(seg)
	if !c.acceptable(seg) {
		c.unacceptable(seg, now)
		return
	}
	if refused {
		// The text did not fit: acknowledge that at once, unless a
		// segment sent on the way (data, a challenge ACK) does.
		c.ackPending++
		defer c.ackIfOwed()
	}
	c.updateTSRecent(seg)
	up, urgent := urgentPointer(seg) // SEG.SEQ+SEG.UP, before trimming moves SEG.SEQ
	c.trim(seg)
	inOrder := seg.Seq == c.rcv.nxt

	// Second, check the RST bit (RFC 5961 §3.2, adopted by RFC 9293):
	// only a RST exactly at RCV.NXT resets; one elsewhere in the window
	// draws a challenge ACK, so a blind attacker must guess exactly.
	if seg.Flags.Has(FlagRST) {
		if !inOrder {
			c.challengeACK(now)
			return
		}
		c.noteResetText(seg)
		c.reset()
		return
	}

	// Third, check security: no security compartments on a TUN link.

	// Fourth, check the SYN bit: "If the SYN bit is set, irrespective of
	// the sequence number, TCP endpoints MUST send a 'challenge ACK'"
	// (RFC 5961 §4).
	if seg.Flags.Has(FlagSYN) {
		if c.state == StateSynReceived && c.passive {
			// "If the connection was initiated with a passive OPEN, then
			// return this connection to the LISTEN state and return." A
			// SYN other than the retransmitted one (synAgain) means the
			// peer started over; like Linux and gVisor, tinytcp also tells
			// it so with a reset, as a closed port would.
			if rst, ok := ResetFor(seg); ok {
				c.sendReset(&rst)
			}
			c.setState(StateClosed)
			return
		}
		c.challengeACK(now)
		return
	}

	// Fifth, check the ACK field: "if the ACK bit is off, drop the segment
	// and return".
	if !seg.Flags.Has(FlagACK) {
		return
	}
	if !c.inputACK(seg, now) {
		return
	}

	// Sixth, check the URG bit (urgent.go).
	if urgent {
		c.inputURG(up)
	}

	// Seventh, process the segment text.
	fin := seg.Flags.Has(FlagFIN) && inOrder
	if len(seg.Payload) > 0 {
		more, textFIN := c.inputText(seg, inOrder, now)
		if !more {
			return
		}
		fin = textFIN
	} else if seg.Flags.Has(FlagFIN) && !inOrder && c.state.canReceiveData() {
		// A bare FIN beyond a gap: hold it with the data it follows.
		c.ooo.hold(seg.Seq, nil, true, c.recvBuf.Free())
		c.sendACK()
		return
	}

	// Eighth, check the FIN bit (only once everything before it arrived).
	if fin {
		c.inputFIN(now)
	}
	c.output(now)
}

// unacceptable handles a segment that failed the sequence test: "If an
// incoming segment is not acceptable, an acknowledgment should be sent in
// reply (unless the RST bit is set, if so drop the segment and return)".
func (c *Conn) unacceptable(seg *Segment, now time.Time) {
	if seg.Flags.Has(FlagRST) {
		return
	}
	if c.state == StateTimeWait && seg.Flags.Has(FlagFIN) {
		// A retransmitted FIN: our last ACK was lost. Acknowledge it and
		// restart the 2 MSL timeout (§3.10.7.4, eighth step, TIME-WAIT).
		c.timers[timerClose] = now.Add(2 * c.cfg.MSL)
	}
	if len(seg.Payload) > 0 && seg.End().LessThanEq(c.rcv.nxt) {
		c.noteDuplicate(seg.Seq, seg.End())
	}
	c.sendACK()
}

// synAgain handles the peer's SYN arriving again in SYN-RECEIVED. It
// returns true when the segment should go on through the ordinary steps.
//
// A bare SYN is a retransmission: our SYN,ACK was lost, so send it again
// (as Linux does) rather than the plain ACK of the first step. A SYN,ACK
// that acknowledges our SYN is the second half of a simultaneous open (RFC
// 9293 Figure 7): its SYN is old news, but its ACK completes the handshake,
// so the SYN is dropped and the rest processed (RFC 5961 §4 makes the same
// exception).
func (c *Conn) synAgain(seg *Segment, now time.Time) bool {
	if seg.Flags.Has(FlagACK) && seg.Ack.GreaterThan(c.snd.una) && seg.Ack.LessThanEq(c.snd.max) {
		seg.Flags &^= FlagSYN
		seg.Seq = seg.Seq.Add(1)
		return true
	}
	if !seg.Flags.Has(FlagRST) && !seg.Flags.Has(FlagACK) {
		c.sendSYN(now)
	}
	return false
}

// reset handles an acceptable RST (RFC 9293 §3.10.7.4, second step).
func (c *Conn) reset() {
	switch c.state {
	case StateSynReceived:
		if c.passive {
			// "If this connection was initiated with a passive OPEN (i.e.,
			// came from the LISTEN state), then return this connection to
			// LISTEN state and return. The user need not be informed."
			// The listening socket lives in the stack; this TCB goes away.
			c.setState(StateClosed)
			return
		}
		// "If this connection was initiated with an active OPEN (i.e.,
		// came from SYN-SENT state), then the connection was refused."
		c.fail(ErrConnectionRefused)
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		// "Any outstanding RECEIVEs and SEND should receive 'reset'
		// responses."
		c.fail(ErrConnectionReset)
	default:
		// CLOSING, LAST-ACK, TIME-WAIT: "enter the CLOSED state, delete
		// the TCB, and return".
		c.setState(StateClosed)
	}
}
