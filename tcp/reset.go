package tcp

// ResetFor answers a segment that arrived for a connection that does not
// exist (RFC 9293 §3.10.7.1, "If the state is CLOSED"):
//
//	"An incoming segment containing a RST is discarded. An incoming segment
//	not containing a RST causes a RST to be sent in response. ... If the ACK
//	bit is off, sequence number zero is used,
//	    <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
//	If the ACK bit is on,
//	    <SEQ=SEG.ACK><CTL=RST>"
//
// It returns the reset to send, with the ports swapped, and whether to send
// one at all.
func ResetFor(seg *Segment) (Segment, bool) {
	if seg.Flags.Has(FlagRST) {
		return Segment{}, false
	}
	rst := Segment{SrcPort: seg.DstPort, DstPort: seg.SrcPort}
	if seg.Flags.Has(FlagACK) {
		rst.Seq = seg.Ack
		rst.Flags = FlagRST
	} else {
		rst.Ack = seg.Seq.Add(seg.Len())
		rst.Flags = FlagRST | FlagACK
	}
	return rst, true
}
