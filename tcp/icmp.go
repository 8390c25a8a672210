package tcp

import (
	"errors"
	"time"
)

// ICMP errors for a connection, RFC 9293 §3.9.2.2 (from RFC 1122 §4.2.3.9):
// "TCP implementations MUST act on an ICMP error message passed up from the
// IP layer, directing it to the connection that created the error"
// (MUST-54). The stack finds the connection from the 4-tuple the error
// quotes and calls ICMPError, or PathMTU for "fragmentation needed". What
// happens depends on the message and on how far the connection has come:
//
//	message                           opening               synchronized
//	                                  (SYN-SENT, -RECEIVED)  (ESTABLISHED on)
//	source quench                     discarded (MUST-55)    discarded (MUST-55)
//	unreachable: net, host, src route abort, report          soft error (MUST-56, SHLD-25)
//	time exceeded, parameter problem  abort, report          soft error (MUST-56)
//	unreachable: protocol, port       abort, report          soft error (SHLD-26, RFC 5927)
//	unreachable: fragmentation needed -                      path MTU (RFC 1191)
//
// Soft errors "indicate soft error conditions", so TCP "MUST NOT abort the
// connection (MUST-56), and it SHOULD make the information available to
// the application (SHLD-25)". A soft error is kept with the connection
// (Info.SoftErr) until an acknowledgment of new data shows that the path
// works again; if the connection then times out, its error is the soft
// error joined with ErrTimeout, as Linux reports EHOSTUNREACH instead of
// ETIMEDOUT.
//
// A connection that is still opening takes every one of these errors as
// hard: the open fails at once with the error, instead of after minutes of
// SYN retransmissions. RFC 5461 describes this "non-standard, but widely
// implemented" exception to MUST-56 (BSD, Linux): an application trying
// several addresses moves on to the next one at once.
//
// Hard errors on a synchronized connection are kept as soft errors too,
// although SHLD-26 says to abort: "[RFC5927] notes that some
// implementations do not abort connections when an ICMP hard error is
// received for a connection that is in any of the synchronized states"
// (RFC 9293 §3.9.2.2). They are Linux and gVisor: a forged port
// unreachable would otherwise reset any connection whose 4-tuple and
// sequence number an attacker can guess (the blind connection-reset attack
// of RFC 5927). Source quench is gone for good (RFC 6633).
//
// Every error must quote a segment that is still in flight: RFC 5927 §4.1
// describes the check "SND.UNA =< SEG.SEQ < SND.NXT", with SND.MAX for
// SND.NXT here, since SND.NXT goes back after a retransmission timeout. An
// attacker must then guess a sequence number inside the flight, and on a
// connection with nothing in flight no error is accepted at all. (Linux
// accepts SEG.SEQ = SND.NXT too, so its pure ACKs can draw errors.)
//
// "Fragmentation needed" carries the MTU of the next hop (RFC 1191 §4). A
// lower path MTU lowers the effective send MSS (RFC 9293 §3.7.1, MUST-16:
// MMS_S is the path MTU less the IP header) and the segments in flight are
// sent again at once in the new size, which RFC 1191 §6.4 allows "in
// immediate response to a notification that the Path MTU has changed", but
// only when the MSS went down: RFC 1191 §6.4 warns against retransmitting
// "in response to every Datagram Too Big message", since a burst of big
// segments draws one message each. An MTU above the one in use is ignored,
// as RFC 1191 §3 asks, and one below MinPathMTU is taken as MinPathMTU.
//
// Left out: a path MTU cache per destination (each connection learns its
// own, as in gVisor; Linux keeps it with the route, so a new connection to
// the same host starts from it); raising the path MTU again after ten
// minutes (RFC 1191 §6.3); "fragmentation needed" in SYN-SENT, when the
// peer's MSS is not known yet and a SYN is never too big; reverting the RTO
// backoff on an unreachable, RFC 6069's refinement.

// ICMPKind is an ICMP error as TCP tells them apart: which error the
// application hears of. "Fragmentation needed" is not one: it goes to
// PathMTU.
type ICMPKind uint8

// The kinds. The stack maps the RFC 792 and RFC 1812 types and codes onto
// them.
const (
	ICMPNetUnreachable      ICMPKind = iota + 1 // destination unreachable, code 0 (and net unknown, prohibited, for TOS)
	ICMPHostUnreachable                         // code 1 (and host unknown, isolated, prohibited, for TOS, precedence)
	ICMPProtocolUnreachable                     // code 2
	ICMPPortUnreachable                         // code 3
	ICMPSourceRouteFailed                       // code 5
	ICMPTimeExceeded                            // time exceeded, in transit or in reassembly
	ICMPParameterProblem                        // parameter problem
	ICMPSourceQuench                            // source quench, deprecated (RFC 6633)
)

