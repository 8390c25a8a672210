package tcp

import "time"

// Sending: SYNs, data, FINs, ACKs and RSTs, within the send window
// (RFC 9293 §3.8.6) and the congestion window (RFC 5681).
//
// What goes on the wire is decided in one place, output, which walks the
// send buffer from SND.NXT and sends what both windows allow, then a FIN
// once the data is gone. Retransmission after a timeout rewinds SND.NXT to
// SND.UNA and calls output again (go-back-N from the oldest unacknowledged
// byte). The simple NewReno-style window here (slow start, congestion
// avoidance, one fast retransmit on three duplicate ACKs) is a placeholder
// that keeps a clean link fast and a lossy one alive; the error-control issue
// replaces it with full fast recovery, SACK and CUBIC. Not here yet: Nagle's
// algorithm, timestamps and SACK options. The urgent pointer every segment
// may carry is set in urgent.go.

// transmit fills in the fields every segment of this connection shares
// (ports, acknowledgment, window) and hands it to the stack.
func (c *Conn) transmit(seg *Segment) {
	seg.SrcPort = c.id.Local.Port()
	seg.DstPort = c.id.Remote.Port()
	if !seg.Flags.Has(FlagRST) {
		seg.Window = c.advertise(seg.Flags.Has(FlagSYN))
	}
	if !seg.Flags.Has(FlagSYN) {
		c.stamp(seg)
	}
	c.setUrgentPointer(seg) // URG and SEG.UP while SND.UP is ahead (urgent.go)
	if seg.Flags.Has(FlagACK) {
		seg.Ack = c.rcv.nxt
		c.lastAckSent = c.rcv.nxt
		// Every ACK we send acknowledges everything received so far, so a
		// delayed ACK is no longer owed (RFC 9293 §3.8.6.3).
		c.ackPending = 0
		c.ackOwed = false
		c.timers[timerDelayedACK] = time.Time{}
	}
	c.Stats.SegmentsSent++
	c.Stats.BytesSent += uint64(len(seg.Payload))
	c.hand(seg)
}

// hand gives a finished segment to the stack. The Hooks see a copy in
// c.out, not seg itself: a pointer passed through an interface method
// escapes, as far as the compiler can tell, so every Segment the senders
// build (sendACK's, sendData's) would be allocated on the heap, one per
// segment sent. Copying the ~100 bytes into the Conn lets them live on the
// stack; it is safe because Hooks.Transmit may not keep the segment past
// the call, and nothing sends while a Transmit is under way.
func (c *Conn) hand(seg *Segment) {
	if c.hooks == nil {
		return
	}
	c.out = *seg
	c.hooks.Transmit(c, &c.out)
	c.out.Payload = nil // hold no reference to the send buffer
}

// advertise computes the window field and remembers the right edge it
// offers. RCV.WND is the free space of the receive buffer, so a window never
// shrinks: data entering the buffer moves RCV.NXT right by exactly as much
// as it takes from the free space. A SYN's window is never scaled (RFC 7323
// §2.2).
func (c *Conn) advertise(syn bool) uint16 {
	c.rcv.wnd = uint32(c.recvBuf.Free())
	shift := c.rcv.shift
	if syn {
		shift = 0
	}
	field := min(c.rcv.wnd>>shift, 0xffff)
	if edge := c.rcv.nxt.Add(field << shift); edge.GreaterThan(c.rcv.adv) || c.rcv.adv == 0 {
		c.rcv.adv = edge
	}
	return uint16(field)
}

// sendSYN sends (or resends) our SYN: a bare SYN in SYN-SENT, a SYN,ACK in
// SYN-RECEIVED, with our options: MSS always (MUST-14), window scale when we
// may use it (RFC 7323 §1.3: a SYN,ACK carries it only if the SYN did).
func (c *Conn) sendSYN(now time.Time) {
	seg := Segment{Seq: c.iss, Flags: FlagSYN}
	seg.Options.MSS = uint16(c.cfg.MSS)
	if c.state == StateSynReceived {
		seg.Flags |= FlagACK
	}
	if c.state == StateSynSent || c.wsOK {
		seg.Options.HasWindowScale = true
		seg.Options.WindowScale = c.rcv.shift
	}
	c.synOptions(&seg.Options)
	c.startStall(now)
	if c.timers[timerRetransmit].IsZero() && c.rtt.backoff == 0 {
		// The first transmission is timed; a retransmission never is
		// (Karn's algorithm, MUST-18).
		c.rttStart, c.rttSeq = now, c.iss.Add(1)
	}
	c.transmit(&seg)
	c.armRetransmit(now)
}

// sendACK sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, or, inside a batch
// of queued segments, notes that one is owed (batch.go, MUST-59).
func (c *Conn) sendACK() {
	if c.holdACKs {
		c.ackOwed = true
		return
	}
	c.transmit(&Segment{Seq: c.snd.nxt, Flags: FlagACK})
}

