package stack

import "time"

// Batches of queued packets (RFC 9293 §3.10.7.4, MUST-58 and MUST-59: a TCP
// processing a series of queued segments processes them all before sending
// any ACK). When the reader finds more packets waiting in the device after
// the one it blocked for (it looks behind large ones only, drainQueued),
// it takes them too, up to maxBatch, and hands them to the protocol under
// one hold of the lock. Each connection they reach holds its pure ACKs
// (tcp.Conn.HoldACKs) until the batch ends, then sends one. Devices that cannot tell whether a packet is waiting (tun.TryReader)
// give batches of one.

// maxBatch bounds a batch, so a flood cannot keep ACKs (and the lock) back
// for long.
const maxBatch = 64

// beginBatch starts collecting the connections a batch reaches. Called
// with mu held.
func (s *Stack) beginBatch() { s.batching = true }

// hold makes c keep its ACKs until endBatch. Called with mu held.
func (s *Stack) hold(c *Conn) {
	if !s.batching || c.held {
		return
	}
	c.held = true
	c.tcb.HoldACKs()
	s.batch = append(s.batch, c)
}

// endBatch lets every connection the batch reached send the ACK it owes.
// Called with mu held.
func (s *Stack) endBatch(now time.Time) {
	s.batching = false
	for i, c := range s.batch {
		c.held = false
		c.tcb.FlushACKs(now)
		s.settle(c)
		s.batch[i] = nil
	}
	s.batch = s.batch[:0]
}

// drainQueued delivers the packets already waiting in the device, without
// blocking, after the reader waited for one of size bytes. Called with mu
// held.
//
// It looks only behind a packet of at least half the MTU. A look that finds
// nothing costs a read(2) that fails with EAGAIN, with the lock held, on
// the way back to the blocking read, and the application the packet just
// woke waits for both: a request/response exchange would pay it every time.
// Large packets come in bursts, from a bulk sender, and there the look pays
// off: the burst's ACKs become one. A small packet (a request, an ACK) is
// seldom followed at once by another, and skipping the look costs nothing
// on the wire but an ACK where two held-back ones would have merged.
func (s *Stack) drainQueued(buf []byte, size int, now time.Time) {
	if size < s.mtu/2 {
		return
	}
	for i := 1; i < maxBatch; i++ {
		n, vouched, ok := s.tryReadPacket(buf)
		if !ok {
			return
		}
		s.deliver(buf[:n], vouched, now)
	}
}