// The errors ICMP messages bring to the application, each mapped by the
// stack onto the errno Linux reports for it.
var (
	ErrNetUnreachable      = errors.New("network unreachable")                // ENETUNREACH
	ErrHostUnreachable     = errors.New("host unreachable")                   // EHOSTUNREACH
	ErrProtocolUnreachable = errors.New("protocol unreachable")               // ENOPROTOOPT
	ErrSourceRouteFailed   = errors.New("source route failed")                // EOPNOTSUPP
	ErrTimeExceeded        = errors.New("time to live exceeded in transit")   // EHOSTUNREACH
	ErrParameterProblem    = errors.New("parameter problem in the IP header") // EPROTO
	ErrMessageTooLong      = errors.New("path MTU below the minimum")         // EMSGSIZE
)

// err is what the application hears of a kind; a port unreachable is a
// refusal, as a RST in SYN-SENT is.
func (k ICMPKind) err() error {
	switch k {
	case ICMPNetUnreachable:
		return ErrNetUnreachable
	case ICMPHostUnreachable:
		return ErrHostUnreachable
	case ICMPProtocolUnreachable:
		return ErrProtocolUnreachable
	case ICMPPortUnreachable:
		return ErrConnectionRefused
	case ICMPSourceRouteFailed:
		return ErrSourceRouteFailed
	case ICMPTimeExceeded:
		return ErrTimeExceeded
	case ICMPParameterProblem:
		return ErrParameterProblem
	}
	return nil
}

// ICMPOutcome is what a connection did with an ICMP error, for the stack's
// counters.
type ICMPOutcome uint8

// The outcomes.
const (
	ICMPIgnored        ICMPOutcome = iota // the state has no use for it (CLOSED, LISTEN, TIME-WAIT)
	ICMPOutOfWindow                       // the quoted sequence number is not in flight (RFC 5927 §4.1)
	ICMPDiscarded                         // source quench, silently discarded (MUST-55)
	ICMPSoftError                         // kept and reported, the connection goes on (MUST-56, SHLD-25)
	ICMPAborted                           // the opening connection failed with it
	ICMPPathMTULowered                    // the send MSS went down and the flight was sent again
	ICMPPathMTUKept                       // the MTU was no lower than the one in use (RFC 1191 §3)
)

var icmpOutcomeNames = [...]string{
	ICMPIgnored:        "ignored",
	ICMPOutOfWindow:    "out_of_window",
	ICMPDiscarded:      "source_quench_discarded",
	ICMPSoftError:      "soft_error",
	ICMPAborted:        "aborted",
	ICMPPathMTULowered: "path_mtu_lowered",
	ICMPPathMTUKept:    "path_mtu_kept",
}

// String names the outcome in the style of the stack's counters.
func (o ICMPOutcome) String() string {
	if int(o) < len(icmpOutcomeNames) {
		return icmpOutcomeNames[o]
	}
	return "unknown"
}

// MinPathMTU is the lowest path MTU "fragmentation needed" can set. RFC 1191
// §3 only forbids going below 68 bytes; tinytcp stops at Linux's min_pmtu,
// so that a forged message cannot shrink a connection's segments to a few
// bytes each (the blind performance-degrading attack of RFC 5927).
const MinPathMTU = 552

// ipv4HeaderLen is the IPv4 header tinytcp sends, without options.
const ipv4HeaderLen = 20

// icmpState is what ICMP errors leave with a connection.
type icmpState struct {
	softErr error // the last soft error, until new data is acknowledged (SHLD-25)
	pathMTU int   // the path MTU "fragmentation needed" set; 0 while none did
}

// SoftError returns the soft error an ICMP message reported on this
// connection and that no acknowledgment has cleared yet, or nil (RFC 9293
// §3.9.2.2, SHLD-25).
func (c *Conn) SoftError() error { return c.icmp.softErr }

// ICMPError acts on an ICMP error of the given kind that quotes a segment
// of this connection with sequence number seq (MUST-54).
func (c *Conn) ICMPError(kind ICMPKind, seq Seq, now time.Time) ICMPOutcome {
	c.now = now
	err := kind.err()
	switch {
	case kind == ICMPSourceQuench:
		// "TCP implementations MUST silently discard any received ICMP
		// Source Quench messages (MUST-55)."
		return ICMPDiscarded
	case err == nil || !c.hearsICMP():
		return ICMPIgnored
	case !c.inFlight(seq):
		return ICMPOutOfWindow
	case c.state == StateSynSent || c.state == StateSynReceived:
		// Still opening: the open fails (RFC 5461). A passive one simply
		// goes away, as a reset would take it: it was never accepted, so
		// there is nobody to tell.
		c.fail(err)
		return ICMPAborted
	}
	// Synchronized: "a TCP implementation MUST NOT abort the connection
	// (MUST-56), and it SHOULD make the information available to the
	// application (SHLD-25)."
	c.reportSoftError(err)
	return ICMPSoftError
}

