package tcp

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests below hold Cubic to the formulas of RFC 9438 in virtual time:
// a sender that keeps its window full, every segment one MSS, and one
// window's worth of ACKs per round trip.

const cubicMSS = 1460

// segs converts a window in bytes to segments of cubicMSS.
func segs(bytes uint32) float64 { return float64(bytes) / cubicMSS }

// bytesOf converts a window in segments of cubicMSS to bytes.
func bytesOf(segments float64) uint32 { return uint32(segments * cubicMSS) }

// wCubicAt is RFC 9438 Figure 1, with RFC 8312's K for a window that
// restarted from beta_cubic*wMax: the value the tests expect, computed
// apart from Cubic's own code.
func wCubicAt(t, wMax float64) float64 {
	k := math.Cbrt(wMax * (1 - 0.7) / 0.4)
	return 0.4*math.Pow(t-k, 3) + wMax
}

// cubicAfterLoss is a Cubic whose full window of wMax segments met its
// first loss, and whose fast recovery has just ended at t0: the start of a
// congestion avoidance stage.
func cubicAfterLoss(t *testing.T, wMax float64) (*Cubic, *CongestionWindow) {
	t.Helper()
	c := NewCubic()
	w := &CongestionWindow{MSS: cubicMSS}
	c.Init(w, t0)
	w.CWnd = bytesOf(wMax)
	c.OnLoss(w, w.CWnd, t0)
	c.OnRecoveryEnd(w, t0)
	require.False(t, w.InSlowStart(), "recovery ends in congestion avoidance")
	return c, w
}

// sample is the window at the end of a round trip.
type sample struct {
	t    float64 // seconds since start
	cwnd float64 // segments
}

// roundTrips drives c for n round trips of rtt from start: in each, one ACK
// of one MSS for every whole segment of the window, spread evenly over the
// round trip, with SRTT = rtt. It returns the window after each round trip.
func roundTrips(c *Cubic, w *CongestionWindow, start time.Time, rtt time.Duration, n int) []sample {
	var out []sample
	now := start
	for range n {
		acks := int(w.CWnd / w.MSS)
		for i := range acks {
			c.OnAck(w, w.MSS, rtt, now.Add(rtt*time.Duration(i)/time.Duration(acks)))
		}
		now = now.Add(rtt)
		out = append(out, sample{t: now.Sub(start).Seconds(), cwnd: segs(w.CWnd)})
	}
	return out
}

// TestCubicK checks Figure 2: after a loss the window restarts from
// beta_cubic*W_max, and K = cubic_root(W_max*(1-beta_cubic)/C) is the time
// the curve takes back to W_max.
func TestCubicK(t *testing.T) {
	tests := []struct {
		wMax  float64 // segments
		wantK float64 // seconds: cbrt(wMax*0.3/0.4)
	}{
		{wMax: 10, wantK: 1.95743},
		{wMax: 100, wantK: 4.21716},
		{wMax: 1000, wantK: 9.08560},
	}
	for _, tt := range tests {
		assert.InDelta(t, tt.wantK, cubicK(tt.wMax, 0.7*tt.wMax), 1e-5, "Figure 2, W_max %v", tt.wMax)

		c, w := cubicAfterLoss(t, tt.wMax)
		c.OnAck(w, w.MSS, 100*time.Millisecond, t0) // the first ACK starts the epoch
		assert.InDelta(t, tt.wantK, c.k, 1e-5, "K after a loss at W_max %v", tt.wMax)
		assert.InDelta(t, tt.wMax, c.wMax, 1e-9, "W_max")
		assert.Equal(t, t0, c.epochStart, "t_epoch")
	}
}

// TestCubicWindowFollowsTheCurve drives congestion avoidance for two K's
// worth of round trips and compares the window after each with Figure 1,
// W_cubic(t) = C*(t-K)^3 + W_max. Each ACK aims at W_cubic one RTT ahead,
// so after each round trip the window is on the curve, within a fraction
// of a segment.
func TestCubicWindowFollowsTheCurve(t *testing.T) {
	tests := []struct {
		name string
		wMax float64 // segments
		rtt  time.Duration
	}{
		{name: "1000 segments, 100 ms", wMax: 1000, rtt: 100 * time.Millisecond},
		{name: "300 segments, 200 ms", wMax: 300, rtt: 200 * time.Millisecond},
		{name: "5000 segments, 50 ms", wMax: 5000, rtt: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := cubicAfterLoss(t, tt.wMax)
			k := math.Cbrt(tt.wMax * 0.3 / 0.4)
			n := int(2 * k / tt.rtt.Seconds())
			for _, s := range roundTrips(c, w, t0, tt.rtt, n) {
				want := wCubicAt(s.t, tt.wMax)
				if math.Abs(s.cwnd-want) > 0.5 {
					t.Fatalf("at t = %.2f s: got cwnd %.2f segments, want W_cubic %.2f", s.t, s.cwnd, want)
				}
			}
		})
	}
}

