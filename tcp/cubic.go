package tcp

import (
	"math"
	"time"
)

// CUBIC congestion control, RFC 9438: the default here, as in Linux.
//
// Reno grows the window by one segment per round trip, so on a path with a
// large bandwidth-delay product it needs minutes to come back after a loss.
// CUBIC makes the window a function of the time since the last loss instead
// of the number of ACKs:
//
//	W_cubic(t) = C*(t-K)^3 + W_max              (RFC 9438 §4.2, Figure 1)
//	K = cubic_root((W_max - cwnd_epoch)/C)      (Figure 2)
//
// W_max is the window where the last loss happened, t the seconds since
// the current congestion avoidance stage (the "epoch") began, and K the time
// the curve takes to climb from cwnd_epoch back to W_max. Just after a loss
// the window climbs fast, slows down as it nears W_max (the concave region,
// §4.4), stays close to it a while, then probes beyond it, slowly at first
// and faster and faster (the convex region, §4.5). After a loss with a
// full window, the window starts again from beta_cubic*W_max, so
// cwnd_epoch = 0.7*W_max and Figure 2 is RFC 8312's
// K = cubic_root(W_max*(1-beta_cubic)/C).
//
//	 cwnd                                         .
//	   |          concave            convex     .
//	   |                                     .'
//	 W_max - - - - - - - - . . . . . . . - - - - - -
//	   |               . '
//	   |           . '
//	   |        .'
//	   |      .
//	   +------|------------------|--------------------> t
//	        epoch                K
//
// Where Reno would do better (short round trips, small windows), CUBIC
// follows an estimate of Reno's window, W_est, instead (the Reno-friendly
// region, §4.3). A loss multiplies the window by beta_cubic = 0.7 rather
// than Reno's 0.5 (§4.6), and lowers W_max further when a loss comes before
// the window is back at the previous W_max (fast convergence, §4.7).
//
// Units. The RFC counts windows in segments and time in seconds; the
// CongestionWindow counts bytes. Cubic keeps its own state (W_max, W_est,
// K) in float64 segments, reads cwnd from the CongestionWindow on every
// call (the connection changes it too), and writes whole bytes back,
// carrying the fraction of a byte to the next ACK so that the small steps
// near W_max are not lost to rounding.
//
// Left out, and why:
//   - HyStart++ (RFC 9406), which §4.10 recommends ("CUBIC SHOULD use the
//     HyStart++ slow start algorithm ... or MAY use the Reno TCP slow start
//     algorithm"): slow start here is RFC 5681's and ends at the first loss.
//   - Undoing a spurious reduction (§4.9, a MAY): it needs an event the
//     CongestionControl interface does not have.
//   - ECN (§4.6's reduction on ECE): tinytcp does not negotiate ECN.
//   - Application-limited flows (§5.8) beyond idle periods: OnAck is not
//     told whether the sender had filled cwnd, so the window may grow while
//     the application sends less. That is why a loss computes ssthresh from
//     the flight size, as §4.6 asks of such implementations (reduce).
//   - RFC 5681 §4.1's restart window (cwnd back to the initial window after
//     an idle RTO): it must happen before the sender sends again, and the
//     interface has no "about to send after idle" event; the sender would
//     do it. Cubic only restarts its epoch (see idle below).

// CUBIC's constants (RFC 9438 §4.6, §5.1, §4.3).
const (
	cubicC    = 0.4 // C, segments per second cubed: "C SHOULD be set to 0.4" (§5.1)
	cubicBeta = 0.7 // beta_cubic, the multiplicative decrease: SHOULD be 0.7 (§4.6)
	// cubicAlpha is alpha_cubic = 3*(1-beta_cubic)/(1+beta_cubic), about
	// 0.53: the additive increase, in segments per round trip, that gives
	// an AIMD(alpha, 0.7) flow the average window of Reno's AIMD(1, 0.5).
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
)

// Cubic is RFC 9438's algorithm. Its zero value is ready for Init.
type Cubic struct {
	wMax       float64   // W_max: window before the last reduction, segments; 0 for "take cwnd_epoch" (§4.8)
	cwndPrior  float64   // cwnd_prior: cwnd when ssthresh was last set, segments
	k          float64   // K: seconds from t_epoch until W_cubic reaches W_max (Figure 2)
	epochStart time.Time // t_epoch: when this congestion avoidance stage began; zero until its first ACK
	wEst       float64   // W_est: Reno's window in the Reno-friendly region, segments (§4.3)
	lastAck    time.Time // when OnAck last ran, to notice idle periods (§5.8)
	carry      float64   // growth below one byte, carried to the next ACK
}