// sendResetFor answers an unacceptable segment with <SEQ=SEG.ACK><CTL=RST>.
func (c *Conn) sendResetFor(seg *Segment) {
	c.transmit(&Segment{Seq: seg.Ack, Flags: FlagRST})
}

// sendReset sends a reset made by ResetFor as it is: unlike transmit, it
// keeps the acknowledgment number the reset carries.
func (c *Conn) sendReset(rst *Segment) {
	rst.SrcPort, rst.DstPort = c.id.Local.Port(), c.id.Remote.Port()
	c.Stats.SegmentsSent++
	c.hand(rst)
}

// sendStart is the sequence number of the first byte in the send buffer:
// SND.UNA, or ISS+1 while our SYN is unacknowledged.
func (c *Conn) sendStart() Seq {
	if c.snd.una == c.iss {
		return c.iss.Add(1)
	}
	return c.snd.una
}

// output sends new data and our FIN as far as the windows allow.
func (c *Conn) output(now time.Time) {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		return
	}
	mss := uint32(c.snd.mss) - c.optionSpace()
	c.restartAfterIdle(now)
	for {
		start := c.sendStart()
		dataEnd := start.Add(uint32(c.sendBuf.Len()))
		if c.snd.nxt.LessThan(c.snd.max) {
			// Resending after a timeout: the receiver holds what it
			// SACKed, so skip it (as Linux does; recovery.go).
			if end, ok := c.sb.covering(c.snd.nxt); ok {
				c.snd.nxt = MinSeq(end, c.snd.max)
				continue
			}
		}
		// The receiver's window (one segment in stop-and-wait mode,
		// stopwait.go), then the congestion window (recovery.go).
		wndEnd := c.snd.una.Add(c.sendLimit(c.snd.wnd, mss))
		avail := uint32(0)
		if wndEnd.GreaterThan(c.snd.nxt) {
			avail = min(wndEnd.Sub(c.snd.nxt), c.congestionRoom())
		}
		if c.snd.nxt.LessThan(dataEnd) {
			remaining := dataEnd.Sub(c.snd.nxt)
			n := min(remaining, mss, avail)
			if n == 0 {
				break
			}
			if n == mss {
				n = c.offloadSize(mss, remaining, avail)
			}
			// Sender silly-window avoidance (RFC 9293 §3.8.6.2.1, MUST-38):
			// send when (1) a full segment can go, or (2) the data is
			// pushed and all of it fits now, or (3) at least Fs = 1/2 of
			// the largest window the peer has offered can go; and (4), the
			// override timeout, when nothing is in flight to bring an ACK
			// that would open the window, as Linux does (its override
			// timeout is zero). The end of the data is "pushed" unless
			// Nagle's algorithm (RFC 9293 §3.7.4, SHLD-7) holds it back,
			// in Minshall's form that Linux uses: only while an earlier
			// small segment is unacknowledged, so a write that ends in a
			// partial segment is not held behind full ones. The
			// application can switch Nagle off (MUST-17), and a FIN
			// following the data sends it, as in Linux, and so does
			// urgent data not yet acknowledged (urgent.go).
			inFlight := c.snd.nxt != c.snd.una
			smallInFlight := c.smallSent && c.snd.una.LessThan(c.smallEnd)
			nagle := !c.cfg.NoDelay && !c.closeSent && !c.urgentMode() // Linux's rule: urgent data is never held
			windowLimited := n < remaining
			fractionOK := n >= c.snd.maxWnd/2
			if n < mss && inFlight && ((windowLimited && !fractionOK) || (!windowLimited && nagle && smallInFlight)) {
				break
			}
			payload := c.sendBuf.Peek(int(c.snd.nxt.Sub(start)), int(n))
			n = uint32(len(payload))
			flags := FlagACK
			if c.snd.nxt.Add(n) == dataEnd {
				flags |= FlagPSH // MUST-61: push the end of what was written
				if c.closeSent && avail > n {
					flags |= FlagFIN
				}
			}
			c.sendData(now, flags, payload)
			continue
		}
		if c.closeSent && c.snd.nxt == c.finSeq && avail > 0 {
			c.sendData(now, FlagFIN|FlagACK, nil)
			continue
		}
		break
	}
	c.maybePersist(now)
}

// offloadSize is how much one segment carries when a full segment can go
// and the link does segmentation offload (Config.SegmentOffload): as many
// whole segments of mss bytes as the offload limit, the data and the
// windows allow. The link cuts the result into the full segments the loop
// would have sent one by one; a shorter piece at the end goes through the
// loop on its own, so Nagle and silly-window avoidance judge it as before.
// Only the number of packets crossing the device changes.
func (c *Conn) offloadSize(mss, remaining, avail uint32) uint32 {
	limit := uint32(max(c.cfg.SegmentOffload, 0))
	if limit < 2*mss {
		return mss
	}
	return min(remaining, avail, limit) / mss * mss
}

