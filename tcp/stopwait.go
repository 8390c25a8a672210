package tcp

// Stop-and-wait: the sender discipline TCP's sliding window replaced, kept
// as a teaching switch (Config.StopAndWait) so the two can be measured on
// the same link.
//
// A stop-and-wait sender (the ARQ of textbooks, "send one, wait for its
// ACK") has at most one segment unacknowledged. RFC 9293 §3.8.6 lets a
// sender have a whole window in flight; this mode lets it have one segment:
// the usable window is at most one MSS beyond SND.UNA, and nothing new goes
// while anything is in flight. So a connection moves at most one segment per
// round trip (plus the receiver's delayed-ACK wait, since a lone segment does
// not make a receiver ACK at once), where the sliding window moves a window
// per round trip.
//
// It is a sender discipline only: what we receive, and the windows and ACKs
// we send, are unchanged. Retransmission works as usual: after a timeout
// SND.NXT goes back to SND.UNA, and the one segment there is sent again.

// sendLimit bounds how far beyond SND.UNA output may send, given wnd, the
// peer's window, and mss, the payload of a full segment (the congestion
// window is applied after it, recovery.go). Without stop-and-wait it is wnd.
func (c *Conn) sendLimit(wnd, mss uint32) uint32 {
	if !c.cfg.StopAndWait {
		return wnd
	}
	if c.snd.nxt != c.snd.una {
		// A segment is in flight: the window ends where it ends, so
		// nothing new is usable until its ACK arrives.
		return c.snd.nxt.Sub(c.snd.una)
	}
	// Nothing in flight: one segment may go.
	return min(wnd, mss)
}
