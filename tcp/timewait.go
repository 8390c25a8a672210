package tcp

// A new SYN for a 4-tuple in TIME-WAIT (RFC 9293 §3.10.7.4 allows the
// reopening, MAY-2; RFC 6191 says when it is safe). TIME-WAIT exists so that
// old duplicates of the previous incarnation cannot be taken for new data;
// a SYN whose numbers are beyond anything that incarnation used cannot be
// one of them. With timestamps (RFC 7323) the check is sharper than with
// sequence numbers, which is how timestamps shorten TIME-WAIT in practice
// (SHLD-4).

// AcceptsNewIncarnation reports whether seg, a SYN that arrived for this
// connection in TIME-WAIT, may open a new connection in its place
// (RFC 6191 §2):
//
//   - both incarnations use timestamps: its TSval is newer than the last
//     one seen, or equal with a higher sequence number;
//   - otherwise: its sequence number is above the last one seen.
//
// If not, the SYN is processed by TIME-WAIT itself.
func (c *Conn) AcceptsNewIncarnation(seg *Segment) bool {
	if c.state != StateTimeWait || seg.Flags&(FlagSYN|FlagACK|FlagRST) != FlagSYN {
		return false
	}
	seqNewer := seg.Seq.GreaterThan(c.rcv.nxt)
	if c.tsOK && seg.Options.HasTimestamps {
		d := int32(seg.Options.TSVal - c.tsRecent)
		return d > 0 || (d == 0 && seqNewer)
	}
	return seqNewer
}