// NewCubic returns a CUBIC instance for one connection.
func NewCubic() *Cubic { return &Cubic{} }

// Name implements CongestionControl.
func (*Cubic) Name() string { return CongestionCubic }

// Init implements CongestionControl: the same start as NewReno, ten
// segments (RFC 6928) and an "arbitrarily high" ssthresh (RFC 5681 §3.1).
// There is no W_max until the first loss.
func (c *Cubic) Init(w *CongestionWindow, _ time.Time) {
	*c = Cubic{}
	w.CWnd = InitialWindowSegments * w.MSS
	w.SSThresh = ^uint32(0)
}

// OnAck implements CongestionControl. Below ssthresh it is RFC 5681's slow
// start (§4.10); above it, the window moves toward the larger of the cubic
// curve one round trip ahead and Reno's estimate (§4.2 to §4.5).
func (c *Cubic) OnAck(w *CongestionWindow, acked uint32, srtt time.Duration, now time.Time) {
	if c.idle(now, srtt) {
		c.epochStart = time.Time{}
	}
	c.lastAck = now
	if w.InSlowStart() {
		w.CWnd = min(w.CWnd+min(acked, w.MSS), maxCWnd)
		return
	}

	mss := float64(max(w.MSS, 1))
	cwnd := float64(w.CWnd) / mss
	if c.epochStart.IsZero() {
		c.startEpoch(cwnd, now)
	}
	// segments_acked (§4.1) "will be a decimal value when a new ACK
	// acknowledges an amount of data that is not MSS-sized".
	segments := float64(acked) / mss
	t := now.Sub(c.epochStart).Seconds()

	// Concave and convex regions (§4.4, §4.5): "cwnd MUST be incremented
	// by (target - cwnd)/cwnd for each received new ACK", where target is
	// W_cubic one RTT ahead, kept between cwnd and 1.5*cwnd so that the
	// window never shrinks here and never grows faster than slow start
	// (§4.2). The step is taken once per segment the ACK covers, as Linux
	// does and as W_est's segments_acked is: a window's worth of segments
	// reaches the target in one round trip whether the receiver ACKs every
	// segment or, with delayed ACKs, every other one.
	//
	// Without an RTT sample there is no telling where "one round trip
	// ahead" is, so the curve holds still (target = cwnd) and only the
	// ACK-clocked Reno estimate below moves the window; the first sample
	// comes with the first ACK of a segment sent once.
	target := cwnd
	if srtt > 0 {
		target = min(max(c.wCubic(t+srtt.Seconds()), cwnd), 1.5*cwnd)
	}
	next := cwnd + (target-cwnd)/cwnd*segments

	// Reno-friendly region (§4.3, Figure 4): "W_est = W_est + alpha_cubic
	// * segments_acked / cwnd", with alpha_cubic 1 once W_est has reached
	// cwnd_prior, where Reno would be past its own last reduction. "CUBIC
	// computes both W_cubic(t) and W_est ... and chooses the larger of the
	// two values" (§4.2).
	alpha := cubicAlpha
	if c.wEst >= c.cwndPrior {
		alpha = 1
	}
	c.wEst += alpha * segments / cwnd
	next = max(next, c.wEst)

	grow := (next-cwnd)*mss + c.carry
	whole := math.Floor(grow)
	c.carry = grow - whole
	w.CWnd = min(w.CWnd+uint32(min(whole, maxCWnd)), maxCWnd)
}

// startEpoch begins a congestion avoidance stage with the window cwnd
// (segments): t_epoch is now, W_est starts at cwnd_epoch (§4.3), and K is
// the time to climb back to W_max (Figure 2). After a timeout, or when the
// window is already at or past W_max, K is 0 and W_max is cwnd_epoch: the
// curve starts at its inflection point and probes upward (§4.8: "K is set
// to 0, and W_max is set to the congestion window size at the beginning of
// the current congestion avoidance stage").
func (c *Cubic) startEpoch(cwnd float64, now time.Time) {
	c.epochStart = now
	c.wEst = cwnd
	c.carry = 0
	if c.wMax <= cwnd {
		c.wMax = cwnd
		c.k = 0
		return
	}
	c.k = cubicK(c.wMax, cwnd)
}

