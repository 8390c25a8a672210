package ip

// ICMPv4, RFC 792: the echo and destination-unreachable messages a host must
// handle (RFC 1122 §3.2.2), with the next-hop MTU of RFC 1191 §4 in
// "fragmentation needed". quote.go reads what an error quotes and builds
// the other errors.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Identifier (echo) / unused  | Sequence (echo) / next-hop MTU|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data (echo) / Internet Header + 64 bits of original datagram |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Left out: timestamp, information and address-mask messages (obsolete, RFC
// 6918), and the policy of when to send an error (never in reply to an ICMP
// error, a broadcast or a non-first fragment, RFC 1122 §3.2.2); that policy
// is the stack's, which sees the whole packet.

import (
	"encoding/binary"
	"errors"
)

// Offsets of the ICMP header fields.
const (
	icmpType     = 0 // message type
	icmpCode     = 1 // code, a subtype
	icmpChecksum = 2 // checksum of the whole message
	icmpID       = 4 // echo identifier
	icmpSeq      = 6 // echo sequence number
	icmpMTU      = 6 // next-hop MTU in "fragmentation needed" (RFC 1191)
	icmpBody     = 8 // start of data or of the quoted datagram
)

// ICMPHeaderLen is the length of the fixed part of every ICMP message.
const ICMPHeaderLen = 8

// ICMP message types (RFC 792).
const (
	TypeEchoReply              = 0
	TypeDestinationUnreachable = 3
	TypeSourceQuench           = 4
	TypeRedirect               = 5
	TypeEchoRequest            = 8
	TypeTimeExceeded           = 11
	TypeParameterProblem       = 12
)

// Codes of destination-unreachable messages (RFC 792, RFC 1191).
const (
	CodeNetUnreachable      = 0
	CodeHostUnreachable     = 1
	CodeProtocolUnreachable = 2
	CodePortUnreachable     = 3
	CodeFragmentationNeeded = 4 // and DF set; carries the next-hop MTU
	CodeSourceRouteFailed   = 5
	// Codes of RFC 1122 §3.2.2.1 and RFC 1812 §5.2.7.1.
	CodeNetUnknown              = 6
	CodeHostUnknown             = 7
	CodeSourceHostIsolated      = 8
	CodeNetProhibited           = 9
	CodeHostProhibited          = 10
	CodeNetUnreachableForTOS    = 11
	CodeHostUnreachableForTOS   = 12
	CodeCommunicationProhibited = 13
	CodeHostPrecedenceViolation = 14
	CodePrecedenceCutoff        = 15
)

// quoteLen is how much of the original datagram's payload an error quotes:
// "the internet header plus the first 64 bits of the original datagram's
// data" (RFC 792).
const quoteLen = 8

// MaxDestUnreachableLen is the longest message DestUnreachable builds: the
// ICMP header, an IPv4 header with 40 bytes of options and 8 bytes of data.
const MaxDestUnreachableLen = ICMPHeaderLen + 60 + quoteLen

// Errors of ICMP parsing. Each one is a reason to drop the message; see
// DropReason.
var (
	ErrICMPTooShort = errors.New("ip: ICMP message shorter than 8 bytes")
	ErrICMPChecksum = errors.New("ip: bad ICMP checksum")
	ErrICMPOriginal = errors.New("ip: ICMP error quotes no valid IPv4 header")
)

// ICMP is an ICMPv4 message: the 8-byte header, then the body. Only a view
// returned by ParseICMP is safe to read.
type ICMP []byte

// ParseICMP checks that b, the payload of an IPv4 packet, holds an ICMP
// message with a correct checksum and returns a view of it aliasing b.
func ParseICMP(b []byte) (ICMP, error) {
	if len(b) < ICMPHeaderLen {
		return nil, ErrICMPTooShort
	}
	if Checksum(b) != 0 {
		return nil, ErrICMPChecksum
	}
	return ICMP(b), nil
}

// Type returns the message type (TypeEchoRequest, ...).
func (m ICMP) Type() uint8 { return m[icmpType] }

