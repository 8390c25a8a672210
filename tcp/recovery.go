package tcp

import (
	"fmt"
	"time"
)

// Loss recovery: what the sender resends, and when, once it knows a
// segment was lost.
//
// A retransmission timeout (timer.go) is the last resort: it waits at
// least an RTO, then starts again from SND.UNA with a window of one
// segment. Recovery without waiting comes from the ACKs themselves:
//
//   - Three duplicate ACKs say a segment is missing while those after it
//     arrive (fast retransmit, RFC 5681 §3.2). The sender resends it at
//     once and enters fast recovery: the congestion control algorithm
//     lowers the window (congestion.go) but the transfer goes on, new
//     data leaving as the duplicate ACKs show old data leaving the
//     network, until an ACK covers everything that was outstanding when
//     recovery began, the recovery point (NewReno, RFC 6582).
//   - With SACK (RFC 2018), each ACK also says which blocks above the hole
//     arrived. The sender keeps them in a scoreboard and follows RFC 6675:
//     "pipe", its estimate of the bytes still in the network, is what it
//     compares with cwnd, and the next segment to send is the first hole
//     judged lost, then new data. Several holes are repaired in one round
//     trip instead of one per round trip.
//   - An ACK that advances SND.UNA but stops short of the recovery point
//     (a partial ACK) shows the next hole: it is resent at once (RFC 6582
//     §3.2 step 5).
//   - Before three duplicate ACKs have come, each of the first two lets one
//     new segment out (limited transmit, RFC 3042), so that a small window
//     can still produce the third.
//
// Left out: RACK-TLP (RFC 8985) and ECN (RFC 3168).

// Tracer is implemented by Hooks that want to hear of a connection's loss
// recovery and congestion events, one line each, for the trace.
type Tracer interface {
	Event(c *Conn, what string)
}

// tracing reports whether the Hooks are a Tracer, so that a caller builds
// the text of an event only when someone will read it.
func (c *Conn) tracing() bool {
	_, ok := c.hooks.(Tracer)
	return ok
}

// event tells the Tracer, if there is one, what just happened, with the
// congestion window and ssthresh after it.
func (c *Conn) event(what string) {
	if t, ok := c.hooks.(Tracer); ok {
		ssthresh := "inf"
		if c.cong.SSThresh != ^uint32(0) {
			ssthresh = fmt.Sprint(c.cong.SSThresh)
		}
		t.Event(c, fmt.Sprintf("%s: cwnd %d ssthresh %s", what, c.cong.CWnd, ssthresh))
	}
}

// dupThresh is RFC 5681's and RFC 6675's DupThresh.
const dupThresh = 3

// maxScoreboard bounds the SACK blocks the sender remembers.
const maxScoreboard = 32

// scoreboard is the sender's record of SACKed data above SND.UNA (RFC 6675
// §3): sorted, disjoint blocks.
type scoreboard struct {
	blocks []SACKBlock
}

// add records a SACK block and returns how many bytes it newly covers.
func (s *scoreboard) add(b SACKBlock) uint32 {
	before := s.bytes()
	// Filtered in place: each block kept is written at or before the one
	// being read, so the scoreboard's array is reused, not reallocated per
	// ACK.
	out := s.blocks[:0]
	merged := b
	for _, x := range s.blocks {
		switch {
		case x.Right.LessThan(merged.Left):
			out = append(out, x)
		case merged.Right.LessThan(x.Left):
			out = append(out, x)
		default: // overlapping or touching: merge into one
			merged.Left = MinSeq(merged.Left, x.Left)
			merged.Right = MaxSeq(merged.Right, x.Right)
		}
	}
	i := 0
	for i < len(out) && out[i].Left.LessThan(merged.Left) {
		i++
	}
	out = append(out, SACKBlock{})
	copy(out[i+1:], out[i:])
	out[i] = merged
	if len(out) > maxScoreboard {
		out = out[:maxScoreboard] // forget the highest: it will be reported again
	}
	s.blocks = out
	return s.bytes() - before
}

// pruneBelow forgets what SND.UNA has passed.
func (s *scoreboard) pruneBelow(una Seq) {
	out := s.blocks[:0]
	for _, b := range s.blocks {
		if b.Right.LessThanEq(una) {
			continue
		}
		if b.Left.LessThan(una) {
			b.Left = una
		}
		out = append(out, b)
	}
	s.blocks = out
}

func (s *scoreboard) bytes() uint32 {
	n := uint32(0)
	for _, b := range s.blocks {
		n += b.Right.Sub(b.Left)
	}
	return n
}

// above returns the SACKed bytes above seq.
func (s *scoreboard) above(seq Seq) uint32 {
	n := uint32(0)
	for _, b := range s.blocks {
		switch {
		case b.Left.GreaterThanEq(seq):
			n += b.Right.Sub(b.Left)
		case b.Right.GreaterThan(seq):
			n += b.Right.Sub(seq)
		}
	}
	return n
}

