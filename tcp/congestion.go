package tcp

import (
	"fmt"
	"time"
)

// Congestion control (RFC 5681 §3, RFC 9293 §3.8.2, MUST-19): how much a
// sender may have in flight, beyond what the receiver's window allows, so
// that it shares the path instead of flooding it. The window (cwnd) grows
// while data is acknowledged and falls when a loss shows the path is full;
// ssthresh remembers where the last loss happened, and separates slow start
// (below it: the window doubles every round trip) from congestion avoidance
// (above it: it grows slowly).
//
// The algorithm sits behind a small interface, as in Linux (tcp_congestion_ops)
// and gVisor (congestionControl): it only moves the numbers in a
// CongestionWindow. Which segments to resend, and when, is loss recovery,
// and belongs to the connection (recovery.go). Two algorithms: NewReno
// (RFC 5681, RFC 6582), the textbook one, below, and CUBIC (RFC 9438,
// cubic.go), the default, as in Linux since 2.6.19.

// CongestionWindow is the state a congestion control algorithm works on.
type CongestionWindow struct {
	CWnd     uint32 // congestion window, bytes
	SSThresh uint32 // slow start threshold, bytes
	MSS      uint32 // sender maximum segment size (SMSS)
}

// InSlowStart reports whether the window is below ssthresh (RFC 5681 §3.1).
func (w *CongestionWindow) InSlowStart() bool { return w.CWnd < w.SSThresh }

// CongestionControl is one congestion control algorithm.
type CongestionControl interface {
	// Name is what Config.Congestion and the trace call it.
	Name() string
	// Init sets the initial window when the connection is established.
	Init(w *CongestionWindow, now time.Time)
	// OnAck grows the window for acked bytes newly acknowledged outside
	// loss recovery; srtt is the smoothed RTT, 0 before any sample.
	OnAck(w *CongestionWindow, acked uint32, srtt time.Duration, now time.Time)
	// OnLoss reacts to a loss found by duplicate ACKs or SACK, at the
	// start of fast recovery: it sets SSThresh, and CWnd to the window
	// recovery starts from. flight is FlightSize (RFC 5681), the bytes
	// sent and not acknowledged.
	OnLoss(w *CongestionWindow, flight uint32, now time.Time)
	// OnTimeout reacts to a retransmission timeout: SSThresh from flight,
	// CWnd one segment (RFC 5681 §3.1, the "loss window").
	OnTimeout(w *CongestionWindow, flight uint32, now time.Time)
	// OnRecoveryEnd is called when fast recovery ends: the window
	// deflates to what OnLoss set as ssthresh (RFC 6582 §3.2 step 6).
	OnRecoveryEnd(w *CongestionWindow, now time.Time)
}

// Congestion control names for Config.Congestion.
const (
	CongestionNewReno = "newreno"
	CongestionCubic   = "cubic"
)

// DefaultCongestion is the algorithm a connection uses unless Config says:
// CUBIC, as in Linux (net.ipv4.tcp_congestion_control).
const DefaultCongestion = CongestionCubic

// InitialWindowSegments is the initial window of RFC 6928, in segments.
const InitialWindowSegments = 10

// NewCongestionControl returns a fresh instance of the named algorithm;
// the empty name is DefaultCongestion.
func NewCongestionControl(name string) (CongestionControl, error) {
	if name == "" {
		name = DefaultCongestion
	}
	switch name {
	case CongestionCubic:
		return NewCubic(), nil
	case CongestionNewReno:
		return &NewReno{}, nil
	}
	return nil, fmt.Errorf("tcp: unknown congestion control %q (want %q or %q)", name, CongestionCubic, CongestionNewReno)
}

// restartAfterIdle shrinks the window of a connection that has sent
// nothing for longer than an RTO (RFC 5681 §4.1, part of MUST-19): "a TCP
// SHOULD set cwnd to no more than RW before beginning transmission", with
// RW = min(IW, cwnd). The ACK clock has stopped, and a full window sent
// at once into a network whose state is unknown would be a burst.
func (c *Conn) restartAfterIdle(now time.Time) {
	if c.lastSend.IsZero() || c.snd.una != c.snd.max || now.Sub(c.lastSend) <= c.rtt.current() {
		return
	}
	if rw := InitialWindowSegments * uint32(c.snd.mss); c.cong.CWnd > rw {
		c.cong.CWnd = rw
		c.event("restart after idle")
	}
}

// maxCWnd bounds the window so that arithmetic on it never overflows.
const maxCWnd = 1 << 30

// lossThreshold is ssthresh after a loss with FlightSize flight: half of
// it, at least two segments (RFC 5681 §3.1, equation 4).
func lossThreshold(flight, mss uint32) uint32 { return max(flight/2, 2*mss) }

// NewReno is RFC 5681's algorithm: slow start adds up to one SMSS per ACK,
// congestion avoidance about one SMSS per round trip, and a loss halves the
// flight.
type NewReno struct{}

// Name implements CongestionControl.
func (*NewReno) Name() string { return CongestionNewReno }

// Init implements CongestionControl: ten segments (RFC 6928) and an
// "arbitrarily high" ssthresh (RFC 5681 §3.1).
func (*NewReno) Init(w *CongestionWindow, _ time.Time) {
	w.CWnd = InitialWindowSegments * w.MSS
	w.SSThresh = ^uint32(0)
}

// OnAck implements CongestionControl (RFC 5681 §3.1): in slow start
// "cwnd += min (N, SMSS)" (equation 2); in congestion avoidance
// "cwnd += SMSS*SMSS/cwnd" (equation 3), about one SMSS per round trip.
func (*NewReno) OnAck(w *CongestionWindow, acked uint32, _ time.Duration, _ time.Time) {
	if w.InSlowStart() {
		w.CWnd += min(acked, w.MSS)
	} else {
		w.CWnd += max(1, w.MSS*w.MSS/w.CWnd)
	}
	w.CWnd = min(w.CWnd, maxCWnd)
}

// OnLoss implements CongestionControl: ssthresh = max(FlightSize/2, 2*SMSS)
// (equation 4), and recovery starts from ssthresh (RFC 6675 §5: "cwnd =
// ssthresh"; RFC 5681's +3*SMSS inflation is the pipe estimate's job here).
func (*NewReno) OnLoss(w *CongestionWindow, flight uint32, _ time.Time) {
	w.SSThresh = lossThreshold(flight, w.MSS)
	w.CWnd = w.SSThresh
}

// OnTimeout implements CongestionControl: equation 4, then "cwnd MUST be set
// to no more than the loss window, LW, which equals 1 full-sized segment".
func (*NewReno) OnTimeout(w *CongestionWindow, flight uint32, _ time.Time) {
	w.SSThresh = lossThreshold(flight, w.MSS)
	w.CWnd = w.MSS
}

// OnRecoveryEnd implements CongestionControl: "set cwnd to min(ssthresh,
// max(FlightSize, SMSS) + SMSS)" or simply ssthresh (RFC 6582 §3.2 step 6,
// option 2 kept simple): cwnd = ssthresh.
func (*NewReno) OnRecoveryEnd(w *CongestionWindow, _ time.Time) {
	w.CWnd = w.SSThresh
}
