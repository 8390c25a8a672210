package ip

import (
	"errors"
	"net/netip"
)

// Address validation (RFC 1122 §3.2.1.3 and §4.2.3.10, RFC 9293 §3.9.1.1):
// which IPv4 addresses can be the other end of a TCP connection. TCP is
// unicast only, so broadcast and multicast addresses are never a peer
// (MUST-46, MUST-57); and some addresses never appear as a source on a
// real network (Linux calls packets from them "martians").

// ErrInvalidAddress is returned for an address that cannot be a TCP peer.
var ErrInvalidAddress = errors.New("not a unicast address")

var (
	limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	thisNetwork      = netip.MustParsePrefix("0.0.0.0/8")   // RFC 1122 §3.2.1.3 (a): "this host on this network"
	loopback         = netip.MustParsePrefix("127.0.0.0/8") // never on a wire (RFC 1122 §3.2.1.3 (g))
	multicast        = netip.MustParsePrefix("224.0.0.0/4") // class D (RFC 1112)
	reserved         = netip.MustParsePrefix("240.0.0.0/4") // class E, of which 255.255.255.255 is the limited broadcast
)

// ValidPeer reports whether a can be the remote end of a TCP connection:
// an IPv4 unicast address that may appear on a link. It refuses the
// unspecified and "this network" addresses, loopback, multicast, the
// limited broadcast and the reserved class E.
func ValidPeer(a netip.Addr) error {
	switch {
	case !a.Is4():
		return ErrInvalidAddress
	case a == limitedBroadcast, thisNetwork.Contains(a), loopback.Contains(a),
		multicast.Contains(a), reserved.Contains(a):
		return ErrInvalidAddress
	}
	return nil
}
