package ip

// The IPv4 header, RFC 791 §3.1, as a checked byte view (IPv4) for reading
// and a plain struct (IPv4Fields) for building.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// ParseIPv4 checks every length once; after it returned a view, no accessor
// can panic. Left out: IP options are carried (Options) but never
// interpreted, and a built header never has any; fragments are recognised
// (IsFragment) but reassembly is not done here.

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Offsets of the IPv4 header fields.
const (
	ipv4VersionIHL = 0  // version (high nibble) and IHL (low nibble, in 32-bit words)
	ipv4TOS        = 1  // type of service (DSCP and ECN)
	ipv4TotalLen   = 2  // total length of header and data, in bytes
	ipv4ID         = 4  // identification
	ipv4FlagsFrag  = 6  // flags (3 high bits) and fragment offset (in 8-byte units)
	ipv4TTL        = 8  // time to live
	ipv4Protocol   = 9  // protocol of the payload
	ipv4Checksum   = 10 // header checksum
	ipv4Src        = 12 // source address
	ipv4Dst        = 16 // destination address
)

// Bits of the flags field (RFC 791 §3.1), in the 16-bit flags+offset word.
const (
	ipv4FlagDF     = 0x4000 // don't fragment
	ipv4FlagMF     = 0x2000 // more fragments
	ipv4FragOffset = 0x1fff // fragment offset, in 8-byte units
)

// HeaderMinLen is the length of an IPv4 header without options.
const HeaderMinLen = 20

// DefaultTTL is the time to live tinytcp puts on the packets it sends, the
// same as Linux's net.ipv4.ip_default_ttl.
const DefaultTTL = 64

// Protocol numbers carried in the IPv4 protocol field (IANA).
const (
	ProtocolICMP = 1
	ProtocolTCP  = 6
	ProtocolUDP  = 17
)

// Errors returned by ParseIPv4. Each one is a reason to drop the packet; see
// DropReason.
var (
	ErrTooShort     = errors.New("ip: packet shorter than an IPv4 header")
	ErrVersion      = errors.New("ip: version is not 4")
	ErrHeaderLength = errors.New("ip: bad header length")
	ErrTotalLength  = errors.New("ip: bad total length")
	ErrChecksum     = errors.New("ip: bad header checksum")
)

// IPv4 is an IPv4 packet: header, then payload. Only a view returned by
// ParseIPv4 (or, for the header alone, by ICMP.Original) is safe to read.
type IPv4 []byte

// ParseIPv4 checks that b holds a well-formed IPv4 packet and returns a view
// of it, trimmed to the total length so that link-layer padding is not taken
// for payload. The checks run in this order: ErrTooShort, ErrVersion,
// ErrHeaderLength, ErrTotalLength, ErrChecksum. The view aliases b.
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < HeaderMinLen {
		return nil, ErrTooShort
	}
	if b[ipv4VersionIHL]>>4 != 4 {
		return nil, ErrVersion
	}
	hl := int(b[ipv4VersionIHL]&0x0f) * 4
	if hl < HeaderMinLen || hl > len(b) {
		return nil, ErrHeaderLength
	}
	tl := int(binary.BigEndian.Uint16(b[ipv4TotalLen:]))
	if tl < hl || tl > len(b) {
		return nil, ErrTotalLength
	}
	if Checksum(b[:hl]) != 0 {
		return nil, ErrChecksum
	}
	return IPv4(b[:tl:tl]), nil
}

// HeaderLen returns the header length in bytes, options included.
func (v IPv4) HeaderLen() int { return int(v[ipv4VersionIHL]&0x0f) * 4 }

// TotalLen returns the total length field: header plus payload, in bytes.
func (v IPv4) TotalLen() int { return int(binary.BigEndian.Uint16(v[ipv4TotalLen:])) }

// TOS returns the type-of-service byte (DSCP and ECN bits).
func (v IPv4) TOS() uint8 { return v[ipv4TOS] }

// ID returns the identification field.
func (v IPv4) ID() uint16 { return binary.BigEndian.Uint16(v[ipv4ID:]) }

