package tcp

import "time"

// The options negotiated on the SYNs beyond MSS and window scale:
// timestamps (RFC 7323 §3 to §5: RTTM, round-trip measurement, and PAWS,
// protection against wrapped sequence numbers) and selective
// acknowledgments (RFC 2018: the receiver reports the blocks it holds
// beyond a gap). tinytcp offers both on an active open, like Linux, and
// accepts each one the peer's SYN offers. The sender's use of SACK blocks
// (a scoreboard, RFC 6675) comes with the error-control issue; here the
// receiver reports them.

// tsClock returns our timestamp clock at now: milliseconds (RFC 7323 §5.4
// asks for a tick between 1 ms and 1 s) since the connection began, plus a
// per-connection offset so the values reveal nothing about uptime
// (RFC 7323 §7.1).
func (c *Conn) tsClock(now time.Time) uint32 {
	return uint32(now.Sub(c.tsBase).Milliseconds()) + c.tsOffset
}

// startTimestamps starts our timestamp clock when the ISS is chosen.
func (c *Conn) startTimestamps(now time.Time) {
	c.tsBase = now
	c.tsOffset = uint32(c.iss)*2654435761 + 1 // a multiplicative hash of the ISS
}

// negotiateOptions reads timestamps and SACK-permitted from the peer's SYN.
// On an active open we offered both, so the peer's answer decides; on a
// passive open we accept what was offered.
func (c *Conn) negotiateOptions(seg *Segment) {
	c.tsOK = seg.Options.HasTimestamps
	if c.tsOK {
		c.tsRecent = seg.Options.TSVal
	}
	c.sackOK = seg.Options.SACKPermitted
}

// synOptions adds timestamps and SACK-permitted to a SYN or SYN,ACK.
func (c *Conn) synOptions(o *Options) {
	if c.state == StateSynSent || c.tsOK {
		o.HasTimestamps = true
		o.TSVal = c.tsClock(c.now)
		o.TSEcr = c.tsRecent // 0 on a first SYN
	}
	if c.state == StateSynSent || c.sackOK {
		o.SACKPermitted = true
	}
}

// stamp adds the options every non-SYN segment carries once negotiated:
// timestamps on every segment but a RST (RFC 7323 §3.2), and SACK blocks on
// an ACK without data while segments wait beyond a gap (RFC 2018 §4; data
// segments go without, so a full-sized one still fits the MSS).
func (c *Conn) stamp(seg *Segment) {
	if c.tsOK && !seg.Flags.Has(FlagRST) {
		seg.Options.HasTimestamps = true
		seg.Options.TSVal = c.tsClock(c.now)
		seg.Options.TSEcr = c.tsRecent
	}
	if c.sackOK && seg.Flags.Has(FlagACK) && len(seg.Payload) == 0 && !seg.Flags.Has(FlagSYN) {
		max := MaxSACKBlocks
		if seg.Options.HasTimestamps {
			max = 3 // 40 bytes of options: 10 for timestamps, 2+8n for n blocks
		}
		blocks := seg.Options.SACK[:max]
		n := 0
		if c.dsackPending {
			// RFC 2883 §4: the D-SACK block comes first, reported once.
			blocks[0] = c.dsack
			c.dsackPending = false
			n = 1
		}
		n += c.ooo.blocks(blocks[n:], c.oooLatest)
		seg.Options.NumSACK = uint8(n)
	}
}

// noteDuplicate remembers data that arrived a second time, to be reported
// in a D-SACK block of the next ACK (RFC 2883): the sender learns its
// retransmission was not needed.
func (c *Conn) noteDuplicate(left, right Seq) {
	if c.sackOK && left.LessThan(right) {
		c.dsack, c.dsackPending = SACKBlock{Left: left, Right: right}, true
	}
}

// optionSpace is how many bytes of each data segment options take, which
// the effective send MSS leaves out (MUST-16).
func (c *Conn) optionSpace() uint32 {
	if c.tsOK {
		return 12 // NOP, NOP, timestamps
	}
	return 0
}

// paws reports whether seg is an old duplicate by its timestamp (RFC 7323
// §5.3, R1): a non-RST segment whose TSval is older than TS.Recent. The
// caller answers it with an ACK and drops it.
func (c *Conn) paws(seg *Segment) bool {
	return c.tsOK && seg.Options.HasTimestamps && !seg.Flags.Has(FlagRST) &&
		int32(seg.Options.TSVal-c.tsRecent) < 0
}

// updateTSRecent records the peer's timestamp if the segment covers the
// point we last acknowledged (RFC 7323 §4.3: "If SEG.TSval >= TS.Recent and
// SEG.SEQ =< Last.ACK.sent").
func (c *Conn) updateTSRecent(seg *Segment) {
	if c.tsOK && seg.Options.HasTimestamps && seg.Seq.LessThanEq(c.lastAckSent) &&
		int32(seg.Options.TSVal-c.tsRecent) >= 0 {
		c.tsRecent = seg.Options.TSVal
	}
}

// tsRTT returns an RTT sample from an echoed timestamp (RFC 7323 §4.1), or
// zero when the segment has none.
func (c *Conn) tsRTT(seg *Segment, now time.Time) time.Duration {
	if !c.tsOK || !seg.Options.HasTimestamps || seg.Options.TSEcr == 0 {
		return 0
	}
	ms := c.tsClock(now) - seg.Options.TSEcr
	if int32(ms) < 0 {
		return 0
	}
	return time.Duration(ms)*time.Millisecond + time.Millisecond/2
}
