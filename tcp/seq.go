package tcp

// Sequence-number arithmetic, RFC 9293 §3.4.
//
// "It is essential to remember that the actual sequence number space is
// finite, though very large. This space ranges from 0 to 2**32 - 1. Since the
// space is finite, all arithmetic dealing with sequence numbers must be
// performed modulo 2**32." (RFC 9293 §3.4)
//
// Comparisons are made on the signed difference of two numbers, so they are
// correct as long as the two are less than 2**31 apart, which the window
// sizes of TCP guarantee. Never compare two Seq values with < or >.

// Seq is a TCP sequence (or acknowledgment) number.
type Seq uint32

// Add returns s advanced by n bytes of sequence space.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the number of bytes from t up to s (s - t), modulo 2**32.
func (s Seq) Sub(t Seq) uint32 { return uint32(s - t) }

// LessThan reports whether s comes strictly before t.
func (s Seq) LessThan(t Seq) bool { return int32(s-t) < 0 }

// LessThanEq reports whether s comes before t or equals it.
func (s Seq) LessThanEq(t Seq) bool { return int32(s-t) <= 0 }

// GreaterThan reports whether s comes strictly after t.
func (s Seq) GreaterThan(t Seq) bool { return int32(s-t) > 0 }

// GreaterThanEq reports whether s comes after t or equals it.
func (s Seq) GreaterThanEq(t Seq) bool { return int32(s-t) >= 0 }

// InWindow reports whether start <= s < start+size, the test RFC 9293
// §3.10.7.4 applies to segment edges ("RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND").
// An empty window contains nothing.
func (s Seq) InWindow(start Seq, size uint32) bool {
	return s.Sub(start) < size
}

// InRange reports whether lo <= s <= hi, inclusive at both ends, as in the
// acceptable-ACK test "SND.UNA < SEG.ACK =< SND.NXT" once the caller picks lo.
func (s Seq) InRange(lo, hi Seq) bool {
	return s.Sub(lo) <= hi.Sub(lo)
}

// MaxSeq returns the later of a and b.
func MaxSeq(a, b Seq) Seq {
	if a.LessThan(b) {
		return b
	}
	return a
}

// MinSeq returns the earlier of a and b.
func MinSeq(a, b Seq) Seq {
	if a.LessThan(b) {
		return a
	}
	return b
}
