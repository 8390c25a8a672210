package ip

// The quote in an ICMP error: "the internet header plus the first 64 bits
// of the original datagram's data" (RFC 792). Those 64 bits are what lets a
// host hand the error to the transport connection that caused it (RFC 1122
// §3.2.2, RFC 9293 §3.9.2.2, MUST-54): for TCP and UDP they hold the two
// ports, and for TCP the sequence number as well.
//
//	ICMP error:  | type | code | checksum | unused / next-hop MTU |
//	             | quoted IPv4 header (20 to 60 bytes)           |
//	             | src port | dst port | sequence number (TCP)   |
//
// Quote checks the quote once (a plausible IPv4 header, 8 bytes after it,
// the first fragment) and returns plain values, so nothing read from it can
// panic. It does not check the quoted header's checksum or total length: a
// router quotes what it saw, and RFC 1812 §4.3.2.3 lets it quote more than
// 8 bytes, so the total length rarely matches what is quoted.
//
// Left out: matching the rest of the quote against what was sent (RFC 5927
// suggests it as an extra filter; TCP's sequence-number check is the one
// that matters, and it is TCP's).

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Errors of Quote; like every error of this package, each is a drop reason
// (see DropReason).
var (
	ErrICMPQuoteShort    = errors.New("ip: ICMP error quotes fewer than 8 bytes of the original payload")
	ErrICMPQuoteFragment = errors.New("ip: ICMP error quotes a fragment other than the first")
)

// Quote is what an ICMP error says about the datagram that caused it.
type Quote struct {
	Src, Dst         netip.Addr // the original's addresses; Src is ours if we sent it
	Protocol         uint8      // the original's protocol (ProtocolTCP, ...)
	TotalLen         int        // the original's total length, as the router saw it
	SrcPort, DstPort uint16     // the first 4 bytes of its payload: the ports of TCP and UDP
	Seq              uint32     // bytes 4 to 7 of its payload: TCP's sequence number
}

// Quote reads the datagram an ICMP error quotes. It returns ErrICMPOriginal
// if m is not an error or quotes no plausible IPv4 header (see Original),
// ErrICMPQuoteShort if fewer than the 8 bytes RFC 792 asks for follow the
// header, and ErrICMPQuoteFragment if the quoted datagram is a fragment
// other than the first, whose payload starts with no transport header.
func (m ICMP) Quote() (Quote, error) {
	hdr, payload, err := m.Original()
	if err != nil {
		return Quote{}, err
	}
	if len(payload) < quoteLen {
		return Quote{}, ErrICMPQuoteShort
	}
	if hdr.FragmentOffset() != 0 {
		return Quote{}, ErrICMPQuoteFragment
	}
	return Quote{
		Src:      hdr.Src(),
		Dst:      hdr.Dst(),
		Protocol: hdr.Protocol(),
		TotalLen: hdr.TotalLen(),
		SrcPort:  binary.BigEndian.Uint16(payload[0:]),
		DstPort:  binary.BigEndian.Uint16(payload[2:]),
		Seq:      binary.BigEndian.Uint32(payload[4:]),
	}, nil
}

// MaxErrorLen is the longest message Error builds: the ICMP header, an
// IPv4 header with 40 bytes of options and 8 bytes of data.
const MaxErrorLen = ICMPHeaderLen + 60 + quoteLen

// Error builds into dst an ICMP error of type typ and code, quoting the
// header of original and the first 8 bytes of its payload (RFC 792), and
// returns its length. mtu is written as the next-hop MTU of "fragmentation
// needed" (RFC 1191 §4) and ignored for every other message. original must
// be a view from ParseIPv4. It returns 0, writing nothing, if typ is not an
// error type or dst is too short; MaxErrorLen bytes are always enough.
func Error(dst []byte, typ, code uint8, mtu uint16, original IPv4) int {
	if len(original) < HeaderMinLen || !isErrorType(typ) {
		return 0
	}
	hl := min(original.HeaderLen(), len(original))
	quote := original[:min(hl+quoteLen, len(original))]
	n := ICMPHeaderLen + len(quote)
	if len(dst) < n {
		return 0
	}
	m := dst[:n]
	m[icmpType] = typ
	m[icmpCode] = code
	binary.BigEndian.PutUint16(m[icmpChecksum:], 0)
	var rest uint32 // unused, or unused + next-hop MTU
	if typ == TypeDestinationUnreachable && code == CodeFragmentationNeeded {
		rest = uint32(mtu)
	}
	binary.BigEndian.PutUint32(m[icmpID:], rest)
	copy(m[icmpBody:], quote)
	binary.BigEndian.PutUint16(m[icmpChecksum:], Checksum(m))
	return n
}
