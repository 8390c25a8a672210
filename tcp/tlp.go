package tcp

import (
	"fmt"
	"time"
)

// Tail loss probes (RFC 8985 §7, the TLP half of RACK-TLP). Fast
// retransmit needs ACKs to arrive after a loss; when the last segments of
// a flight are lost, or the last ACK is, none come, and only the
// retransmission timer would help, after an RTO of at least 200 ms. A
// receiver that aggregates its ACKs over queued segments (MUST-59) makes
// this more likely: a burst draws a single ACK, and losing it leaves the
// sender with nothing. TLP sends one probe after a probe timeout (PTO) of
// about two round trips: a new segment if one may go, else the last one
// again. Its ACK, with SACK, shows whatever is missing and starts an
// ordinary fast recovery.
//
// Probes need SACK to tell what the probe repaired, so they are used only
// when both ends sent SACK-permitted (RFC 8985 §7.2). The RACK half of
// RFC 8985, time-based loss detection, is left out.

// Probe timeout bounds (RFC 8985 §7.2; the floor is Linux's).
const (
	minPTO = 10 * time.Millisecond
	// maxAckDelay is WCDelAckT, the worst-case delayed ACK of a receiver
	// holding a lone segment.
	maxAckDelay = 200 * time.Millisecond
)

// tlpEligible reports whether the next timer may be a probe timeout
// rather than an RTO: data in flight on a synchronized connection with
// SACK, no recovery, no timeout, no probe already out.
func (c *Conn) tlpEligible() bool {
	return c.sackOK && c.state.Synchronized() && !c.rec.active && c.retries == 0 &&
		!c.persist && !c.tlpOut && c.snd.una != c.snd.max && c.rtt.srtt > 0
}

// pto is the probe timeout: two smoothed RTTs, plus the worst-case delayed
// ACK when only one segment is in flight, never later than the RTO.
func (c *Conn) pto() time.Duration {
	d := max(2*c.rtt.srtt, minPTO)
	if c.snd.max.Sub(c.snd.una) <= uint32(c.snd.mss) {
		d += maxAckDelay
	}
	return min(d, c.rtt.current())
}

// probe sends the tail loss probe (RFC 8985 §7.3): new data if the windows
// allow one segment, otherwise the last segment sent. The RTO is armed
// behind it.
func (c *Conn) probe(now time.Time) {
	c.Stats.TailLossProbes++
	c.tlpOut, c.tlpHigh = true, c.snd.max
	c.event(fmt.Sprintf("tail loss probe after %v", c.pto()))
	sent := c.snd.max
	if c.unsent() {
		c.output(now)
	}
	if c.snd.max == sent {
		size := uint32(c.snd.mss) - c.optionSpace()
		start := c.snd.una
		if flight := c.snd.max.Sub(c.snd.una); flight > size {
			start = c.snd.max.Add(^(size - 1)) // SND.MAX - size
		}
		c.sendAt(now, start, size)
	}
	c.timers[timerRetransmit] = now.Add(c.rtt.current())
}

// probeAcknowledged ends a probe episode once SND.UNA passes what was
// outstanding when the probe went out.
func (c *Conn) probeAcknowledged() {
	if c.tlpOut && c.snd.una.GreaterThanEq(c.tlpHigh) {
		c.tlpOut = false
	}
}