// cubicK is Figure 2: the seconds W_cubic takes to grow from cwndEpoch to
// wMax (segments).
func cubicK(wMax, cwndEpoch float64) float64 {
	return math.Cbrt((wMax - cwndEpoch) / cubicC)
}

// wCubic is Figure 1: the window, in segments, t seconds into the epoch.
func (c *Cubic) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*d*d*d + c.wMax
}

// idle reports whether no ACK has come for longer than about one RTO: the
// sender had nothing in flight, or the receiver's window held it back. §4.2
// says "The elapsed time t in Figure 1 MUST NOT include periods during which
// cwnd has not been updated due to application-limited behavior", or the
// curve would be far ahead when sending resumes. The interface has no event
// for "sending again after idle", so Cubic notices the gap at the next ACK
// and restarts its epoch from the current cwnd. That leaves the idle time
// out of t: below W_max, the new epoch's K is where the same curve reaches
// W_max from the current cwnd, so the window goes on along it from where
// it stopped; past W_max, the probe starts again, gently, from K = 0. The
// RTO is not passed in; max(2*SRTT, MinRTO), or InitialRTO before a
// sample, stands in for it (a shorter stand-in only restarts the epoch
// sooner, which errs on the careful side).
func (c *Cubic) idle(now time.Time, srtt time.Duration) bool {
	if c.lastAck.IsZero() {
		return false
	}
	gap := InitialRTO
	if srtt > 0 {
		gap = max(2*srtt, MinRTO)
	}
	return now.Sub(c.lastAck) > gap
}

// OnLoss implements CongestionControl: fast convergence (§4.7) updates
// W_max, then the multiplicative decrease of §4.6 (Figure 5) sets
// ssthresh, and recovery starts from it (cwnd = ssthresh, as NewReno's).
func (c *Cubic) OnLoss(w *CongestionWindow, flight uint32, _ time.Time) {
	cwnd := float64(w.CWnd) / float64(max(w.MSS, 1))
	// Fast convergence: a loss below the previous W_max means the flow's
	// share is shrinking (another flow joined); plateau lower, at
	// cwnd*(1+beta_cubic)/2, to give the newcomer room. §4.7 asks to turn
	// it off when the flow is alone on the path; a sender cannot know
	// that, and Linux keeps it on.
	if cwnd < c.wMax {
		c.wMax = cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = cwnd
	}
	c.reduce(w, cwnd, flight)
	w.CWnd = w.SSThresh
}

// OnTimeout implements CongestionControl (§4.8): "CUBIC follows Reno to
// reduce cwnd", to one segment, "but sets ssthresh using beta_cubic (same as
// in Section 4.6)". The next congestion avoidance stage starts with K = 0
// and W_max = its cwnd_epoch (startEpoch).
func (c *Cubic) OnTimeout(w *CongestionWindow, flight uint32, _ time.Time) {
	c.reduce(w, float64(w.CWnd)/float64(max(w.MSS, 1)), flight)
	c.wMax = 0
	w.CWnd = w.MSS
}

// reduce is what a loss and a timeout share (§4.6, Figure 5):
//
//	ssthresh = flight_size * beta_cubic
//	cwnd_prior = cwnd
//	ssthresh = max(ssthresh, 2)     (segments)
//
// and the epoch ends: the next one starts at the first ACK of congestion
// avoidance. The RFC uses the flight size, and says: "Some implementations
// of CUBIC currently use cwnd instead of flight_size when calculating a new
// ssthresh. Implementations that use cwnd MUST use other measures to
// prevent cwnd from growing when the volume of bytes in flight is smaller
// than cwnd." Linux uses cwnd and stops growing it when the sender is not
// cwnd-limited; tinytcp's OnAck cannot tell, so it follows the RFC's
// flight size. For a sender that fills its window the two are the same.
// beta_cubic is applied as 7/10 in integers so that bytes stay exact.
func (c *Cubic) reduce(w *CongestionWindow, cwnd float64, flight uint32) {
	c.cwndPrior = cwnd
	w.SSThresh = max(uint32(uint64(flight)*7/10), 2*w.MSS)
	c.epochStart = time.Time{}
	c.carry = 0
}

// OnRecoveryEnd implements CongestionControl: the window deflates to
// ssthresh (as NewReno's), and congestion avoidance, so a new epoch, begins
// with the next ACK.
func (c *Cubic) OnRecoveryEnd(w *CongestionWindow, _ time.Time) {
	w.CWnd = w.SSThresh
	c.epochStart = time.Time{}
}
