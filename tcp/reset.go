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

// maxResetText bounds the diagnostic text kept from a RST.
const maxResetText = 128

// noteResetText keeps the text a RST carries (RFC 9293 §3.5.3: "TCP
// implementations SHOULD allow a received RST segment to include data
// (SHLD-2). It has been suggested that a RST segment could contain
// diagnostic data that explains the cause of the RST. No standard has yet
// been established for such data."). There is no standard, so it is kept
// as printable text, shortened, for Info and the trace; it never reaches
// the byte stream.
func (c *Conn) noteResetText(seg *Segment) {
	if len(seg.Payload) == 0 {
		return
	}
	b := make([]byte, 0, min(len(seg.Payload), maxResetText))
	for _, ch := range seg.Payload[:min(len(seg.Payload), maxResetText)] {
		if ch < 0x20 || ch > 0x7e {
			ch = '.'
		}
		b = append(b, ch)
	}
	c.resetText = string(b)
}