// PathMTU acts on "fragmentation needed and DF set" (RFC 1191 §4) with
// next-hop MTU mtu (0 from a router older than RFC 1191), quoting a
// segment of this connection with sequence number seq.
func (c *Conn) PathMTU(mtu int, seq Seq, now time.Time) ICMPOutcome {
	c.now = now
	switch {
	case c.state == StateSynSent || !c.hearsICMP():
		return ICMPIgnored
	case !c.inFlight(seq):
		return ICMPOutOfWindow
	}
	belowMin := mtu < MinPathMTU
	if belowMin {
		mtu = MinPathMTU
	}
	// RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS+20, MMS_S) - TCPhdrsize
	// - IPoptionsize, with MMS_S the path MTU less the IP header; the
	// options are taken off when a segment is built (optionSpace).
	mss := mtu - ipv4HeaderLen - HeaderMinLen
	if mss >= int(c.snd.mss) {
		// "A host MUST not increase its estimate of the Path MTU in
		// response to the contents of a Datagram Too Big message" (RFC
		// 1191 §3), and an equal one says nothing new.
		return ICMPPathMTUKept
	}
	c.icmp.pathMTU = mtu
	c.snd.mss = uint16(mss)
	if belowMin {
		// The path wants smaller packets than tinytcp will send: they
		// may go on being dropped. Linux records EMSGSIZE likewise.
		c.reportSoftError(ErrMessageTooLong)
	}
	c.resendFlight(now)
	return ICMPPathMTULowered
}

// hearsICMP reports whether ICMP errors mean anything in this state: not
// before a TCB has a peer (CLOSED, LISTEN), and not in TIME-WAIT, where
// nothing is in flight and nothing will be.
func (c *Conn) hearsICMP() bool {
	return c.state != StateClosed && c.state != StateListen && c.state != StateTimeWait
}

// inFlight is the check of RFC 5927 §4.1: SND.UNA =< seq < SND.MAX.
func (c *Conn) inFlight(seq Seq) bool {
	return seq.InWindow(c.snd.una, c.snd.max.Sub(c.snd.una))
}

// resendFlight sends the unacknowledged data again in segments of the new
// MSS, from SND.UNA, as a retransmission timeout would (go-back-N), but at
// once and without touching the congestion window: a smaller path is not
// congestion, and Linux's tcp_simple_retransmit leaves the window alone
// too. The congestion window stays the same number of bytes (Linux counts
// it in segments, so it keeps the count and sends fewer bytes). Linux
// resends only the segments larger than the new MSS; tinytcp keeps no
// segment boundaries and resends the whole flight.
func (c *Conn) resendFlight(now time.Time) {
	if !c.state.Synchronized() || c.snd.una == c.snd.max {
		return // only a SYN,ACK is in flight, or nothing is
	}
	c.rttStart = time.Time{} // Karn (MUST-18): no sample from a resent segment
	// The small segment Nagle's algorithm may be waiting on is part of the
	// flight being resent: nothing small is in flight any more.
	c.smallSent = false
	c.snd.nxt = c.snd.una
	c.output(now)
	c.armRetransmit(now)
}

// withSoftError is the error a connection that timed out reports: ErrTimeout
// joined with the soft error of the last ICMP message, if one is kept (SHLD-25).
func (c *Conn) withSoftError(err error) error {
	if err != ErrTimeout || c.icmp.softErr == nil {
		return err
	}
	return &timeoutError{soft: c.icmp.softErr}
}

// reportSoftError keeps err for the application, unless it switched the
// reports off (RFC 9293 §3.9.1.8, SHLD-20: "The application SHOULD be able
// to disable" them). The stack counts the message either way.
func (c *Conn) reportSoftError(err error) {
	if !c.cfg.NoSoftErrors {
		c.icmp.softErr = err
	}
}

// clearSoftError forgets the soft error: new data was acknowledged, so the
// path works (Linux clears its sk_err_soft on such an ACK too).
func (c *Conn) clearSoftError() { c.icmp.softErr = nil }

// timeoutError is a timeout after an ICMP soft error: errors.Is matches it
// with ErrTimeout and with the soft error, which the stack reports first.
type timeoutError struct{ soft error }

func (e *timeoutError) Error() string   { return ErrTimeout.Error() + ": " + e.soft.Error() }
func (e *timeoutError) Unwrap() []error { return []error{e.soft, ErrTimeout} }
