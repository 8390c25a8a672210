package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeepAliveIsOffByDefault(t *testing.T) {
	p := handshake(t, 1, 2)
	assert.True(t, p.client.NextDeadline().IsZero(), "MUST-25: an idle connection sends nothing")
	assert.True(t, p.server.NextDeadline().IsZero())
}

func TestKeepAliveDefaultIdleIsTwoHours(t *testing.T) {
	p := handshake(t, 1, 2)
	p.client.SetKeepAlive(KeepAlive{Enabled: true}, p.now)
	assert.Equal(t, 2*time.Hour, p.client.NextDeadline().Sub(p.now), "MUST-28")
}

// keepAlivePair has a client probing after 10 s of silence, every second,
// giving up after 3 unanswered probes; lost reports how many of the
// server's answers the wire should drop, in order.
func keepAlivePair(t *testing.T, lose func(answer int) bool) *pair {
	p := handshake(t, 1, 2)
	p.client.SetKeepAlive(KeepAlive{Enabled: true, Idle: 10 * time.Second, Interval: time.Second, Count: 3}, p.now)
	answers := 0
	p.drop = func(from *Conn, _ *Segment) bool {
		if from != p.server {
			return false
		}
		answers++
		return lose(answers)
	}
	return p
}

func TestKeepAliveProbesAnIdleConnection(t *testing.T) {
	p := keepAlivePair(t, func(int) bool { return false })
	start := p.now
	sent := p.client.Stats.SegmentsSent
	require.True(t, p.advance())
	assert.Equal(t, 10*time.Second, p.now.Sub(start), "the first probe after the idle time (MUST-26)")
	assert.Equal(t, sent+1, p.client.Stats.SegmentsSent, "one probe, answered")
	require.True(t, p.advance())
	assert.Equal(t, 20*time.Second, p.now.Sub(start), "an answer restarts the idle time")
	assert.Equal(t, StateEstablished, p.client.State())
}

func TestKeepAliveToleratesLostAnswers(t *testing.T) {
	// The first two answers are lost, the third gets through (MUST-29).
	p := keepAlivePair(t, func(n int) bool { return n <= 2 })
	for i := 0; i < 4; i++ {
		require.True(t, p.advance())
	}
	assert.Equal(t, StateEstablished, p.client.State())
	assert.NoError(t, p.client.Err())
}

func TestKeepAliveGivesUpOnASilentPeer(t *testing.T) {
	p := keepAlivePair(t, func(int) bool { return true })
	start := p.now
	for p.client.State() == StateEstablished {
		require.True(t, p.advance())
	}
	assert.Equal(t, 13*time.Second, p.now.Sub(start), "idle 10 s, then 3 probes 1 s apart")
	assert.ErrorIs(t, p.client.Err(), ErrTimeout)
}
