package tcp

import "time"

// Keep-alive, RFC 9293 §3.8.4: after a connection has been idle for a long
// time, send a probe that the peer must acknowledge, so a peer that
// vanished is noticed. It is off unless the application asks (MUST-24,
// MUST-25); the idle time is configurable (MUST-27) and at least two hours
// by default (MUST-28); a probe goes only after that much silence from the
// peer (MUST-26) and carries no data (SHLD-12); and one lost answer does
// not end the connection, only Count probes in a row without one
// (MUST-29). The defaults of Interval and Count are Linux's.

// KeepAlive configures keep-alive probes. The zero value is off.
type KeepAlive struct {
	Enabled  bool          // send probes at all (MUST-25: off by default)
	Idle     time.Duration // silence before the first probe; default 2 h (MUST-28)
	Interval time.Duration // between unanswered probes; default 75 s
	Count    int           // unanswered probes before giving up; default 9
}

// Keep-alive defaults (Linux's tcp_keepalive_time, _intvl, _probes).
const (
	DefaultKeepAliveIdle     = 2 * time.Hour
	DefaultKeepAliveInterval = 75 * time.Second
	DefaultKeepAliveCount    = 9
)

func (k KeepAlive) withDefaults() KeepAlive {
	if k.Idle <= 0 {
		k.Idle = DefaultKeepAliveIdle
	}
	if k.Interval <= 0 {
		k.Interval = DefaultKeepAliveInterval
	}
	if k.Count <= 0 {
		k.Count = DefaultKeepAliveCount
	}
	return k
}

// SetKeepAlive switches keep-alive probes on or off, with k's timing
// (zero fields take the defaults).
func (c *Conn) SetKeepAlive(k KeepAlive, now time.Time) {
	c.now = now
	c.cfg.KeepAlive = k.withDefaults()
	c.keepAliveProbes = 0
	c.armKeepAlive(now)
}

// KeepAlive returns the keep-alive settings in force.
func (c *Conn) KeepAlive() KeepAlive { return c.cfg.KeepAlive }

// armKeepAlive starts the idle countdown again, or stops it.
func (c *Conn) armKeepAlive(now time.Time) {
	if !c.cfg.KeepAlive.Enabled || !c.state.Synchronized() || c.state == StateTimeWait {
		c.timers[timerKeepAlive] = time.Time{}
		return
	}
	c.timers[timerKeepAlive] = now.Add(c.cfg.KeepAlive.Idle)
}

// heardFromPeer resets the keep-alive countdown: any segment shows the
// peer is there.
func (c *Conn) heardFromPeer(now time.Time) {
	c.keepAliveProbes = 0
	c.armKeepAlive(now)
}

// keepAliveExpired sends a probe, or gives up after Count unanswered ones.
// The probe is <SEQ=SND.NXT-1><ACK=RCV.NXT><CTL=ACK>: a sequence number
// already acknowledged, so the peer answers with an ACK and no data is
// needed (SHLD-12).
func (c *Conn) keepAliveExpired(now time.Time) {
	k := c.cfg.KeepAlive
	if !k.Enabled || !c.state.Synchronized() || c.state == StateTimeWait {
		return
	}
	if c.snd.una != c.snd.max {
		// Data is outstanding: the retransmission timer watches the peer.
		c.armKeepAlive(now)
		return
	}
	if c.keepAliveProbes >= k.Count {
		c.transmit(&Segment{Seq: c.snd.max, Flags: FlagRST})
		c.fail(ErrTimeout)
		return
	}
	c.keepAliveProbes++
	c.transmit(&Segment{Seq: c.snd.nxt.Add(^uint32(0)), Flags: FlagACK})
	c.timers[timerKeepAlive] = now.Add(k.Interval)
}
