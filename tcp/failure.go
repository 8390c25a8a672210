package tcp

import "time"

// Excessive retransmission (RFC 9293 §3.8.3, RFC 1122 §4.2.3.5): how long
// TCP keeps retransmitting before it tells anybody, and before it gives up.
//
// Two thresholds measure the same trouble, the retransmission of one
// segment without progress:
//
//   - R1 (SHLD-10: at least 3 retransmissions). Reaching it, TCP gives
//     "negative advice" to IP, which may then try another route or
//     refresh its neighbour cache (MUST-20), and tells the application
//     that delivery is in trouble (SHLD-9). On a point-to-point TUN link
//     there is no other route, so the stack counts the advice and the
//     application sees it in Info.
//   - R2, where the connection is closed (MUST-20). By default R2 is a
//     count of retransmissions: 15 for data, Linux's tcp_retries2, which
//     is about 15 minutes with backoff (SHLD-11 asks for at least 100 s);
//     7 for a SYN, so an unanswered SYN is given up after 255 s, not
//     Linux's 127 s, because MUST-23 asks for at least 3 minutes. The
//     application can set R2 as a time instead, the user timeout of
//     RFC 5482 and Linux's TCP_USER_TIMEOUT (MUST-21).
//
// The clock of the user timeout starts, as in Linux and gVisor, at the
// first retransmission of the oldest unacknowledged segment (for a SYN, at
// its first transmission), and stops whenever an ACK moves SND.UNA: it
// measures how long the connection has been retransmitting without
// progress.

// DefaultR1 is the retransmission count at which delivery is reported to be
// in trouble (RFC 9293 §3.8.3, SHLD-10).
const DefaultR1 = 3

// NegativeAdvisor is implemented by Hooks that want the negative advice of
// RFC 9293 §3.8.3 (MUST-20): it is called once each time a connection's
// retransmissions reach R1.
type NegativeAdvisor interface {
	NegativeAdvice(c *Conn)
}

// startStall starts the user-timeout clock, unless it runs already: at a
// SYN's first transmission, and at a retransmission of data.
func (c *Conn) startStall(now time.Time) {
	if c.stallStart.IsZero() {
		c.stallStart = now
	}
}

// progress stops the user-timeout clock: an ACK moved SND.UNA.
func (c *Conn) progress() { c.stallStart = time.Time{} }

// givesUp reports whether the connection has reached R2 and must be closed.
func (c *Conn) givesUp(now time.Time) bool {
	if c.cfg.UserTimeout > 0 {
		return !c.stallStart.IsZero() && now.Sub(c.stallStart) >= c.cfg.UserTimeout
	}
	limit := c.cfg.MaxRetries
	if c.state == StateSynSent || c.state == StateSynReceived {
		limit = c.cfg.MaxSYNRetries
	}
	return c.retries >= limit
}

// clampToUserTimeout moves the retransmission timer no later than the
// moment the user timeout runs out, so R2 is kept to the millisecond, not
// at the next backed-off timeout (as Linux does since 4.19).
func (c *Conn) clampToUserTimeout() {
	t := c.timers[timerRetransmit]
	if c.cfg.UserTimeout <= 0 || c.persist || t.IsZero() || c.stallStart.IsZero() {
		return
	}
	if end := c.stallStart.Add(c.cfg.UserTimeout); end.Before(t) {
		c.timers[timerRetransmit] = end
	}
}

// reachedR1 is called after each retransmission timeout; at R1 it advises
// IP and, through Info.Trouble, the application.
func (c *Conn) reachedR1() {
	if c.retries != c.cfg.R1 {
		return
	}
	if a, ok := c.hooks.(NegativeAdvisor); ok {
		a.NegativeAdvice(c)
	}
}

// Trouble reports whether the connection has retransmitted R1 times or
// more without progress (RFC 9293 §3.8.3, SHLD-9).
func (c *Conn) Trouble() bool { return c.retries >= c.cfg.R1 }

// SetUserTimeout sets R2 as a time, the user timeout (MUST-21); 0 goes back
// to the retransmission counts.
func (c *Conn) SetUserTimeout(d time.Duration, now time.Time) {
	c.now = now
	c.cfg.UserTimeout = max(d, 0)
	c.clampToUserTimeout()
}
