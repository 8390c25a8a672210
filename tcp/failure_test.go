package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adviceRecorder is a recorder that also takes negative advice.
type adviceRecorder struct {
	recorder
	advice []int // Retries of the Conn at each piece of advice
}

func (r *adviceRecorder) NegativeAdvice(c *Conn) { r.advice = append(r.advice, c.Info().Retries) }

// silentPeer establishes a client whose server then vanishes: every
// segment the client sends from now on is lost.
func silentPeer(t *testing.T, cfg func(*Config)) (*pair, *adviceRecorder) {
	t.Helper()
	p := handshake(t, 1, 2)
	ar := &adviceRecorder{}
	p.client.hooks = ar
	p.cr = &ar.recorder
	if cfg != nil {
		cfg(&p.client.cfg)
	}
	// Without SACK there are no tail loss probes (tlp.go): every expiry
	// of the timer is a retransmission timeout.
	p.client.sackOK = false
	p.drop = func(from *Conn, _ *Segment) bool { return from == p.client }
	return p, ar
}

// TestR1AdvisesAndR2Closes: retransmissions reach R1 (3), where IP gets
// negative advice and Info reports trouble, then R2 (15), where the
// connection is closed with a timeout error and no RST (RFC 9293 §3.8.3,
// MUST-20, SHLD-9, SHLD-10, SHLD-11).
func TestR1AdvisesAndR2Closes(t *testing.T) {
	p, ar := silentPeer(t, nil)
	_, err := p.client.Write(pattern(100), p.now)
	require.NoError(t, err)
	start := p.now
	for p.client.State() == StateEstablished {
		before := p.client.Info()
		require.True(t, p.advance())
		if p.client.State() != StateEstablished {
			break
		}
		after := p.client.Info()
		assert.Equal(t, before.Retries+1, after.Retries)
		assert.Equal(t, after.Retries >= DefaultR1, after.Trouble, "trouble from R1 on")
	}
	assert.Equal(t, []int{DefaultR1}, ar.advice, "advice once, at R1")
	assert.ErrorIs(t, p.client.Err(), ErrTimeout)
	assert.Equal(t, uint64(DefaultMaxRetries), p.client.Stats.Timeouts)
	for _, seg := range ar.sent {
		assert.False(t, seg.Flags.Has(FlagRST), "no RST when giving up")
	}
	// SHLD-11: R2 is at least 100 seconds.
	assert.Greater(t, p.now.Sub(start), 100*time.Second)
}

// TestUserTimeoutIsR2 sets R2 as a time (MUST-21): the connection is given
// up exactly when it has retransmitted that long without progress (counted,
// as in Linux, from the first retransmission), not at the next backed-off
// retransmission.
func TestUserTimeoutIsR2(t *testing.T) {
	p, _ := silentPeer(t, nil)
	p.client.SetUserTimeout(5*time.Second, p.now)
	_, err := p.client.Write(pattern(100), p.now)
	require.NoError(t, err)
	require.True(t, p.advance())
	require.Equal(t, uint64(1), p.client.Stats.Timeouts)
	first := p.now
	for p.client.State() == StateEstablished {
		require.True(t, p.advance())
	}
	assert.Equal(t, 5*time.Second, p.now.Sub(first))
	assert.ErrorIs(t, p.client.Err(), ErrTimeout)
	assert.Equal(t, 5*time.Second, p.client.Info().UserTimeout)
}

// TestUserTimeoutCountsFromLastProgress: an ACK that moves SND.UNA
// restarts the user timeout's clock, so a slow but moving transfer is not
// cut off.
func TestUserTimeoutCountsFromLastProgress(t *testing.T) {
	p := handshake(t, 1, 2)
	p.client.SetUserTimeout(3*time.Second, p.now)
	// Every other data segment from the client is lost once, so each
	// needs a timeout to get through; none takes 3 s.
	lost := map[Seq]bool{}
	p.drop = func(from *Conn, seg *Segment) bool {
		if from != p.client || len(seg.Payload) == 0 || lost[seg.Seq] {
			return false
		}
		lost[seg.Seq] = true
		return true
	}
	data := pattern(200_000)
	start := p.now
	got := p.transfer(p.client, p.server, data)
	require.Greater(t, p.now.Sub(start), 3*time.Second, "the transfer outlasts the user timeout")
	assert.Equal(t, data, got)
	assert.NoError(t, p.client.Err())
	assert.Equal(t, StateEstablished, p.client.State())
	assert.NotZero(t, p.client.Stats.Timeouts)
}

// TestUserTimeoutAppliesToSYN: an active open with a user timeout gives up
// when it runs out, whatever the SYN retry count says.
func TestUserTimeoutAppliesToSYN(t *testing.T) {
	cfg := testConfig(100)
	cfg.UserTimeout = 10 * time.Second
	c := Dial(cfg, &recorder{}, ID{Local: clientAP, Remote: serverAP}, t0)
	now := t0
	for c.State() == StateSynSent {
		now = c.NextDeadline()
		c.OnTimer(now)
	}
	assert.Equal(t, 10*time.Second, now.Sub(t0))
	assert.ErrorIs(t, c.Err(), ErrTimeout)
}