// Flags returns the three flag bits (reserved, DF, MF) in the low bits.
func (v IPv4) Flags() uint8 { return v[ipv4FlagsFrag] >> 5 }

// DontFragment reports whether the DF flag is set.
func (v IPv4) DontFragment() bool { return v.flagsFrag()&ipv4FlagDF != 0 }

// MoreFragments reports whether the MF flag is set.
func (v IPv4) MoreFragments() bool { return v.flagsFrag()&ipv4FlagMF != 0 }

// FragmentOffset returns the offset of this fragment in the original
// datagram, in bytes.
func (v IPv4) FragmentOffset() int { return int(v.flagsFrag()&ipv4FragOffset) * 8 }

// IsFragment reports whether the packet is a fragment of a larger datagram:
// MF is set or the fragment offset is not zero.
func (v IPv4) IsFragment() bool { return v.flagsFrag()&(ipv4FlagMF|ipv4FragOffset) != 0 }

// TTL returns the time to live.
func (v IPv4) TTL() uint8 { return v[ipv4TTL] }

// Protocol returns the protocol number of the payload (ProtocolTCP, ...).
func (v IPv4) Protocol() uint8 { return v[ipv4Protocol] }

// Checksum returns the header checksum field.
func (v IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(v[ipv4Checksum:]) }

// Src returns the source address.
func (v IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(v[ipv4Src : ipv4Src+4])) }

// Dst returns the destination address.
func (v IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(v[ipv4Dst : ipv4Dst+4])) }

// Options returns the option bytes between the fixed header and the payload
// (empty when the header is 20 bytes long).
func (v IPv4) Options() []byte { return v[HeaderMinLen:v.HeaderLen()] }

// Payload returns the bytes after the header, up to the total length.
func (v IPv4) Payload() []byte { return v[v.HeaderLen():] }

func (v IPv4) flagsFrag() uint16 { return binary.BigEndian.Uint16(v[ipv4FlagsFrag:]) }

// IPv4Fields holds the header fields of a packet to send. The header it
// builds has no options, so its IHL is 5.
type IPv4Fields struct {
	TOS          uint8      // type of service (DSCP and ECN)
	TotalLen     uint16     // header plus payload, in bytes
	ID           uint16     // identification
	DontFragment bool       // set DF (path MTU discovery, RFC 1191)
	TTL          uint8      // time to live; DefaultTTL is usual
	Protocol     uint8      // ProtocolTCP, ProtocolICMP, ...
	Src, Dst     netip.Addr // IPv4 addresses; anything else is written as 0.0.0.0
}

// Encode writes a 20-byte header, checksum included, into b[:20]. The caller
// guarantees len(b) >= HeaderMinLen. Encode does not allocate.
func (f *IPv4Fields) Encode(b []byte) {
	b = b[:HeaderMinLen]
	b[ipv4VersionIHL] = 4<<4 | HeaderMinLen/4
	b[ipv4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLen:], f.TotalLen)
	binary.BigEndian.PutUint16(b[ipv4ID:], f.ID)
	var ff uint16
	if f.DontFragment {
		ff = ipv4FlagDF
	}
	binary.BigEndian.PutUint16(b[ipv4FlagsFrag:], ff)
	b[ipv4TTL] = f.TTL
	b[ipv4Protocol] = f.Protocol
	binary.BigEndian.PutUint16(b[ipv4Checksum:], 0)
	putAddr(b[ipv4Src:ipv4Src+4], f.Src)
	putAddr(b[ipv4Dst:ipv4Dst+4], f.Dst)
	binary.BigEndian.PutUint16(b[ipv4Checksum:], Checksum(b))
}

// putAddr writes an IPv4 address into the 4 bytes of b; an address that is
// not IPv4 (nor IPv4-mapped) is written as 0.0.0.0.
func putAddr(b []byte, a netip.Addr) {
	a = a.Unmap()
	var a4 [4]byte
	if a.Is4() {
		a4 = a.As4()
	}
	copy(b, a4[:])
}
