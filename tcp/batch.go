package tcp

import "time"

// Aggregating ACKs over a batch of queued segments (RFC 9293 §3.10.7.4):
// "the processing of received segments MUST be implemented to aggregate
// ACK segments whenever possible (MUST-58). For example, if the TCP
// endpoint is processing a series of queued segments, it MUST process them
// all before sending any ACK segments (MUST-59)."
//
// The stack knows when several segments are queued (a device read that
// found more packets waiting). It calls HoldACKs before handing the first
// of them to a connection and FlushACKs after the last: in between, an ACK
// the TCB would send on its own is only noted, and FlushACKs sends one ACK
// that acknowledges everything the batch brought. A segment that carries
// data or a FIN goes out at once, and its ACK field settles what was owed.

// HoldACKs starts a batch: pure ACKs wait for FlushACKs.
func (c *Conn) HoldACKs() { c.holdACKs = true }

// FlushACKs ends a batch and sends the one ACK it owes, if any.
func (c *Conn) FlushACKs(now time.Time) {
	c.now = now
	c.holdACKs = false
	if c.ackOwed {
		c.ackOwed = false
		if c.state != StateClosed && c.state != StateListen && c.state != StateSynSent {
			c.sendACK()
		}
	}
}
