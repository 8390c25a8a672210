package tcp

import "time"

// Challenge ACKs (RFC 5961, adopted by RFC 9293 §3.10.7.4): a RST inside
// the window but not at RCV.NXT, a SYN on a synchronized connection, and
// an ACK older than the acceptable range are not believed; the connection
// answers with an ACK of its true state, which a genuine peer can act on
// and a blind attacker cannot see. RFC 5961 §7 asks for a limit on these
// answers, so that an attacker cannot turn them into a flood or count them
// to learn something (the 2016 side channel, CVE-2016-5696, came from a
// limit shared by all connections). tinytcp's limit is per connection:
// one challenge ACK per ChallengeACKInterval, as Linux's per-socket
// tcp_invalid_ratelimit and gVisor's TCPInvalidRateLimitOption.

// challengeACK sends a challenge ACK unless one went out less than
// ChallengeACKInterval ago.
func (c *Conn) challengeACK(now time.Time) {
	if d := c.cfg.ChallengeACKInterval; d > 0 && !c.lastChallenge.IsZero() && now.Sub(c.lastChallenge) < d {
		c.Stats.ChallengeACKsSkipped++
		return
	}
	c.lastChallenge = now
	c.Stats.ChallengeACKs++
	c.sendACK()
}
