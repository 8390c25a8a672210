package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTailLossProbe: the last segments of a flight and the last ACK are
// lost. With SACK, the first expiry of the timer is a probe timeout of
// about two round trips, not the RTO: the last segment goes again, its
// ACK shows the hole, and fast recovery repairs it (RFC 8985 §7).
func TestTailLossProbe(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.client
	require.True(t, c.sackOK)
	// A first transfer gives the RTT estimator its samples.
	p.transfer(c, p.server, pattern(10_000))
	c.rtt.srtt = 0
	c.rtt.sample(20 * 1e6) // 20 ms: the virtual wire has no delay of its own
	size := int(uint32(c.snd.mss) - c.optionSpace())

	// Four segments; the last two are lost.
	first := c.snd.nxt
	lost := map[Seq]bool{first.Add(uint32(2 * size)): true, first.Add(uint32(3 * size)): true}
	p.drop = func(from *Conn, seg *Segment) bool {
		if from == c && lost[seg.Seq] {
			delete(lost, seg.Seq)
			return true
		}
		return false
	}
	_, err := c.Write(pattern(4*size), p.now)
	require.NoError(t, err)
	p.run()
	start := p.now
	require.True(t, p.advance())
	assert.Equal(t, uint64(1), c.Stats.TailLossProbes)
	assert.Zero(t, c.Stats.Timeouts)
	assert.Less(t, p.now.Sub(start), c.rtt.current(), "the probe comes before the RTO")
	for c.snd.una != c.snd.max {
		require.True(t, p.advance())
	}
	assert.Zero(t, c.Stats.Timeouts, "the probe's ACK started a fast recovery instead (early retransmit)")
	assert.Equal(t, uint64(1), c.Stats.FastRecoveries)
	assert.Equal(t, 4*size, p.server.Readable())
}

// TestNoTailLossProbeWithoutSACK: without SACK the timer is an RTO.
func TestNoTailLossProbeWithoutSACK(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.client
	c.sackOK = false
	p.drop = func(from *Conn, _ *Segment) bool { return from == c }
	_, err := c.Write(pattern(100), p.now)
	require.NoError(t, err)
	p.run()
	require.True(t, p.advance())
	assert.Zero(t, c.Stats.TailLossProbes)
	assert.Equal(t, uint64(1), c.Stats.Timeouts)
}
