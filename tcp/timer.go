package tcp

import (
	"fmt"
	"time"
)

// The connection's timers (RFC 9293 §3.8): retransmission (RFC 6298), which
// doubles as the persist timer while the peer's window is zero; delayed ACK;
// the close timer for TIME-WAIT (2*MSL, MUST-13) and for an orphaned
// FIN-WAIT-2; keep-alive; and the reclaim timer of idle buffers
// (buffer.go), which sends nothing. The Conn only records deadlines; the
// stack keeps one timer heap for all connections and calls OnTimer when
// NextDeadline passes.

// NextDeadline returns when OnTimer must next be called, or the zero time
// if no timer is running. The reclaim timer counts only when no other
// timer is running: otherwise it waits for the next OnTimer, so it never
// adds a wake-up of its own to a busy connection (and a busy connection
// needs its buffers anyway).
func (c *Conn) NextDeadline() time.Time {
	var next time.Time
	for i, t := range c.timers {
		if timer(i) != timerReclaim && !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		return c.timers[timerReclaim]
	}
	return next
}

// OnTimer runs every timer whose deadline is at or before now.
func (c *Conn) OnTimer(now time.Time) {
	c.now = now
	if due(c.timers[timerDelayedACK], now) {
		c.timers[timerDelayedACK] = time.Time{}
		if c.ackPending > 0 {
			c.sendACK()
		}
	}
	if due(c.timers[timerRetransmit], now) {
		c.timers[timerRetransmit] = time.Time{}
		switch {
		case c.persist:
			c.probeWindow(now)
		case c.tlpArmed:
			c.tlpArmed = false
			c.probe(now)
		default:
			c.retransmitTimeout(now)
		}
	}
	if due(c.timers[timerKeepAlive], now) {
		c.timers[timerKeepAlive] = time.Time{}
		c.keepAliveExpired(now)
	}
	if due(c.timers[timerReclaim], now) {
		c.timers[timerReclaim] = time.Time{}
		c.reclaimBuffers(now)
	}
	if due(c.timers[timerClose], now) {
		c.timers[timerClose] = time.Time{}
		switch c.state {
		case StateTimeWait:
			c.setState(StateClosed) // "the TCB is deleted"
		case StateFinWait2, StateFinWait1:
			c.fail(ErrTimeout)
		}
	}
}

func due(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// retransmitTimeout is RFC 6298 §5.4 to §5.6: resend the oldest
// unacknowledged segment, back the timer off and restart it. At R1 IP and
// the application hear of the trouble; at R2 the connection is given up
// (RFC 9293 §3.8.3, MUST-20; failure.go). Like Linux, giving up sends no
// RST: the peer has not been heard from for minutes, and the RFC asks only
// that the connection be closed.
func (c *Conn) retransmitTimeout(now time.Time) {
	if c.givesUp(now) {
		c.fail(ErrTimeout)
		return
	}
	c.retries++
	c.rtt.backoff++
	c.Stats.Timeouts++
	c.rttStart = time.Time{} // Karn: never time a retransmitted segment
	c.reachedR1()
	switch c.state {
	case StateSynSent, StateSynReceived:
		c.Stats.Retransmits++
		c.sendSYN(now)
	default:
		c.startStall(now)
		c.endRecovery(now, true)
		c.dupACKs = 0
		c.onLossCongestion(true)
		if c.tracing() {
			c.event(fmt.Sprintf("retransmission timeout %d, RTO %v", c.retries, c.rtt.current()))
		}
		c.snd.nxt = c.snd.una
		c.output(now)
		c.armRetransmit(now)
	}
	c.clampToUserTimeout()
}

// probeWindow sends a zero-window probe and backs the persist timer off
// (RFC 9293 §3.8.6.1, MUST-35, MUST-36). The probe is an ACK carrying the
// sequence number just below SND.UNA, which the receiver must answer with
// an ACK showing its current window; like Linux's, it needs no data. The
// window may stay closed indefinitely (MUST-37): probing never gives up.
func (c *Conn) probeWindow(now time.Time) {
	c.rtt.backoff = min(c.rtt.backoff+1, 12)
	c.probeUrgent() // first an ACK at SND.UNA that carries URG (urgent.go)
	c.transmit(&Segment{Seq: c.snd.una.Add(^uint32(0)), Flags: FlagACK})
	c.persist = true
	c.timers[timerRetransmit] = now.Add(c.rtt.current())
}
