package tcp

// TCP options, RFC 9293 §3.2: parsing the option bytes of a header into
// Options (segment.go) and writing Options back out.
//
// Understood: End of Option List and No-Operation (RFC 9293), Maximum
// Segment Size (RFC 9293 §3.7.1), Window Scale and Timestamps (RFC 7323),
// SACK-Permitted and SACK (RFC 2018). Every other kind is skipped by its
// length byte: "A TCP implementation MUST ignore without error any TCP
// Option it does not implement, assuming that the option has a length
// field" (MUST-6). Options are read in any segment (MUST-5) and at any
// alignment (MUST-64); an illegal length is an error, never a panic or an
// endless loop (MUST-7).
//
// Left out: TCP-AO, MPTCP, TCP Fast Open and the experimental kinds, which
// tinytcp neither sends nor acts on; whether an option is allowed on a
// segment that carries it (SACK-Permitted outside a SYN, say) is the TCB's
// question, not the parser's.

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// Option kinds (IANA "TCP Option Kind Numbers").
const (
	optEOL           = 0 // End of Option List
	optNOP           = 1 // No-Operation
	optMSS           = 2 // Maximum Segment Size
	optWindowScale   = 3 // Window Scale
	optSACKPermitted = 4 // SACK-Permitted
	optSACK          = 5 // SACK
	optTimestamps    = 8 // Timestamps
)

// Option lengths, kind and length bytes included.
const (
	lenMSS           = 4
	lenWindowScale   = 3
	lenSACKPermitted = 2
	lenTimestamps    = 10
	lenSACKBlock     = 8 // each block of a SACK option, after its 2 bytes
)

// MaxOptionsLen is the most option bytes a header can carry.
const MaxOptionsLen = HeaderMaxLen - HeaderMinLen

// MaxWindowScale is the largest window shift. "If a Window Scale option is
// received with a shift.cnt value larger than 14, the TCP SHOULD log the
// error but MUST use 14 instead of the specified value." (RFC 7323 §2.3)
const MaxWindowScale = 14

// ErrBadOption reports a malformed option. Every option error wraps it;
// test with errors.Is(err, ErrBadOption).
var ErrBadOption = errors.New("tcp: bad option")

// The two ways an option is malformed. They wrap ErrBadOption and, being
// prebuilt values, cost no allocation when returned.
var (
	// ErrOptionTruncated reports an option whose length byte is missing
	// or that runs past the end of the options.
	ErrOptionTruncated error = &optionError{"tcp: bad option: runs past the end of the header"}
	// ErrOptionLength reports a length byte under 2, or a length that is
	// wrong for a known kind (SACK: not 2+8n with 1 <= n <= 4).
	ErrOptionLength error = &optionError{"tcp: bad option: illegal length"}
)

type optionError struct{ msg string }

func (e *optionError) Error() string { return e.msg }
func (e *optionError) Unwrap() error { return ErrBadOption }

// ParseOptions resets o and fills it from the option bytes b (a header's
// OptionBytes). Parsing stops at End of Option List or the end of b. A
// window shift over 14 is clamped to 14 (RFC 7323 §2.3). An option that is
// repeated counts as its last occurrence. On a malformed option it returns
// ErrOptionTruncated or ErrOptionLength, both wrapping ErrBadOption, and o
// keeps the options parsed before the bad one. ParseOptions does not
// allocate.
func ParseOptions(b []byte, o *Options) error {
	*o = Options{}
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case optEOL:
			return nil
		case optNOP:
			i++
			continue
		}
		if len(b)-i < 2 {
			return ErrOptionTruncated
		}
		n := int(b[i+1])
		if n < 2 {
			return ErrOptionLength // MUST-7: a zero length would loop forever
		}
		if n > len(b)-i {
			return ErrOptionTruncated
		}
		data := b[i+2 : i+n]
		switch kind {
		case optMSS:
			if n != lenMSS {
				return ErrOptionLength
			}
			o.MSS = binary.BigEndian.Uint16(data)
		case optWindowScale:
			if n != lenWindowScale {
				return ErrOptionLength
			}
			o.HasWindowScale = true
			o.WindowScale = min(data[0], MaxWindowScale)
		case optSACKPermitted:
			if n != lenSACKPermitted {
				return ErrOptionLength
			}
			o.SACKPermitted = true
		case optSACK:
			blocks := len(data) / lenSACKBlock
			if len(data)%lenSACKBlock != 0 || blocks < 1 || blocks > MaxSACKBlocks {
				return ErrOptionLength
			}
			o.SACK = [MaxSACKBlocks]SACKBlock{}
			for j := range blocks {
				blk := data[j*lenSACKBlock : (j+1)*lenSACKBlock]
				o.SACK[j] = SACKBlock{
					Left:  Seq(binary.BigEndian.Uint32(blk[0:4])),
					Right: Seq(binary.BigEndian.Uint32(blk[4:8])),
				}
			}
			o.NumSACK = uint8(blocks)
		case optTimestamps:
			if n != lenTimestamps {
				return ErrOptionLength
			}
			o.HasTimestamps = true
			o.TSVal = binary.BigEndian.Uint32(data[0:4])
			o.TSEcr = binary.BigEndian.Uint32(data[4:8])
		}
		i += n
	}
	return nil
}

