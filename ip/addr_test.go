package ip

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidPeer(t *testing.T) {
	for addr, valid := range map[string]bool{
		"10.77.0.1":       true,
		"192.0.2.200":     true,
		"223.255.255.254": true,
		"0.0.0.0":         false, // unspecified
		"0.1.2.3":         false, // "this network"
		"127.0.0.1":       false, // loopback
		"224.0.0.1":       false, // all-hosts multicast
		"239.255.255.250": false, // multicast
		"240.0.0.1":       false, // class E
		"255.255.255.255": false, // limited broadcast
		"::1":             false, // not IPv4
	} {
		err := ValidPeer(netip.MustParseAddr(addr))
		if valid {
			assert.NoError(t, err, addr)
		} else {
			assert.ErrorIs(t, err, ErrInvalidAddress, addr)
		}
	}
}
