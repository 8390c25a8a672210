package tcp

import "slices"

// The out-of-order queue: segments that arrived beyond RCV.NXT, held until
// the gap before them is filled (RFC 9293 §3.10.7.4, seventh step:
// "Segments with higher beginning sequence numbers SHOULD be held for later
// processing", SHLD-31). Without it one lost segment would cost the sender
// a whole window of retransmissions.
//
// The queue is bounded by the receive buffer: it never holds more bytes
// than the buffer has free, so whatever it holds fits once the gap closes,
// and a peer cannot make it grow past the window it was offered. Segments
// are kept sorted by sequence number; overlaps are trimmed when they are
// delivered. Not here yet: SACK blocks describing the queue (RFC 2018),
// which come with the flow-control issue.

type heldSegment struct {
	seq  Seq
	data []byte // a copy; the arriving buffer is reused
	fin  bool   // the segment carried a FIN after its data
}

type oooQueue struct {
	segs  []heldSegment
	bytes int // total data held
}

// hold keeps a copy of an out-of-order segment if it fits within limit
// bytes of held data. It reports whether the segment was kept.
func (q *oooQueue) hold(seq Seq, data []byte, fin bool, limit int) bool {
	if q.bytes+len(data) > limit {
		return false
	}
	i, found := slices.BinarySearchFunc(q.segs, seq, func(h heldSegment, s Seq) int {
		switch {
		case h.seq.LessThan(s):
			return -1
		case h.seq == s:
			return 0
		}
		return 1
	})
	if found && len(q.segs[i].data) >= len(data) && (q.segs[i].fin || !fin) {
		return true // a duplicate of what is already held
	}
	h := heldSegment{seq: seq, data: append([]byte(nil), data...), fin: fin}
	if found {
		q.bytes -= len(q.segs[i].data)
		q.segs[i] = h
	} else {
		q.segs = slices.Insert(q.segs, i, h)
	}
	q.bytes += len(data)
	return true
}

// next removes and returns the held data that continues the stream at nxt,
// trimmed of anything before nxt, and whether a FIN follows it. ok is false
// when the first held segment starts after nxt (the gap is still open).
func (q *oooQueue) next(nxt Seq) (data []byte, fin, ok bool) {
	for len(q.segs) > 0 {
		h := q.segs[0]
		if h.seq.GreaterThan(nxt) {
			return nil, false, false
		}
		q.segs = slices.Delete(q.segs, 0, 1)
		q.bytes -= len(h.data)
		end := h.seq.Add(uint32(len(h.data)))
		if end.LessThan(nxt) || (end == nxt && !h.fin) {
			continue // wholly old: an overlap already delivered
		}
		return h.data[nxt.Sub(h.seq):], h.fin, true
	}
	return nil, false, false
}

// empty reports whether nothing is held.
func (q *oooQueue) empty() bool { return len(q.segs) == 0 }

// blocks fills out with the SACK blocks of what is held (RFC 2018 §3),
// merging touching segments, the block holding latest first ("the first
// SACK block ... MUST specify the contiguous block of data containing the
// segment which triggered this ACK", RFC 2018 §4), and returns how many it
// wrote.
func (q *oooQueue) blocks(out []SACKBlock, latest Seq) int {
	var all []SACKBlock
	for _, h := range q.segs {
		end := h.seq.Add(uint32(len(h.data)))
		if n := len(all); n > 0 && h.seq.LessThanEq(all[n-1].Right) {
			all[n-1].Right = MaxSeq(all[n-1].Right, end)
			continue
		}
		if end != h.seq {
			all = append(all, SACKBlock{Left: h.seq, Right: end})
		}
	}
	n := 0
	for i, b := range all {
		if latest.InRange(b.Left, b.Right) && n < len(out) {
			out[n] = b
			n++
			all = append(all[:i:i], all[i+1:]...)
			break
		}
	}
	for _, b := range all {
		if n == len(out) {
			break
		}
		out[n] = b
		n++
	}
	return n
}
