package tcp

// A segment as the protocol sees it: the header fields of RFC 9293 §3.1
// decoded into a plain struct (the "repr" to header.go's byte view), the
// options of options.go, and the payload. input.go consumes Segments and
// output.go produces them; the stack turns them into bytes and back.

// Flags are the control bits of the TCP header (RFC 9293 §3.1).
type Flags uint8

// The control bits, in header bit order.
const (
	FlagFIN Flags = 1 << iota // no more data from sender
	FlagSYN                   // synchronize sequence numbers
	FlagRST                   // reset the connection
	FlagPSH                   // push function
	FlagACK                   // acknowledgment field is significant
	FlagURG                   // urgent pointer field is significant
	FlagECE                   // ECN-Echo (RFC 3168)
	FlagCWR                   // congestion window reduced (RFC 3168)
)

// Has reports whether every bit of x is set in f.
func (f Flags) Has(x Flags) bool { return f&x == x }

// String spells the flags as tcpdump does: "S" SYN, "F" FIN, "R" RST,
// "P" PSH, "U" URG, "E" ECE, "W" CWR, and "." for ACK, so a SYN-ACK is "S.".
func (f Flags) String() string {
	var b [8]byte
	n := 0
	for _, fl := range [...]struct {
		bit Flags
		c   byte
	}{{FlagSYN, 'S'}, {FlagFIN, 'F'}, {FlagRST, 'R'}, {FlagPSH, 'P'}, {FlagURG, 'U'}, {FlagECE, 'E'}, {FlagCWR, 'W'}, {FlagACK, '.'}} {
		if f.Has(fl.bit) {
			b[n] = fl.c
			n++
		}
	}
	if n == 0 {
		return "none"
	}
	return string(b[:n])
}

// SACKBlock is one block of a SACK option (RFC 2018 §3): the receiver holds
// the bytes from Left up to, not including, Right.
type SACKBlock struct {
	Left, Right Seq
}

// MaxSACKBlocks is the most blocks one option can carry (4 without
// timestamps, 3 with them; RFC 2018 §3).
const MaxSACKBlocks = 4

// Options are the TCP options tinytcp understands (RFC 9293 §3.2, RFC 7323,
// RFC 2018). The zero value means "no options". Unknown options are skipped
// when parsing (MUST-6) and never produced.
type Options struct {
	MSS            uint16 // maximum segment size; 0 = option absent
	HasWindowScale bool   // window scale option present
	WindowScale    uint8  // shift count, meaningful when HasWindowScale
	SACKPermitted  bool   // SACK-permitted option present (SYN only)
	HasTimestamps  bool   // timestamps option present
	TSVal, TSEcr   uint32 // timestamp value and echo reply
	NumSACK        uint8  // number of valid entries in SACK
	SACK           [MaxSACKBlocks]SACKBlock
}

// SACKBlocks returns the valid SACK blocks.
func (o *Options) SACKBlocks() []SACKBlock { return o.SACK[:o.NumSACK] }

// Segment is one TCP segment: header fields, options and payload.
// Window is the raw 16-bit field; scaling (RFC 7323 §2) is the TCB's job.
type Segment struct {
	SrcPort, DstPort uint16
	Seq              Seq    // SEG.SEQ
	Ack              Seq    // SEG.ACK, meaningful with FlagACK
	Flags            Flags  // control bits
	Window           uint16 // SEG.WND as carried, before scaling
	Urgent           uint16 // SEG.UP, meaningful with FlagURG
	Options          Options
	Payload          []byte
}

// Len is SEG.LEN, "the number of octets occupied by the data in the segment
// (counting SYN and FIN)" (RFC 9293 §3.3.1).
func (s *Segment) Len() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags.Has(FlagSYN) {
		n++
	}
	if s.Flags.Has(FlagFIN) {
		n++
	}
	return n
}

// End is the sequence number just past the segment: SEG.SEQ+SEG.LEN.
func (s *Segment) End() Seq { return s.Seq.Add(s.Len()) }