// TestCubicConcaveThenConvex checks the shape around W_max: below it the
// window grows more slowly each round trip (concave, RFC 9438 §4.4), it
// flattens out at K, and above it grows faster each round trip (convex,
// §4.5).
func TestCubicConcaveThenConvex(t *testing.T) {
	const wMax = 1000
	rtt := 100 * time.Millisecond
	c, w := cubicAfterLoss(t, wMax)
	k := cubicK(wMax, 0.7*wMax)
	s := roundTrips(c, w, t0, rtt, int(2*k/rtt.Seconds()))

	tests := []struct {
		region   string
		from, to float64 // seconds
		below    bool    // the window stays below W_max
		slowing  bool    // each round trip adds less than the one before
	}{
		{region: "concave", from: 0, to: k - 0.2, below: true, slowing: true},
		{region: "convex", from: k + 0.2, to: 2 * k, below: false, slowing: false},
	}
	for _, tt := range tests {
		for i := 2; i < len(s); i++ {
			if s[i].t < tt.from || s[i].t > tt.to {
				continue
			}
			assert.Equal(t, tt.below, s[i].cwnd < wMax, "%s at t = %.1f s: cwnd %.2f, W_max %d", tt.region, s[i].t, s[i].cwnd, wMax)
			growth, before := s[i].cwnd-s[i-1].cwnd, s[i-1].cwnd-s[i-2].cwnd
			if tt.slowing {
				assert.LessOrEqual(t, growth, before+1e-6, "%s at t = %.1f s: growth per round trip", tt.region, s[i].t)
			} else {
				assert.GreaterOrEqual(t, growth, before-1e-6, "%s at t = %.1f s: growth per round trip", tt.region, s[i].t)
			}
		}
	}
	// The plateau: around K the window is within a segment of W_max and
	// barely moves.
	for i := 1; i < len(s); i++ {
		if math.Abs(s[i].t-k) <= 0.5 {
			assert.InDelta(t, wMax, s[i].cwnd, 1, "at t = %.1f s, K = %.2f s", s[i].t, k)
			assert.Less(t, s[i].cwnd-s[i-1].cwnd, 0.1, "growth per round trip near K")
		}
	}
}

// TestCubicRenoFriendlyRegion checks §4.3: with a small window and a short
// round trip, the cubic curve climbs slower than Reno would, and the window
// follows W_est instead: alpha_cubic (about 0.53) segments per round trip,
// then one, like Reno, once W_est has passed cwnd_prior. With a large
// window and a long round trip the curve is ahead, and W_est stays behind.
func TestCubicRenoFriendlyRegion(t *testing.T) {
	tests := []struct {
		name     string
		wMax     float64
		rtt      time.Duration
		rounds   int
		wantReno bool
	}{
		{name: "10 segments, 1 ms: Reno-friendly", wMax: 10, rtt: time.Millisecond, rounds: 200, wantReno: true},
		{name: "20 segments, 10 ms: Reno-friendly", wMax: 20, rtt: 10 * time.Millisecond, rounds: 100, wantReno: true},
		{name: "1000 segments, 100 ms: cubic", wMax: 1000, rtt: 100 * time.Millisecond, rounds: 50, wantReno: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := cubicAfterLoss(t, tt.wMax)
			s := roundTrips(c, w, t0, tt.rtt, tt.rounds)
			last := s[len(s)-1]
			if !tt.wantReno {
				assert.Less(t, c.wEst, last.cwnd-10, "W_est falls behind")
				assert.InDelta(t, wCubicAt(last.t, tt.wMax), last.cwnd, 0.5, "the window is on the cubic curve")
				return
			}
			assert.Greater(t, last.cwnd, wCubicAt(last.t, tt.wMax)+10, "the cubic curve falls behind")
			assert.InDelta(t, c.wEst, last.cwnd, 0.01, "the window is W_est")
			assert.InDelta(t, cubicAlpha, s[0].cwnd-0.7*tt.wMax, 0.05, "first round trip: alpha_cubic segments")
			assert.InDelta(t, 1, last.cwnd-s[len(s)-2].cwnd, 0.05, "past cwnd_prior: one segment per round trip")
		})
	}
}