// Code returns the code, the subtype of the message.
func (m ICMP) Code() uint8 { return m[icmpCode] }

// Checksum returns the checksum field.
func (m ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpChecksum:]) }

// ID returns the identifier of an echo request or reply.
func (m ICMP) ID() uint16 { return binary.BigEndian.Uint16(m[icmpID:]) }

// Seq returns the sequence number of an echo request or reply.
func (m ICMP) Seq() uint16 { return binary.BigEndian.Uint16(m[icmpSeq:]) }

// MTU returns the next-hop MTU of a "fragmentation needed" message (RFC 1191
// §4); zero from a router that predates RFC 1191.
func (m ICMP) MTU() uint16 { return binary.BigEndian.Uint16(m[icmpMTU:]) }

// Body returns the bytes after the 8-byte header: the data of an echo, or
// the quoted datagram of an error.
func (m ICMP) Body() []byte { return m[icmpBody:] }

// Payload is Body under the name the other views use.
func (m ICMP) Payload() []byte { return m.Body() }

// IsError reports whether the message is an ICMP error, one that quotes an
// original datagram: destination unreachable, source quench, redirect, time
// exceeded or parameter problem.
func (m ICMP) IsError() bool { return isErrorType(m.Type()) }

func isErrorType(typ uint8) bool {
	switch typ {
	case TypeDestinationUnreachable, TypeSourceQuench, TypeRedirect,
		TypeTimeExceeded, TypeParameterProblem:
		return true
	}
	return false
}

// Original returns the datagram an ICMP error quotes: its IPv4 header (a
// view safe to read, whose Payload is empty) and up to the first 8 bytes of
// its payload, enough for the ports and sequence number of a TCP segment.
// It returns ErrICMPOriginal if the message is not an error or the quote is
// not a plausible IPv4 header. The quoted header's checksum and total length
// are not checked: the quote is what a router saw, not a packet to deliver.
func (m ICMP) Original() (hdr IPv4, payload []byte, err error) {
	if !m.IsError() {
		return nil, nil, ErrICMPOriginal
	}
	b := m.Body()
	if len(b) < HeaderMinLen || b[ipv4VersionIHL]>>4 != 4 {
		return nil, nil, ErrICMPOriginal
	}
	hl := int(b[ipv4VersionIHL]&0x0f) * 4
	if hl < HeaderMinLen || hl > len(b) {
		return nil, nil, ErrICMPOriginal
	}
	end := min(hl+quoteLen, len(b))
	return IPv4(b[:hl:hl]), b[hl:end:end], nil
}

// EchoReply builds into dst the echo reply to the echo request req (RFC 792:
// same identifier, sequence number and data; type changed, checksum
// recomputed) and returns its length. dst may be req itself, for a reply in
// place. It returns 0, writing nothing, if req is not an echo request or dst
// is shorter than req.
func EchoReply(dst []byte, req ICMP) int {
	if len(req) < ICMPHeaderLen || req.Type() != TypeEchoRequest || len(dst) < len(req) {
		return 0
	}
	n := copy(dst, req)
	m := dst[:n]
	m[icmpType] = TypeEchoReply
	m[icmpCode] = 0
	binary.BigEndian.PutUint16(m[icmpChecksum:], 0)
	binary.BigEndian.PutUint16(m[icmpChecksum:], Checksum(m))
	return n
}

// DestUnreachable builds into dst a destination-unreachable message with the
// given code, quoting the header of original and the first 8 bytes of its
// payload (RFC 792), and returns its length. mtu is the next-hop MTU, written
// only when code is CodeFragmentationNeeded (RFC 1191 §4). original must be
// a view from ParseIPv4. It returns 0, writing nothing, if dst is too short;
// MaxDestUnreachableLen bytes are always enough.
func DestUnreachable(dst []byte, code uint8, mtu uint16, original IPv4) int {
	return Error(dst, TypeDestinationUnreachable, code, mtu, original)
}