// covering returns the end of the SACKed block that holds seq, if one does.
func (s *scoreboard) covering(seq Seq) (Seq, bool) {
	for _, b := range s.blocks {
		if seq.GreaterThanEq(b.Left) && seq.LessThan(b.Right) {
			return b.Right, true
		}
	}
	return 0, false
}

// recovery is the state of fast recovery.
type recovery struct {
	active  bool
	point   Seq    // RecoveryPoint: SND.MAX when recovery began (RFC 6675 §5)
	highRxt Seq    // HighRxt: the end of the last hole resent in this recovery
	dupACKs uint32 // duplicate ACKs during recovery, for pipe without SACK
}

// isLost is RFC 6675's IsLost(SeqNum), in bytes: more than
// (DupThresh - 1) * SMSS bytes above seq have been SACKed.
func (c *Conn) isLost(seq Seq) bool {
	return c.sb.above(seq) > (dupThresh-1)*uint32(c.snd.mss)
}

// lossDetected reports whether the ACKs so far show the segment at SND.UNA
// lost: three duplicate ACKs (RFC 5681 §3.2), enough SACKed above it
// (RFC 6675 IsLost), or a small flight's lower threshold (RFC 5827).
func (c *Conn) lossDetected() bool {
	return c.dupACKs >= dupThresh || (c.sackOK && c.isLost(c.snd.una)) || c.earlyRetransmit()
}

// earlyRetransmit is RFC 5827's rule for a small flight, which cannot
// produce three duplicate ACKs: when fewer than four segments are
// outstanding and no new data can go to make more ACKs, the threshold is
// one less than the outstanding segments, counted in duplicate ACKs, or
// with SACK in segments SACKed (RFC 5827 §3.1, §3.2). It is what lets the
// ACK of a tail loss probe (tlp.go) start a recovery.
func (c *Conn) earlyRetransmit() bool {
	size := uint32(c.snd.mss) - c.optionSpace()
	outstanding := (c.snd.max.Sub(c.snd.una) + size - 1) / size
	if outstanding >= 4 || outstanding < 2 || (c.unsent() && c.congestionRoom() >= size) {
		return false
	}
	if c.sackOK {
		return c.sb.bytes() >= (outstanding-1)*size
	}
	return uint32(c.dupACKs) >= outstanding-1
}

// pipe is RFC 6675's estimate of the bytes still in the network: what was
// sent and not acknowledged, less what the receiver holds (SACKed, or, with
// no SACK, one segment per duplicate ACK as RFC 5681's window inflation
// counts), less holes judged lost and not resent yet.
func (c *Conn) pipe() uint32 {
	flight := c.snd.max.Sub(c.snd.una)
	mss := uint32(c.snd.mss)
	delivered := max(c.sb.bytes(), c.rec.dupACKs*mss)
	lost := uint32(0)
	from := MaxSeq(c.snd.una, c.rec.highRxt)
	for _, b := range c.sb.blocks {
		if b.Left.GreaterThan(from) && c.isLost(from) {
			lost += b.Left.Sub(from)
		}
		from = MaxSeq(from, b.Right)
	}
	if delivered+lost >= flight {
		return 0
	}
	return flight - delivered - lost
}

// congestionRoom is how many more bytes the congestion window lets out
// from SND.NXT: cwnd - pipe in recovery, otherwise what fits under cwnd
// from SND.UNA, plus up to two segments of limited transmit.
func (c *Conn) congestionRoom() uint32 {
	if c.rec.active {
		if p := c.pipe(); p < c.cong.CWnd {
			return c.cong.CWnd - p
		}
		return 0
	}
	end := c.snd.una.Add(c.cong.CWnd)
	if c.dupACKs > 0 && c.dupACKs < dupThresh {
		// RFC 3042: "transmit new data ... provided the receiver's
		// advertised window allows, the total FlightSize would remain
		// less than or equal to cwnd plus 2*SMSS".
		end = end.Add(uint32(c.dupACKs) * uint32(c.snd.mss))
	}
	if end.GreaterThan(c.snd.nxt) {
		return end.Sub(c.snd.nxt)
	}
	return 0
}

// noteSACK takes the SACK blocks of an ACK into the scoreboard and reports
// whether they SACKed anything new. A block below the cumulative ACK, or
// inside the block after it, is a D-SACK (RFC 2883): the receiver got
// something twice, so a retransmission was not needed.
func (c *Conn) noteSACK(seg *Segment) bool {
	if !c.sackOK || seg.Options.NumSACK == 0 {
		return false
	}
	blocks := seg.Options.SACKBlocks()
	newly := uint32(0)
	for i, b := range blocks {
		dsack := b.Right.LessThanEq(seg.Ack) ||
			(i == 0 && len(blocks) > 1 && b.Left.GreaterThanEq(blocks[1].Left) && b.Right.LessThanEq(blocks[1].Right))
		switch {
		case dsack:
			if i == 0 {
				c.Stats.DSACKsReceived++
				// Every retransmission a D-SACK reports was spurious,
				// but a D-SACK can also answer a segment the network
				// duplicated; there can be no more spurious
				// retransmissions than retransmissions (RFC 3708 §2).
				if c.Stats.SpuriousRetransmits < c.Stats.Retransmits {
					c.Stats.SpuriousRetransmits++
				}
			}
		case !b.Left.LessThan(b.Right), b.Left.LessThan(seg.Ack), b.Right.GreaterThan(c.snd.max):
			// Nonsense or beyond what was sent: ignore (RFC 6675 §5.1
			// asks only for valid blocks).
		default:
			newly += c.sb.add(b)
		}
	}
	return newly > 0
}

