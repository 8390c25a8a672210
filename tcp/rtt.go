package tcp

import "time"

// The retransmission timer's estimator, RFC 6298 §2.
//
//	first sample R:  SRTT <- R, RTTVAR <- R/2
//	later samples:   RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
//	                 SRTT <- (1 - alpha) * SRTT + alpha * R'
//	                 RTO <- SRTT + max(G, K*RTTVAR)
//
// with alpha = 1/8, beta = 1/4, K = 4. Samples are taken by timing one
// segment at a time and never from a retransmitted segment (Karn's
// algorithm, MUST-18); the caller enforces that. Not here yet: samples from
// the timestamps option (RFC 7323), which arrive with the error-control issue.

// RTO bounds. RFC 6298 §2.4 asks for a 1 s minimum; like Linux and gVisor
// tinytcp uses 200 ms, which the RFC's §2.4 footnote allows for modern links.
const (
	InitialRTO = time.Second // RFC 6298 §2.1
	MinRTO     = 200 * time.Millisecond
	MaxRTO     = 120 * time.Second // RFC 6298 §2.5 allows an upper bound of at least 60 s
	clockG     = time.Millisecond  // clock granularity G
)

// rttEstimator holds SRTT, RTTVAR and the current RTO.
type rttEstimator struct {
	srtt    time.Duration // smoothed round-trip time; 0 until the first sample
	rttvar  time.Duration // round-trip time variation
	rto     time.Duration // retransmission timeout before backoff
	backoff uint          // number of times the timer expired in a row (RFC 6298 §5.5)
	minRTO  time.Duration
}

func newRTTEstimator(minRTO time.Duration) rttEstimator {
	return rttEstimator{rto: InitialRTO, minRTO: minRTO}
}

// sample feeds one round-trip measurement r (RFC 6298 §2.2, §2.3).
func (e *rttEstimator) sample(r time.Duration) {
	if r <= 0 {
		r = clockG
	}
	if e.srtt == 0 {
		e.srtt = r
		e.rttvar = r / 2
	} else {
		delta := e.srtt - r
		if delta < 0 {
			delta = -delta
		}
		e.rttvar = (3*e.rttvar + delta) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.rto = min(max(e.srtt+max(clockG, 4*e.rttvar), e.minRTO), MaxRTO)
	e.backoff = 0
}

// current returns the RTO with exponential backoff applied (RFC 6298 §5.5:
// "set RTO <- RTO * 2"), capped at MaxRTO.
func (e *rttEstimator) current() time.Duration {
	d := e.rto
	for i := uint(0); i < e.backoff && d < MaxRTO; i++ {
		d *= 2
	}
	return min(d, MaxRTO)
}
