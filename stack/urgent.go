package stack

import "tinytcp/tcp"

// Urgent data (RFC 9293 §3.8.5; the protocol is in tcp/urgent.go) at the
// net.Conn boundary. Sending is SEND with the URGENT flag: WriteUrgent and
// TryWriteUrgent, the send(2) with MSG_OOB of a kernel socket. Received
// urgent data stays in the stream and is read with Read, as on a socket
// with SO_OOBINLINE; the application learns of it asynchronously from the
// channel UrgentNotify returns (MUST-32, the kernel's SIGURG) and asks how
// much of the stream is urgent with Urgent (MUST-33). There is no separate
// out-of-band byte.
//
// The channel has room for one signal and is signalled without blocking,
// with mu held, whenever the peer's urgent pointer advances beyond what the
// application has read, so a signal is never lost and never blocks the
// stack; several advances before the application looks make one signal,
// and Urgent then tells the latest state. The channel is never closed. It
// is made by the first UrgentNotify, with a signal in it if urgent data is
// already pending: what it would hold had it existed from the start.

// UrgentArrived implements tcp.UrgentNotifier: the TCB saw RCV.UP move
// beyond the data the application has read. Called with mu held.
func (s *Stack) UrgentArrived(t *tcp.Conn) {
	c := s.conns[keyOf(t.ID())]
	if c == nil || c.tcb != t {
		return
	}
	signal(c.urgent)
}

// WriteUrgent writes p as urgent data, blocking while the send buffer is
// full: the peer is told, in every segment until it acknowledges p, that the
// stream is urgent up to the last byte of p (the urgent pointer points just
// past it, RFC 9293 MUST-62). The bytes themselves travel in order with the
// rest of the stream. It is send(2) with MSG_OOB, except that p may be of any
// length (MUST-31), all of it urgent. The write deadline and the errors are
// Write's.
func (c *Conn) WriteUrgent(p []byte) (int, error) { return c.writeAll(p, c.TryWriteUrgent) }

// TryWriteUrgent is the non-blocking WriteUrgent: it queues what fits of p
// as urgent data, or returns ErrWouldBlock if nothing does.
func (c *Conn) TryWriteUrgent(p []byte) (int, error) { return c.tryWrite(p, true) }

// Urgent reports whether the peer has sent urgent data that has not been
// read through yet, and how much of the stream that is: n bytes from the
// next byte Read returns up to and including the last urgent byte, so
// reading n bytes leaves urgent mode (RFC 9293 §3.8.5, MUST-33). n may be
// more than is buffered when the peer's urgent data has not all arrived.
func (c *Conn) Urgent() (pending bool, n int) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.tcb.Urgent()
}

// UrgentNotify returns a channel that receives a value when the peer's
// urgent pointer advances beyond what has been read (RFC 9293 §3.8.5,
// MUST-32): urgent data is pending, or more of it. Signals do not queue up:
// after a receive, call Urgent to see the current state. The channel is
// the same for the life of the connection and is never closed.
func (c *Conn) UrgentNotify() <-chan struct{} {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.urgent == nil {
		c.urgent = make(chan struct{}, 1)
		if pending, _ := c.tcb.Urgent(); pending {
			signal(c.urgent)
		}
	}
	return c.urgent
}

var _ tcp.UrgentNotifier = (*Stack)(nil)