// enterRecovery starts fast recovery at the third duplicate ACK (RFC 6675
// §5 steps 4.1 to 4.3; RFC 6582 §3.2 step 2): remember the recovery point,
// let the congestion control lower the window, resend the first hole.
func (c *Conn) enterRecovery(now time.Time) {
	c.Stats.FastRetransmits++
	c.startStall(now)
	c.onLossCongestion(false)
	c.rec = recovery{active: true, point: c.snd.max, highRxt: c.snd.una}
	c.rttStart = time.Time{} // Karn (MUST-18)
	// The line is built only for a Tracer.
	if c.tracing() {
		kind := "NewReno"
		if c.sackOK {
			kind = "SACK"
		}
		c.event(fmt.Sprintf("fast retransmit of %d (%d duplicate ACKs, %d bytes SACKed above), %s recovery until %d",
			c.snd.una, c.dupACKs, c.sb.above(c.snd.una), kind, c.rec.point))
	}
	c.resendHole(now, c.snd.una)
	c.recoverySend(now)
}

// partialACK handles an ACK that moved SND.UNA but not past the recovery
// point (RFC 6582 §3.2 step 5): the next hole is resent at once, unless
// this recovery resent it already.
func (c *Conn) partialACK(now time.Time) {
	if c.rec.highRxt.LessThanEq(c.snd.una) {
		c.resendHole(now, c.snd.una)
	}
	c.recoverySend(now)
}

// endRecovery leaves fast recovery: an ACK covered the recovery point, or
// a retransmission timeout gave up on it.
func (c *Conn) endRecovery(now time.Time, timeout bool) {
	if !c.rec.active {
		return
	}
	c.rec = recovery{}
	if !timeout {
		c.cc.OnRecoveryEnd(&c.cong, now)
		c.event("recovery done")
	}
}

// recoverySend sends what pipe allows (RFC 6675 §5 step 4.4, NextSeg):
// first the holes judged lost, then new data.
func (c *Conn) recoverySend(now time.Time) {
	mss := uint32(c.snd.mss)
	for c.congestionRoom() >= mss {
		start, ok := c.nextLostHole()
		if !ok {
			break
		}
		c.resendHole(now, start)
	}
	c.output(now)
}

// nextLostHole returns the start of the first hole above HighRxt that
// IsLost judges lost.
func (c *Conn) nextLostHole() (Seq, bool) {
	from := MaxSeq(c.snd.una, c.rec.highRxt)
	for _, b := range c.sb.blocks {
		if b.Left.GreaterThan(from) {
			if c.isLost(from) {
				return from, true
			}
			return 0, false
		}
		from = MaxSeq(from, b.Right)
	}
	return 0, false
}

// resendHole resends at most one segment from start, stopping at the next
// SACKed block, and moves HighRxt past it.
func (c *Conn) resendHole(now time.Time, start Seq) {
	n := uint32(c.snd.mss) - c.optionSpace()
	for _, b := range c.sb.blocks {
		if b.Left.GreaterThan(start) {
			n = min(n, b.Left.Sub(start))
			break
		}
	}
	sent := c.sendAt(now, start, n)
	c.rec.highRxt = MaxSeq(c.rec.highRxt, start.Add(sent))
}

// sendAt sends up to n bytes of the send buffer from seq (below SND.MAX,
// so a retransmission), with the FIN if the data ends there and a FIN was
// sent. It returns the sequence space the segment covers.
func (c *Conn) sendAt(now time.Time, seq Seq, n uint32) uint32 {
	start := c.sendStart()
	dataEnd := start.Add(uint32(c.sendBuf.Len()))
	var payload []byte
	if seq.LessThan(dataEnd) {
		payload = c.sendBuf.Peek(int(seq.Sub(start)), int(min(n, dataEnd.Sub(seq))))
	}
	flags := FlagACK
	end := seq.Add(uint32(len(payload)))
	if end == dataEnd {
		flags |= FlagPSH
		if c.closeSent && c.snd.max.GreaterThan(c.finSeq) {
			flags |= FlagFIN
		}
	}
	if len(payload) == 0 && !flags.Has(FlagFIN) {
		return 0
	}
	seg := Segment{Seq: seq, Flags: flags, Payload: payload}
	c.Stats.Retransmits++
	c.transmit(&seg)
	c.armRetransmit(now)
	return seg.End().Sub(seq)
}
