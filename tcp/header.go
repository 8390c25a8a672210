package tcp

// The TCP header, RFC 9293 §3.1, as a checked byte view (Header) over the
// bytes, and the conversions between those bytes and a Segment (the plain
// struct of segment.go): ParseSegment reads one, MarshalHeader writes one.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                             Data                              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// ParseHeader checks every length once; after it returned a view, no
// accessor can panic. Left out: the checksum is neither checked nor computed
// here, because it covers the IPv4 pseudo-header, which only the stack sees
// (use ip.Sum with ip.PseudoHeaderSum, then SetChecksum); the reserved bits
// and the NS bit of RFC 3540 (historic) are ignored on input and written as
// zero.

import (
	"encoding/binary"
	"errors"
)

// Offsets of the TCP header fields.
const (
	hdrSrcPort    = 0  // source port
	hdrDstPort    = 2  // destination port
	hdrSeq        = 4  // sequence number
	hdrAck        = 8  // acknowledgment number
	hdrDataOffset = 12 // data offset (high nibble, in 32-bit words), reserved bits
	hdrFlags      = 13 // control bits, CWR (bit 7) to FIN (bit 0)
	hdrWindow     = 14 // window
	hdrUrgent     = 18 // urgent pointer
)

// ChecksumOffset is the offset of the checksum field in the header.
const ChecksumOffset = 16

// HeaderMinLen is the length of a TCP header without options.
const HeaderMinLen = 20

// HeaderMaxLen is the longest TCP header: data offset 15, 40 bytes of
// options.
const HeaderMaxLen = 60

// Errors of ParseHeader and ParseSegment. ErrTooShort and ErrDataOffset make
// the segment unreadable: drop it. ErrBadOption (options.go) leaves the
// header readable and the choice to the caller.
var (
	ErrTooShort   = errors.New("tcp: segment shorter than a TCP header")
	ErrDataOffset = errors.New("tcp: bad data offset")
)

// Header is a TCP segment: the header, options included, then the data.
// Only a view returned by ParseHeader is safe to read.
type Header []byte

// ParseHeader checks that b, the payload of an IPv4 packet, starts with a
// well-formed TCP header and returns a view of it aliasing b: ErrTooShort if
// b is shorter than 20 bytes, ErrDataOffset if the data offset is under 5
// words or runs past the end of b. Options are not looked at.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderMinLen {
		return nil, ErrTooShort
	}
	off := int(b[hdrDataOffset]>>4) * 4
	if off < HeaderMinLen || off > len(b) {
		return nil, ErrDataOffset
	}
	return Header(b), nil
}

// SrcPort returns the source port.
func (h Header) SrcPort() uint16 { return binary.BigEndian.Uint16(h[hdrSrcPort:]) }

// DstPort returns the destination port.
func (h Header) DstPort() uint16 { return binary.BigEndian.Uint16(h[hdrDstPort:]) }

// Seq returns the sequence number, SEG.SEQ.
func (h Header) Seq() Seq { return Seq(binary.BigEndian.Uint32(h[hdrSeq:])) }

// Ack returns the acknowledgment number, SEG.ACK.
func (h Header) Ack() Seq { return Seq(binary.BigEndian.Uint32(h[hdrAck:])) }

// DataOffset returns the header length in bytes, options included.
func (h Header) DataOffset() int { return int(h[hdrDataOffset]>>4) * 4 }

// Flags returns the control bits.
func (h Header) Flags() Flags { return Flags(h[hdrFlags]) }

// Window returns the window field as carried, before any scaling.
func (h Header) Window() uint16 { return binary.BigEndian.Uint16(h[hdrWindow:]) }

// Checksum returns the checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[ChecksumOffset:]) }

// Urgent returns the urgent pointer, SEG.UP.
func (h Header) Urgent() uint16 { return binary.BigEndian.Uint16(h[hdrUrgent:]) }

// OptionBytes returns the bytes between the fixed header and the data.
func (h Header) OptionBytes() []byte { return h[HeaderMinLen:h.DataOffset()] }

// Payload returns the data after the header.
func (h Header) Payload() []byte { return h[h.DataOffset():] }

// SetChecksum stores c in the checksum field.
func (h Header) SetChecksum(c uint16) { binary.BigEndian.PutUint16(h[ChecksumOffset:], c) }

// ParseSegment decodes the TCP segment in b into seg without allocating;
// seg.Payload aliases b. A header error (ErrTooShort, ErrDataOffset) leaves
// seg untouched. A malformed option fills every header field, the payload
// and the options before the bad one, and returns an error wrapping
// ErrBadOption: RFC 9293 says a TCP "MUST be prepared to handle an illegal
// option length (e.g., zero)" (MUST-7), and whether that means a reset or a
// silent drop is the caller's policy.
func ParseSegment(b []byte, seg *Segment) error {
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	seg.SrcPort = h.SrcPort()
	seg.DstPort = h.DstPort()
	seg.Seq = h.Seq()
	seg.Ack = h.Ack()
	seg.Flags = h.Flags()
	seg.Window = h.Window()
	seg.Urgent = h.Urgent()
	seg.Payload = h.Payload()
	return ParseOptions(h.OptionBytes(), &seg.Options)
}

// HeaderLen returns the length of the header MarshalHeader writes: 20 bytes
// plus the options, padded to a multiple of 4.
func (s *Segment) HeaderLen() int { return HeaderMinLen + s.Options.Len() }

// MarshalHeader writes the header and options of s into b and returns the
// header length. The checksum field and the reserved bits are zero; the
// payload is not written. b must hold HeaderLen() bytes (it panics
// otherwise, as a short buffer is a programming error). MarshalHeader does
// not allocate.
func (s *Segment) MarshalHeader(b []byte) int {
	n := s.HeaderLen()
	h := b[:n]
	binary.BigEndian.PutUint16(h[hdrSrcPort:], s.SrcPort)
	binary.BigEndian.PutUint16(h[hdrDstPort:], s.DstPort)
	binary.BigEndian.PutUint32(h[hdrSeq:], uint32(s.Seq))
	binary.BigEndian.PutUint32(h[hdrAck:], uint32(s.Ack))
	h[hdrDataOffset] = byte(n/4) << 4
	h[hdrFlags] = byte(s.Flags)
	binary.BigEndian.PutUint16(h[hdrWindow:], s.Window)
	binary.BigEndian.PutUint16(h[ChecksumOffset:], 0)
	binary.BigEndian.PutUint16(h[hdrUrgent:], s.Urgent)
	s.Options.Marshal(h[HeaderMinLen:])
	return n
}

// DropReason returns the counter name for an error of ParseHeader,
// ParseSegment or ParseOptions (matched with errors.Is): "tcp_too_short",
// "tcp_bad_data_offset" or "tcp_bad_option"; "" for nil and "tcp_other" for
// any other error. The names are stable, like those of ip.DropReason.
func DropReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTooShort):
		return "tcp_too_short"
	case errors.Is(err, ErrDataOffset):
		return "tcp_bad_data_offset"
	case errors.Is(err, ErrBadOption):
		return "tcp_bad_option"
	}
	return "tcp_other"
}