// sendData sends one segment at SND.NXT and advances SND.NXT past it.
func (c *Conn) sendData(now time.Time, flags Flags, payload []byte) {
	seg := Segment{Seq: c.snd.nxt, Flags: flags, Payload: payload}
	end := seg.End()
	c.lastSend = now
	if c.snd.nxt.LessThan(c.snd.max) {
		c.Stats.Retransmits++
	} else if c.rttStart.IsZero() {
		c.rttStart, c.rttSeq = now, end
	}
	c.transmit(&seg)
	if len(payload) < int(uint32(c.snd.mss)-c.optionSpace()) {
		c.smallSent, c.smallEnd = true, end
	}
	c.snd.nxt = end
	c.snd.max = MaxSeq(c.snd.max, end)
	if c.persist {
		c.persist = false
		c.timers[timerRetransmit] = time.Time{}
	}
	c.armRetransmit(now)
}

// unsent reports whether data or a FIN is waiting to be sent.
func (c *Conn) unsent() bool {
	dataEnd := c.sendStart().Add(uint32(c.sendBuf.Len()))
	return c.snd.nxt.LessThan(dataEnd) || (c.closeSent && c.snd.nxt.LessThanEq(c.finSeq))
}

// maybePersist arms the persist timer when something waits to be sent but
// the peer's window is closed and nothing is in flight, so no ACK will come
// to reopen it (RFC 9293 §3.8.6.1, MUST-36).
func (c *Conn) maybePersist(now time.Time) {
	if c.unsent() && c.snd.una == c.snd.max && c.timers[timerRetransmit].IsZero() {
		c.persist = true
		c.timers[timerRetransmit] = now.Add(c.rtt.current())
	}
}

// armRetransmit starts the retransmission timer if it is not running
// (RFC 6298 §5.1), as a probe timeout when a tail loss probe may be sent
// first (tlp.go).
func (c *Conn) armRetransmit(now time.Time) {
	if !c.timers[timerRetransmit].IsZero() {
		return
	}
	c.tlpArmed = c.tlpEligible()
	if c.tlpArmed {
		c.timers[timerRetransmit] = now.Add(c.pto())
		return
	}
	c.timers[timerRetransmit] = now.Add(c.rtt.current())
}

// windowUpdate tells the peer about a window that reading has opened. Like
// Linux (and RFC 9293 §3.8.6.2.2's receiver silly-window avoidance), it
// speaks up only when it matters: the window the peer knows of has fallen
// to half the buffer or less, the new one is at least twice that, and it
// has grown by at least min(buffer/2, MSS). Otherwise the next ACK carries
// the new window anyway. A peer that cannot send even one segment hears at
// once; otherwise the update waits for the delayed-ACK timer, so a reply
// the application writes meanwhile carries it.
func (c *Conn) windowUpdate(now time.Time) {
	if !c.state.canReceiveData() {
		return
	}
	known := uint32(0)
	if c.rcv.adv.GreaterThan(c.rcv.nxt) {
		known = c.rcv.adv.Sub(c.rcv.nxt)
	}
	size := uint32(c.recvBuf.size)
	open := uint32(c.recvBuf.Free()) >> c.rcv.shift << c.rcv.shift
	threshold := min(size/2, uint32(c.cfg.MSS))
	if 2*known > size || open < 2*known || open-known < threshold {
		return
	}
	if known < uint32(c.snd.mss) {
		c.sendACK()
		return
	}
	c.ackPending = max(c.ackPending, 1)
	if c.timers[timerDelayedACK].IsZero() {
		c.timers[timerDelayedACK] = now.Add(c.cfg.DelayedACK)
	}
}

// initCongestion sets the initial window when the connection is
// established (congestion.go).
func (c *Conn) initCongestion() {
	c.cong.MSS = uint32(c.snd.mss)
	c.cc.Init(&c.cong, c.now)
}

// onAckCongestion grows the congestion window for newly acknowledged bytes
// (RFC 5681 §3.1).
func (c *Conn) onAckCongestion(acked uint32) {
	c.cong.MSS = uint32(c.snd.mss)
	c.cc.OnAck(&c.cong, acked, c.rtt.srtt, c.now)
}

// onLossCongestion lowers the window after a loss (RFC 5681 §3.1): at a
// retransmission timeout, or at the start of fast recovery.
func (c *Conn) onLossCongestion(timeout bool) {
	c.cong.MSS = uint32(c.snd.mss)
	flight := c.snd.max.Sub(c.snd.una)
	if timeout {
		c.cc.OnTimeout(&c.cong, flight, c.now)
	} else {
		c.cc.OnLoss(&c.cong, flight, c.now)
	}
}