// layout returns the length Marshal writes and how many SACK blocks fit in
// what is left of the 40 bytes (3 next to timestamps, 4 alone).
func (o *Options) layout() (n, sackBlocks int) {
	if o.MSS != 0 {
		n += lenMSS
	}
	switch {
	case o.HasTimestamps: // NOP,NOP,TS or SACK-Permitted,TS
		n += 2 + lenTimestamps
	case o.SACKPermitted: // NOP,NOP,SACK-Permitted
		n += 2 + lenSACKPermitted
	}
	if o.HasWindowScale { // NOP,WS
		n += 1 + lenWindowScale
	}
	sackBlocks = min(int(o.NumSACK), MaxSACKBlocks, (MaxOptionsLen-n-4)/lenSACKBlock)
	if sackBlocks > 0 { // NOP,NOP,SACK
		n += 4 + sackBlocks*lenSACKBlock
	}
	return n, sackBlocks
}

// Len returns the number of bytes Marshal writes: a multiple of 4, at most
// MaxOptionsLen.
func (o *Options) Len() int {
	n, _ := o.layout()
	return n
}

// Marshal writes the options into b in the order Linux sends them and
// returns their length, Len(). On a SYN that is
//
//	MSS, SACK-Permitted, Timestamps, NOP, Window Scale
//
// (Linux packs SACK-Permitted into the two bytes before Timestamps that
// would otherwise be NOP,NOP); on other segments
//
//	NOP, NOP, Timestamps, NOP, NOP, SACK
//
// Each option is padded with NOPs in front to keep the next one 4-byte
// aligned, so no trailing padding is ever needed. SACK blocks that do not
// fit in 40 bytes are left out, the first ones kept (RFC 2018 §4: the first
// block reports the most recent data). A window shift is written clamped to
// 14. b must hold Len() bytes. Marshal does not allocate.
func (o *Options) Marshal(b []byte) int {
	n, sackBlocks := o.layout()
	b = b[:n]
	i := 0
	if o.MSS != 0 {
		b[i], b[i+1] = optMSS, lenMSS
		binary.BigEndian.PutUint16(b[i+2:], o.MSS)
		i += lenMSS
	}
	switch {
	case o.HasTimestamps:
		if o.SACKPermitted {
			b[i], b[i+1] = optSACKPermitted, lenSACKPermitted
		} else {
			b[i], b[i+1] = optNOP, optNOP
		}
		b[i+2], b[i+3] = optTimestamps, lenTimestamps
		binary.BigEndian.PutUint32(b[i+4:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+8:], o.TSEcr)
		i += 2 + lenTimestamps
	case o.SACKPermitted:
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACKPermitted, lenSACKPermitted
		i += 2 + lenSACKPermitted
	}
	if o.HasWindowScale {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optWindowScale, lenWindowScale, min(o.WindowScale, MaxWindowScale)
		i += 1 + lenWindowScale
	}
	if sackBlocks > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACK, byte(2+sackBlocks*lenSACKBlock)
		i += 4
		for _, blk := range o.SACK[:sackBlocks] {
			binary.BigEndian.PutUint32(b[i:], uint32(blk.Left))
			binary.BigEndian.PutUint32(b[i+4:], uint32(blk.Right))
			i += lenSACKBlock
		}
	}
	return n
}

// String describes the options as tcpdump does, in the order Marshal writes
// them and without the NOPs: "mss 1460,sackOK,TS val 1 ecr 0,wscale 7" on a
// SYN, "TS val 5 ecr 4,sack 1 {100:200}" on an ACK. No options give "".
func (o Options) String() string {
	var buf [160]byte
	b := buf[:0]
	sep := func() {
		if len(b) > 0 {
			b = append(b, ',')
		}
	}
	if o.MSS != 0 {
		b = strconv.AppendUint(append(b, "mss "...), uint64(o.MSS), 10)
	}
	if o.SACKPermitted {
		sep()
		b = append(b, "sackOK"...)
	}
	if o.HasTimestamps {
		sep()
		b = strconv.AppendUint(append(b, "TS val "...), uint64(o.TSVal), 10)
		b = strconv.AppendUint(append(b, " ecr "...), uint64(o.TSEcr), 10)
	}
	if o.HasWindowScale {
		sep()
		b = strconv.AppendUint(append(b, "wscale "...), uint64(o.WindowScale), 10)
	}
	if blocks := o.SACK[:min(int(o.NumSACK), MaxSACKBlocks)]; len(blocks) > 0 {
		sep()
		b = strconv.AppendUint(append(b, "sack "...), uint64(len(blocks)), 10)
		b = append(b, ' ')
		for _, blk := range blocks {
			b = strconv.AppendUint(append(b, '{'), uint64(blk.Left), 10)
			b = strconv.AppendUint(append(b, ':'), uint64(blk.Right), 10)
			b = append(b, '}')
		}
	}
	return string(b)
}