// TestCubicLoss checks the multiplicative decrease (§4.6, Figure 5) and
// fast convergence (§4.7): W_max is the window at the loss, or
// cwnd*(1+beta_cubic)/2 when the loss comes before the window is back at
// the previous W_max; ssthresh is beta_cubic times the flight size, at
// least two segments; recovery starts from ssthresh.
func TestCubicLoss(t *testing.T) {
	tests := []struct {
		name         string
		prevWMax     float64 // W_max before the loss, segments (0: none)
		cwnd, flight float64 // at the loss, segments
		wantWMax     float64
		wantSSThresh float64
	}{
		{name: "first loss", prevWMax: 0, cwnd: 100, flight: 100, wantWMax: 100, wantSSThresh: 70},
		{name: "past the previous W_max", prevWMax: 100, cwnd: 120, flight: 120, wantWMax: 120, wantSSThresh: 84},
		{name: "fast convergence: below the previous W_max", prevWMax: 100, cwnd: 80, flight: 80, wantWMax: 68, wantSSThresh: 56},
		{name: "application-limited: ssthresh from the flight size", prevWMax: 0, cwnd: 100, flight: 40, wantWMax: 100, wantSSThresh: 28},
		{name: "at least two segments", prevWMax: 0, cwnd: 2, flight: 1, wantWMax: 2, wantSSThresh: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCubic()
			w := &CongestionWindow{MSS: cubicMSS}
			c.Init(w, t0)
			c.wMax = tt.prevWMax
			c.epochStart = t0
			w.CWnd = bytesOf(tt.cwnd)
			c.OnLoss(w, bytesOf(tt.flight), t0.Add(time.Second))
			assert.InDelta(t, tt.wantWMax, c.wMax, 1e-9, "W_max")
			assert.Equal(t, bytesOf(tt.wantSSThresh), w.SSThresh, "ssthresh")
			assert.Equal(t, w.SSThresh, w.CWnd, "recovery starts from ssthresh")
			assert.InDelta(t, tt.cwnd, c.cwndPrior, 1e-9, "cwnd_prior")
			assert.True(t, c.epochStart.IsZero(), "the epoch ends")
		})
	}
}

// TestCubicFastConvergence follows two losses: the first at 100 segments,
// the second 2 s into the climb back, at about 86. The second W_max is
// 0.85 times that window, so the next plateau comes sooner and lower than
// it would without fast convergence.
func TestCubicFastConvergence(t *testing.T) {
	rtt := 100 * time.Millisecond
	c, w := cubicAfterLoss(t, 100)
	roundTrips(c, w, t0, rtt, 20)
	cwnd := segs(w.CWnd)
	require.InDelta(t, wCubicAt(2, 100), cwnd, 0.5, "2 s after the first loss")
	require.Less(t, cwnd, 100.0)

	now := t0.Add(2 * time.Second)
	c.OnLoss(w, w.CWnd, now)
	c.OnRecoveryEnd(w, now)
	assert.InDelta(t, cwnd*0.85, c.wMax, 1e-9, "W_max = cwnd*(1+beta_cubic)/2")
	c.OnAck(w, w.MSS, rtt, now)
	epoch := segs(w.SSThresh)
	assert.InDelta(t, math.Cbrt((0.85*cwnd-epoch)/0.4), c.k, 1e-9, "K toward the lowered W_max")
	assert.Less(t, c.k, math.Cbrt((cwnd-epoch)/0.4), "the plateau comes sooner")
}

// TestCubicTimeout checks §4.8: cwnd falls to one segment, ssthresh is set
// as on a loss, and the first congestion avoidance stage after the slow
// start that follows uses K = 0 and W_max = cwnd_epoch.
func TestCubicTimeout(t *testing.T) {
	c, w := cubicAfterLoss(t, 100)
	rtt := 100 * time.Millisecond
	roundTrips(c, w, t0, rtt, 10)
	cwnd := w.CWnd

	now := t0.Add(5 * time.Second)
	c.OnTimeout(w, cwnd, now)
	assert.Equal(t, uint32(cubicMSS), w.CWnd, "the loss window: one segment")
	assert.Equal(t, uint32(uint64(cwnd)*7/10), w.SSThresh, "ssthresh = beta_cubic*flight")
	assert.True(t, c.epochStart.IsZero(), "the epoch ends")

	for w.InSlowStart() {
		before := w.CWnd
		c.OnAck(w, w.MSS, rtt, now)
		require.Equal(t, before+cubicMSS, w.CWnd, "slow start: one MSS per ACK")
		now = now.Add(time.Millisecond)
	}
	epoch := segs(w.CWnd)
	c.OnAck(w, w.MSS, rtt, now)
	assert.Equal(t, now, c.epochStart, "a new epoch")
	assert.Zero(t, c.k, "K = 0")
	assert.InDelta(t, epoch, c.wMax, 1e-9, "W_max = cwnd_epoch")
	assert.InDelta(t, epoch, c.wEst-cubicAlpha/epoch, 1e-9, "W_est starts at cwnd_epoch")
}

