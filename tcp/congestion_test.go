package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlowStartThenCongestionAvoidance follows the window of RFC 5681
// (MUST-19) over a real transfer: it starts at ten segments (RFC 6928),
// grows by the bytes acknowledged in slow start, and after a timeout
// restarts from one segment, grows exponentially to ssthresh, then by about
// one segment per round trip.
func TestSlowStartThenCongestionAvoidance(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.client
	c.cc = &NewReno{} // RFC 5681's numbers; CUBIC, the default, has cubic_test.go
	c.sackOK = false  // no tail loss probe before the timeout below (tlp.go)
	mss := uint32(c.snd.mss)
	require.Equal(t, 10*mss, c.cong.CWnd, "initial window (RFC 6928)")

	// Slow start: every ACK adds what it acknowledges, at most one MSS
	// (RFC 5681 §3.1). The receiver's delayed ACKs cover two segments
	// each, so 20 segments bring 10 ACKs and 10 MSS.
	before := c.cong.CWnd
	data := pattern(20 * int(mss))
	assert.Equal(t, data, p.transfer(c, p.server, data))
	assert.Equal(t, before+10*mss, c.cong.CWnd, "slow start: one MSS per ACK")

	// A timeout: ssthresh is half the flight, cwnd one segment.
	_, err := c.Write(pattern(8*int(mss)), p.now)
	require.NoError(t, err)
	p.cr.take() // the segments are lost
	flight := c.snd.max.Sub(c.snd.una)
	p.now = c.NextDeadline()
	c.OnTimer(p.now)
	assert.Equal(t, max(flight/2, 2*mss), c.cong.SSThresh)
	assert.Equal(t, mss, c.cong.CWnd, "loss window after a timeout (RFC 5681 §3.1)")

	// Below ssthresh the window grows per ACK; above it, by mss*mss/cwnd.
	c.cong.CWnd, c.cong.SSThresh = 2*mss, 4*mss
	c.onAckCongestion(mss)
	assert.Equal(t, 3*mss, c.cong.CWnd)
	c.onAckCongestion(mss)
	assert.Equal(t, 4*mss, c.cong.CWnd, "slow start reaches ssthresh")
	grown := uint32(0)
	for i := 0; i < 5; i++ { // one round trip's worth of ACKs
		w := c.cong.CWnd
		c.onAckCongestion(mss)
		grown += c.cong.CWnd - w
	}
	assert.InDelta(t, float64(mss), float64(grown), float64(mss)/5, "about one MSS per round trip")
}

// TestRestartAfterIdle: after more than an RTO without sending, the window
// goes back to the initial window before new data leaves (RFC 5681 §4.1).
func TestRestartAfterIdle(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.client
	data := pattern(200_000)
	assert.Equal(t, data, p.transfer(c, p.server, data))
	iw := InitialWindowSegments * uint32(c.snd.mss)
	require.Greater(t, c.cong.CWnd, iw, "the transfer opened the window")
	grown := c.cong.CWnd

	p.now = p.now.Add(c.rtt.current() / 2) // a short pause keeps the window
	_, err := c.Write(pattern(10), p.now)
	require.NoError(t, err)
	p.run()
	assert.Equal(t, grown, c.cong.CWnd)

	for c.snd.una != c.snd.max { // the delayed ACK of those 10 bytes
		require.True(t, p.advance())
	}
	p.now = p.now.Add(2 * c.rtt.current()) // a long one does not
	_, err = c.Write(pattern(10), p.now)
	require.NoError(t, err)
	assert.Equal(t, iw, c.cong.CWnd)
}
