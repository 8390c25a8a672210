package ip

// The User Datagram Protocol, RFC 768: an 8-byte header in front of the
// data, as a checked byte view (UDP) for reading and a plain struct
// (UDPFields) for building.
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|
//	|          data octets ...
//	+---------------- ...
//
// "Length is the length in octets of this user datagram including this
// header and the data." The checksum covers the same pseudo-header as TCP's
// (source and destination address, zero, protocol, UDP length), the header
// and the data. It is optional in IPv4: "An all zero transmitted checksum
// value means that the transmitter generated no checksum", so a computed
// checksum of zero is sent as all ones (RFC 768; RFC 1122 §4.1.3.4 says a
// host MUST check a checksum that is there).
//
// ParseUDP checks the lengths once; after it returned a view, no accessor
// can panic. VerifyChecksum checks the checksum, which needs the IP
// addresses (and which a stack skips when the device vouches for it). Left out: UDP-Lite (RFC 3828) and IPv6,
// where the checksum is mandatory (RFC 8200 §8.1).

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Offsets of the UDP header fields.
const (
	udpSrcPort  = 0 // source port; zero when no reply is wanted
	udpDstPort  = 2 // destination port
	udpLength   = 4 // header plus data, in bytes
	udpChecksum = 6 // checksum over pseudo-header, header and data; zero for none
)

// UDPHeaderLen is the length of the UDP header.
const UDPHeaderLen = 8

// Errors returned by ParseUDP. Each one is a reason to drop the datagram;
// see DropReason.
var (
	ErrUDPTooShort = errors.New("ip: UDP datagram shorter than 8 bytes")
	ErrUDPLength   = errors.New("ip: bad UDP length")
	ErrUDPChecksum = errors.New("ip: bad UDP checksum")
)

// UDP is a UDP datagram: header, then data. Only a view returned by ParseUDP
// is safe to read.
type UDP []byte

// ParseUDP checks that b, the payload of an IPv4 packet, holds a UDP
// datagram and returns a view of it trimmed to the UDP length (anything
// after it is IP padding). The checks run in this order: ErrUDPTooShort,
// ErrUDPLength (the length field is below 8 or past the packet). The
// checksum needs the addresses of the IP header: see VerifyChecksum. The
// view aliases b.
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPHeaderLen {
		return nil, ErrUDPTooShort
	}
	n := int(binary.BigEndian.Uint16(b[udpLength:]))
	if n < UDPHeaderLen || n > len(b) {
		return nil, ErrUDPLength
	}
	return UDP(b[:n:n]), nil
}

// VerifyChecksum returns ErrUDPChecksum if the datagram, sent from src to
// dst, carries a checksum and it is wrong, and nil otherwise: a checksum
// field of zero means the sender computed none (RFC 768).
func (u UDP) VerifyChecksum(src, dst netip.Addr) error {
	if u.Checksum() != 0 && Fold(Sum(u, PseudoHeaderSum(src, dst, ProtocolUDP, len(u)))) != 0 {
		return ErrUDPChecksum
	}
	return nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the length field: header plus data, in bytes.
func (u UDP) Length() int { return int(binary.BigEndian.Uint16(u[udpLength:])) }

// Checksum returns the checksum field; zero means the sender computed none.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[udpChecksum:]) }

// Payload returns the data after the header.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:] }

// UDPFields holds the header fields of a datagram to send; the length and
// the checksum are computed by Encode.
type UDPFields struct {
	SrcPort, DstPort uint16
}

// Encode writes the header into b[:8] for a datagram whose data already sits
// in b[8:], from src to dst: the length is len(b), and the checksum covers
// the pseudo-header, the header and the data (a sum of zero is sent as
// 0xffff, RFC 768). The caller guarantees 8 <= len(b) <= 65535. Encode does
// not allocate.
func (f *UDPFields) Encode(b []byte, src, dst netip.Addr) {
	binary.BigEndian.PutUint16(b[udpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[udpDstPort:], f.DstPort)
	binary.BigEndian.PutUint16(b[udpLength:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[udpChecksum:], 0)
	sum := Fold(Sum(b, PseudoHeaderSum(src, dst, ProtocolUDP, len(b))))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(b[udpChecksum:], sum)
}