// TestCubicSlowStart checks that below ssthresh the window grows as in
// RFC 5681 §3.1: by what each ACK acknowledges, at most one MSS.
func TestCubicSlowStart(t *testing.T) {
	tests := []struct {
		acked uint32
		want  uint32
	}{
		{acked: 100, want: 100},
		{acked: cubicMSS, want: cubicMSS},
		{acked: 2 * cubicMSS, want: cubicMSS},
	}
	for _, tt := range tests {
		c := NewCubic()
		w := &CongestionWindow{MSS: cubicMSS}
		c.Init(w, t0)
		require.Equal(t, uint32(10*cubicMSS), w.CWnd, "initial window (RFC 6928)")
		c.OnAck(w, tt.acked, 0, t0)
		assert.Equal(t, 10*cubicMSS+tt.want, w.CWnd, "acked %d", tt.acked)
	}
}

// TestCubicIdleRestartsEpoch checks that an idle period is left out of t
// (§4.2, §5.8): after no ACK for longer than about an RTO, the epoch starts
// again at the next ACK, and the window does not leap to where the curve
// would be had the sender been busy all along.
func TestCubicIdleRestartsEpoch(t *testing.T) {
	rtt := 100 * time.Millisecond
	tests := []struct {
		name        string
		gap         time.Duration
		wantRestart bool
	}{
		{name: "a round trip without ACKs", gap: rtt, wantRestart: false},
		{name: "idle for 10 s", gap: 10 * time.Second, wantRestart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := cubicAfterLoss(t, 1000)
			roundTrips(c, w, t0, rtt, 10)
			last := c.lastAck
			now := last.Add(tt.gap)
			before := segs(w.CWnd)
			c.OnAck(w, w.MSS, rtt, now)
			if !tt.wantRestart {
				assert.Equal(t, t0, c.epochStart, "the epoch goes on")
				return
			}
			assert.Equal(t, now, c.epochStart, "the epoch restarts")
			assert.InDelta(t, cubicK(1000, before), c.k, 1e-9, "K from the current window")
			assert.Less(t, segs(w.CWnd)-before, 0.1, "no leap: W_cubic(11 s) would be %.0f segments", wCubicAt(11, 1000))
		})
	}
}

// TestCubicWithoutRTTSample checks congestion avoidance before any RTT
// sample (SRTT 0): the curve cannot look one round trip ahead, so only
// W_est moves the window, by alpha_cubic segments per window of ACKs.
func TestCubicWithoutRTTSample(t *testing.T) {
	c, w := cubicAfterLoss(t, 1000)
	start := segs(w.CWnd)
	for range int(start) {
		c.OnAck(w, w.MSS, 0, t0)
	}
	assert.InDelta(t, cubicAlpha, segs(w.CWnd)-start, 0.01)
}

// TestNewCongestionControl checks the names Config.Congestion accepts;
// the empty name is the default, CUBIC.
func TestNewCongestionControl(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{name: "", want: CongestionCubic},
		{name: "cubic", want: CongestionCubic},
		{name: "newreno", want: CongestionNewReno},
		{name: "bbr", wantErr: true},
	}
	for _, tt := range tests {
		cc, err := NewCongestionControl(tt.name)
		if tt.wantErr {
			require.Error(t, err, tt.name)
			assert.ErrorContains(t, err, `"cubic"`)
			assert.ErrorContains(t, err, `"newreno"`)
			assert.Error(t, Config{Congestion: tt.name}.Check())
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, cc.Name(), "%q", tt.name)
	}
	assert.Equal(t, CongestionCubic, DefaultCongestion, "CUBIC is the default, as in Linux")
}

// TestInfoNamesTheCongestionControl checks that Info shows the algorithm.
func TestInfoNamesTheCongestionControl(t *testing.T) {
	p := handshake(t, 1, 2)
	assert.Equal(t, CongestionCubic, p.client.Info().Congestion)
	assert.Equal(t, CongestionCubic, p.server.Info().Congestion)
}
