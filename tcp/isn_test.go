package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestISNClockAndSecret checks RFC 6528's ISN = M + F(tuple, secret): M
// advances one per 4 µs (MUST-8), F depends on the 4-tuple and on a
// secret, so two stacks, or two tuples, start apart (MUST-9, SHLD-1).
func TestISNClockAndSecret(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:1000")
	b := netip.MustParseAddrPort("10.0.0.2:80")
	c := netip.MustParseAddrPort("10.0.0.2:81")
	g := NewFixedISNGenerator([16]byte{1})
	now := time.Unix(1_000_000, 0)
	assert.Equal(t, uint32(250_000), g.ISN(a, b, now.Add(time.Second)).Sub(g.ISN(a, b, now)), "M ticks every 4 µs")
	assert.NotEqual(t, g.ISN(a, b, now), g.ISN(a, c, now), "another tuple, another offset")
	other := NewFixedISNGenerator([16]byte{2})
	assert.NotEqual(t, g.ISN(a, b, now), other.ISN(a, b, now), "another secret, another offset")
	assert.NotEqual(t, NewISNGenerator().ISN(a, b, now), NewISNGenerator().ISN(a, b, now), "random secrets differ")
}
