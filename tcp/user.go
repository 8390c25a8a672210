package tcp

import "time"

// The user calls of RFC 9293 §3.10.1 to §3.10.5: OPEN, SEND, RECEIVE, CLOSE
// and ABORT. STATUS is Info in tcb.go.

// Dial performs an active OPEN (RFC 9293 §3.10.1): it creates a TCB for id,
// sends a SYN and enters SYN-SENT.
func Dial(cfg Config, hooks Hooks, id ID, now time.Time) *Conn {
	c := newConn(cfg, hooks, id)
	c.now = now
	c.iss = c.cfg.ISN.ISN(id.Local, id.Remote, now)
	c.startTimestamps(now)
	c.snd.una = c.iss
	c.snd.nxt = c.iss.Add(1)
	c.snd.max = c.snd.nxt
	c.setState(StateSynSent)
	c.sendSYN(now)
	return c
}

// Listen performs a passive OPEN (RFC 9293 §3.10.1) for one incoming
// connection: it returns a TCB in LISTEN. The stack creates one when a
// segment reaches a listening port and feeds it that segment with Input; if
// the TCB is still in LISTEN afterwards, the segment did not start a
// connection and the TCB is dropped. (The listening socket itself, with its
// backlog, lives in the stack.)
func Listen(cfg Config, hooks Hooks, id ID) *Conn {
	c := newConn(cfg, hooks, id)
	c.passive = true
	c.state = StateListen
	return c
}

// Write is SEND (RFC 9293 §3.10.2): it queues as much of p as the send
// buffer holds and transmits what the windows allow. It returns the number
// of bytes queued; 0 with a nil error means the buffer is full.
func (c *Conn) Write(p []byte, now time.Time) (int, error) {
	return c.send(p, false, now)
}

// send is SEND, with the URGENT flag or without (WriteUrgent, urgent.go).
func (c *Conn) send(p []byte, urgent bool, now time.Time) (int, error) {
	c.now = now
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closeSent || c.state == StateClosed:
		return 0, ErrClosing // "error: connection closing"
	case c.state == StateListen:
		return 0, ErrClosing
	}
	if len(p) > c.sendBuf.Free() {
		c.tuneSend()
	}
	n := c.sendBuf.Write(p)
	if urgent && n > 0 {
		c.markUrgentQueued()
	}
	if c.state.canSendData() {
		c.output(now)
	}
	return n, nil
}

// SetNoDelay switches Nagle's algorithm off (true) or back on (MUST-17).
// Switching it off sends what Nagle was holding back.
func (c *Conn) SetNoDelay(on bool, now time.Time) {
	c.now = now
	c.cfg.NoDelay = on
	if on && c.state.canSendData() {
		c.output(now)
	}
}

// Read is RECEIVE (RFC 9293 §3.10.3): it moves received, in-order bytes into
// p. It returns 0 when nothing is buffered; ReadEOF tells whether more can
// come. Reading may open the receive window, and then a window update is
// sent.
func (c *Conn) Read(p []byte, now time.Time) int {
	c.now = now
	n := c.recvBuf.Read(p)
	if n > 0 {
		c.tuneRecv(n, now)
		c.urgentConsumed(n)
		if c.recvBuf.Len() == 0 {
			c.buffersEmptied(now)
		}
		c.windowUpdate(now)
	}
	return n
}

// Readable returns how many bytes Read can return now.
func (c *Conn) Readable() int { return c.recvBuf.Len() }

// ReadEOF reports whether no more data will arrive: the peer's FIN was
// received, or the connection is closed or failed.
func (c *Conn) ReadEOF() bool {
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2, StateSynSent, StateSynReceived, StateListen:
		return false
	}
	return true
}

// Writable reports whether a writer waiting for room in the send buffer
// should try again: a third of the buffer is free, or the connection is no
// longer one that queues data (it failed, is closing, or is still opening),
// so that a Write returns at once or the waiter sees the state it waits
// for. A third free is the same point as Linux's sk_stream_write_space,
// which wakes writers once free space reaches half of what is queued.
// Waking on every ACK instead would cost a wake-up and a Write call for
// each segment's worth of room.
func (c *Conn) Writable() bool {
	if c.err != nil || c.closeSent {
		return true
	}
	if c.state != StateEstablished && c.state != StateCloseWait {
		return true
	}
	return 3*c.sendBuf.Free() >= c.sendBuf.size
}

// Close is CLOSE (RFC 9293 §3.10.4): this side has no more data to send. A
// FIN follows the data already queued. Data may still be received (a
// half-close); see CloseRead for closing the receiving half too.
func (c *Conn) Close(now time.Time) {
	c.now = now
	switch c.state {
	case StateClosed:
		return
	case StateListen, StateSynSent:
		// "Delete the TCB and return to CLOSED state."
		c.setState(StateClosed)
		return
	case StateSynReceived, StateEstablished:
		// "If no SENDs have been issued and there is no pending data to
		// send, then form a FIN segment and send it, and enter FIN-WAIT-1
		// state; otherwise, queue for processing after entering
		// ESTABLISHED state." tinytcp queues the FIN behind the data.
		c.queueFIN()
		if c.state == StateEstablished {
			c.setState(StateFinWait1)
			c.output(now)
		}
	case StateCloseWait:
		c.queueFIN()
		c.setState(StateLastAck)
		c.output(now)
	default:
		// FIN-WAIT-1, FIN-WAIT-2, CLOSING, LAST-ACK, TIME-WAIT: already
		// closing; "error: connection closing" is not worth failing over.
	}
}

func (c *Conn) queueFIN() {
	if !c.closeSent {
		c.closeSent = true
		c.finSeq = c.sendStart().Add(uint32(c.sendBuf.Len()))
	}
}

// CloseRead says the application will read no more. Unread data is
// discarded. As in Linux (RFC 2525 §2.17), if data is waiting unread, or
// arrives later, the connection is reset, because the peer's data would
// otherwise be silently lost.
func (c *Conn) CloseRead(now time.Time) {
	c.now = now
	c.readClosed = true
	if c.recvBuf.Len() > 0 && c.state != StateClosed {
		c.Abort(now)
		return
	}
	if c.state == StateFinWait2 || c.state == StateFinWait1 {
		c.armCloseTimer(now)
	}
}

// Abort is ABORT (RFC 9293 §3.10.5): send a RST if the connection is
// synchronized and drop everything.
func (c *Conn) Abort(now time.Time) {
	c.now = now
	switch c.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		// "Send a reset segment: <SEQ=SND.NXT><CTL=RST>"
		c.transmit(&Segment{Seq: c.snd.max, Flags: FlagRST})
	}
	c.fail(ErrConnectionAborted)
}
