package tcp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// The transmission control block, RFC 9293 §3.3.1.
//
// Send sequence space (RFC 9293 Figure 3):
//
//	           1         2          3          4
//	      ----------|----------|----------|----------
//	             SND.UNA    SND.NXT    SND.UNA
//	                                  +SND.WND
//
//	1 - old sequence numbers that have been acknowledged
//	2 - sequence numbers of unacknowledged data
//	3 - sequence numbers allowed for new data transmission
//	4 - future sequence numbers that are not yet allowed
//
// Receive sequence space (RFC 9293 Figure 4):
//
//	               1          2          3
//	           ----------|----------|----------
//	                  RCV.NXT    RCV.NXT
//	                            +RCV.WND
//
//	1 - old sequence numbers that have been acknowledged
//	2 - sequence numbers allowed for new reception
//	3 - future sequence numbers that are not yet allowed
//
// A Conn is sans-I/O: it never touches a device, a clock or a goroutine.
// The stack hands it segments (Input), user calls (Write, Read, Close,
// Abort) and the current time, and the Conn answers through its Hooks with
// segments to send and state changes, and through NextDeadline with the next
// time OnTimer must be called.

// Errors reported to the application (RFC 9293 §3.10 "error:" lines).
var (
	ErrConnectionReset   = errors.New("connection reset by peer")
	ErrConnectionRefused = errors.New("connection refused")
	ErrConnectionAborted = errors.New("connection aborted")
	ErrTimeout           = errors.New("connection timed out")
	ErrClosing           = errors.New("connection closing")
)

// Config holds the per-connection settings. The zero value of a field means
// its default.
type Config struct {
	MSS            int           // largest payload we accept (advertised in the MSS option); default 1460
	RecvBufferSize int           // receive buffer, and so the largest receive window; default 256 KiB, then autotuned
	SendBufferSize int           // send buffer; default 256 KiB, then autotuned
	MSL            time.Duration // maximum segment lifetime; TIME-WAIT lasts 2*MSL; default 30 s (Linux's 60 s TIME-WAIT)
	MinRTO         time.Duration // lower bound of the retransmission timeout; default MinRTO
	MaxRetries     int           // retransmissions of one segment before giving up (R2); default 15
	MaxSYNRetries  int           // retransmissions of a SYN before giving up; default 7, over 3 minutes (MUST-23)
	R1             int           // retransmissions before delivery is reported in trouble; default 3 (SHLD-10)
	UserTimeout    time.Duration // R2 as a time without progress (RFC 5482, MUST-21); 0 for the retry counts
	DelayedACK     time.Duration // delayed-ACK timeout (must be < 500 ms, MUST-40); default 40 ms
	NoDelay        bool          // switch Nagle's algorithm off (MUST-17); it is on by default (SHLD-7)
	KeepAlive      KeepAlive     // keep-alive probes; off by default (MUST-25)
	ISN            ISNSource     // initial sequence numbers; required
	IP             IPFields      // TTL and DSCP of the connection's packets (MUST-48, MUST-49)
	// NoSoftErrors switches off the reporting of soft errors (ICMP
	// messages on an open connection) to the application (SHLD-20).
	NoSoftErrors bool
	// Congestion names the congestion control algorithm (congestion.go):
	// "newreno" or "cubic"; empty for DefaultCongestion.
	Congestion string
	// ChallengeACKInterval is the least time between two challenge ACKs
	// (RFC 5961 §7); default 500 ms, Linux's tcp_invalid_ratelimit;
	// negative for no limit.
	ChallengeACKInterval time.Duration
	// StopAndWait limits the sender to one unacknowledged segment, the
	// discipline the sliding window replaced (stopwait.go); a teaching
	// switch, off by default. Receiving is unchanged.
	StopAndWait bool
	// MaxRecvBufferSize and MaxSendBufferSize bound how far autotuning
	// grows the buffers (autotune.go). They default to
	// DefaultMaxBufferSize when the buffer's size is left at its default,
	// and to that size when it is set: a size set by hand is kept.
	MaxRecvBufferSize int
	MaxSendBufferSize int
	// SegmentOffload is the largest payload one segment handed to the
	// stack may carry when the link cuts segments into MSS-sized ones
	// itself (TCP segmentation offload; output.go); 0, or anything below
	// the MSS, for none. The segments on the wire keep the MSS.
	SegmentOffload int
}

// Defaults.
const (
	DefaultMSS        = 1460
	DefaultBufferSize = 256 << 10
	DefaultMSL        = 30 * time.Second
	DefaultMaxRetries = 15
	DefaultSYNRetries = 7
	DefaultDelayedACK = 40 * time.Millisecond
	// DefaultChallengeACKInterval is Linux's and gVisor's 500 ms.
	DefaultChallengeACKInterval = 500 * time.Millisecond
	// DefaultSendMSS is the send MSS when the peer sends no MSS option
	// (RFC 9293 §3.7.1, MUST-15: 536 for IPv4).
	DefaultSendMSS = 536
)

// Check reports settings no connection can run with.
func (cfg Config) Check() error {
	if _, err := NewCongestionControl(cfg.Congestion); err != nil {
		return err
	}
	if cfg.DelayedACK >= 500*time.Millisecond {
		return fmt.Errorf("tcp: delayed ACK of %v: RFC 9293 MUST-40 wants less than 500 ms", cfg.DelayedACK)
	}
	return nil
}

func (cfg Config) withDefaults() Config {
	if cfg.MSS <= 0 {
		cfg.MSS = DefaultMSS
	}
	cfg.MaxRecvBufferSize, cfg.RecvBufferSize = bufferSizes(cfg.MaxRecvBufferSize, cfg.RecvBufferSize)
	cfg.MaxSendBufferSize, cfg.SendBufferSize = bufferSizes(cfg.MaxSendBufferSize, cfg.SendBufferSize)
	if cfg.MSL <= 0 {
		cfg.MSL = DefaultMSL
	}
	if cfg.MinRTO <= 0 {
		cfg.MinRTO = MinRTO
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.MaxSYNRetries <= 0 {
		cfg.MaxSYNRetries = DefaultSYNRetries
	}
	if cfg.ChallengeACKInterval == 0 {
		cfg.ChallengeACKInterval = DefaultChallengeACKInterval
	}
	if cfg.R1 <= 0 {
		cfg.R1 = DefaultR1
	}
	if cfg.DelayedACK <= 0 {
		cfg.DelayedACK = DefaultDelayedACK
	}
	cfg.KeepAlive = cfg.KeepAlive.withDefaults()
	return cfg
}

// bufferSizes fills in a buffer's initial size and autotuning limit.
func bufferSizes(limit, size int) (int, int) {
	if limit <= 0 {
		limit = size
		if size <= 0 {
			limit = DefaultMaxBufferSize
		}
	}
	if size <= 0 {
		size = DefaultBufferSize
	}
	return max(limit, size), size
}

// Hooks connect a Conn to the world. Both functions are called synchronously
// from inside the Conn's methods; seg and its payload are only valid during
// the call.
type Hooks interface {
	// Transmit sends one segment to the peer.
	Transmit(c *Conn, seg *Segment)
	// StateChanged reports a transition, e.g. SYN-SENT -> ESTABLISHED.
	StateChanged(c *Conn, from, to State)
}

// sendVars are the send sequence variables of RFC 9293 §3.3.1.
type sendVars struct {
	una Seq    // SND.UNA: oldest unacknowledged sequence number
	nxt Seq    // SND.NXT: next sequence number to send
	wnd uint32 // SND.WND: send window, already scaled
	up  Seq    // SND.UP: send urgent pointer, the first octet after urgent data (urgent.go)
	wl1 Seq    // SND.WL1: segment sequence number used for last window update
	wl2 Seq    // SND.WL2: segment acknowledgment number used for last window update
	// max is the highest sequence number sent so far, BSD's snd_max. After a
	// retransmission timeout SND.NXT goes back to SND.UNA and resends, so an
	// acceptable ACK is one up to max, not up to SND.NXT.
	max Seq
	// maxWnd is the largest window the peer has offered, MAX.SND.WND of
	// RFC 5961 §5.2, the bound of the acceptable-ACK range.
	maxWnd uint32
	shift  uint8  // window scale the peer asked us to apply to its windows
	mss    uint16 // effective send MSS (MUST-16)
}

// recvVars are the receive sequence variables of RFC 9293 §3.3.1.
type recvVars struct {
	nxt Seq    // RCV.NXT: next sequence number expected
	wnd uint32 // RCV.WND: receive window, the free space of the receive buffer
	up  Seq    // RCV.UP: receive urgent pointer (urgent.go)
	// adv is the right edge of the window last advertised,
	// RCV.NXT+RCV.WND at the time; it never moves left (RFC 9293 §3.8.6).
	adv   Seq
	shift uint8 // window scale we apply to the windows we advertise
}

// timer identifies one of a connection's timers.
type timer uint8

const (
	timerRetransmit timer = iota // RTO, and the persist timer when the peer's window is zero
	timerDelayedACK              // delayed ACK (RFC 9293 §3.8.6.3)
	timerClose                   // TIME-WAIT 2*MSL, or the FIN-WAIT-2 timeout of a closed socket
	timerKeepAlive               // keep-alive probes of an idle connection (RFC 9293 §3.8.4)
	timerReclaim                 // empty send and receive buffers give their storage back (buffer.go)
	numTimers
)

// Conn is one TCP connection: its TCB and its buffers.
type Conn struct {
	cfg   Config
	hooks Hooks
	id    ID
	state State

	snd sendVars
	rcv recvVars
	iss Seq // initial send sequence number
	irs Seq // initial receive sequence number

	sendBuf ring     // bytes from SND.UNA on: unacknowledged, then unsent
	recvBuf ring     // bytes received in order, not yet read
	tune    autotune // receive-buffer autotuning (autotune.go)
	ooo     oooQueue // segments received beyond RCV.NXT

	urg urgentVars // urgent mode of either side (urgent.go)

	passive    bool // opened by a passive OPEN (for SYN-RECEIVED -> LISTEN on RST, MUST-11)
	closeSent  bool // user called CLOSE: a FIN follows the buffered data
	readClosed bool // the application will read no more; arriving data resets the connection
	finSeq     Seq  // sequence number of our FIN, valid when closeSent
	wsOK       bool // both sides sent the window scale option
	err        error

	rtt      rttEstimator
	rttSeq   Seq       // the segment being timed ends here
	rttStart time.Time // when it was sent; zero when nothing is being timed
	retries  int       // consecutive retransmission timeouts
	// stallStart is when retransmitting without progress began: the user
	// timeout counts from it (failure.go).
	stallStart time.Time
	dupACKs    int  // duplicate ACKs in a row (fast retransmit)
	persist    bool // timerRetransmit runs as the persist timer

	smallSent bool // a segment shorter than the MSS was sent...
	smallEnd  Seq  // ...ending here (Nagle's algorithm, Minshall's form)

	cong CongestionWindow  // cwnd and ssthresh (congestion.go)
	cc   CongestionControl // the algorithm that moves them
	// lastSend is when data was last sent, for the restart after idle.
	lastSend time.Time
	sb       scoreboard // SACKed blocks above SND.UNA (recovery.go)
	// tlpArmed: timerRetransmit is a probe timeout; tlpOut: a probe went
	// out when SND.MAX was tlpHigh, and no ACK has passed it (tlp.go).
	tlpArmed, tlpOut bool
	tlpHigh          Seq
	rec              recovery // fast recovery, when active

	ackPending int  // segments received and not yet acknowledged (delayed ACK)
	holdACKs   bool // a batch of queued segments is being processed (batch.go)
	ackOwed    bool // an ACK was held back during the batch
	timers     [numTimers]time.Time
	now        time.Time // the time of the call being served, for the segments it sends
	out        Segment   // the segment being handed to Hooks.Transmit (output.go)

	// Negotiated options (tsopt.go).
	tsOK         bool      // both SYNs carried timestamps (RFC 7323)
	tsRecent     uint32    // TS.Recent: the peer's timestamp to echo
	tsBase       time.Time // our timestamp clock counts from here
	tsOffset     uint32    // a per-connection offset of our timestamps
	lastAckSent  Seq       // Last.ACK.sent (RFC 7323 §4.3)
	sackOK       bool      // both SYNs carried SACK-permitted (RFC 2018)
	oooLatest    Seq       // the latest out-of-order arrival, for the first SACK block
	dsack        SACKBlock // duplicate data to report (RFC 2883)...
	dsackPending bool      // ...in the next ACK

	keepAliveProbes int // keep-alive probes sent since the peer was last heard

	lastChallenge time.Time // when the last challenge ACK went out (RFC 5961 §7)
	resetText     string    // what the peer's RST carried as text (SHLD-2)

	icmp icmpState // soft error and path MTU from ICMP errors (icmp.go)

	// Stats of this connection, in the spirit of Linux's tcp_info.
	Stats ConnStats
}

// ConnStats counts what happened on one connection.
type ConnStats struct {
	SegmentsSent, SegmentsReceived uint64
	BytesSent, BytesReceived       uint64 // payload bytes, retransmissions included in BytesSent
	Retransmits                    uint64 // segments sent again
	Timeouts                       uint64 // retransmission timer expiries
	FastRetransmits                uint64
	ChallengeACKs                  uint64 // sent (RFC 5961)
	ChallengeACKsSkipped           uint64 // held back by the rate limit (RFC 5961 §7)
	FastRecoveries                 uint64 // recoveries that ended at the recovery point
	DSACKsReceived                 uint64 // D-SACKs: the peer got something twice (RFC 2883)
	SpuriousRetransmits            uint64 // retransmissions a D-SACK showed were not needed
	TailLossProbes                 uint64 // probes sent at a probe timeout (RFC 8985)
}

// ID is a connection's 4-tuple, seen from this end.
type ID struct {
	Local, Remote netip.AddrPort
}

func newConn(cfg Config, hooks Hooks, id ID) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		cfg:     cfg,
		hooks:   hooks,
		id:      id,
		sendBuf: newRing(cfg.SendBufferSize),
		recvBuf: newRing(cfg.RecvBufferSize),
		rtt:     newRTTEstimator(cfg.MinRTO),
	}
	cc, err := NewCongestionControl(cfg.Congestion)
	if err != nil {
		// The stack checks the name before it opens anything (Config.Check);
		// a Conn made without it falls back rather than fail.
		cc, _ = NewCongestionControl(DefaultCongestion)
	}
	c.cc = cc
	c.rcv.wnd = uint32(cfg.RecvBufferSize)
	// The shift is fixed in the SYN, so it must fit the largest window
	// autotuning may open.
	for c.rcv.shift < 14 && cfg.MaxRecvBufferSize>>c.rcv.shift > 0xffff {
		c.rcv.shift++
	}
	c.snd.mss = DefaultSendMSS
	return c
}

// ID returns the connection's 4-tuple.
func (c *Conn) ID() ID { return c.id }

// State returns the current state.
func (c *Conn) State() State { return c.state }

// Err returns why the connection failed (reset, refused, timed out,
// aborted), or nil.
func (c *Conn) Err() error { return c.err }

// SendMSS returns the effective send MSS.
func (c *Conn) SendMSS() int { return int(c.snd.mss) }

// Info is a snapshot of the TCB for display (the HTTP page, tracing).
type Info struct {
	State                  State
	SndUNA, SndNXT         Seq
	SndWND                 uint32
	RcvNXT                 Seq
	RcvWND                 uint32 // as the peer sees it: in units of 1<<RcvShift
	ISS, IRS               Seq
	SendMSS                int
	SndShift, RcvShift     uint8
	SRTT, RTTVAR, RTO      time.Duration
	CWND, SSThresh         uint32
	Congestion             string // the congestion control algorithm's name (congestion.go)
	SendQueued, RecvQueued int
	// SndUP and RcvUP are the urgent pointers (urgent.go): zero until
	// urgent data is first written or received.
	SndUP, RcvUP Seq
	// Retries counts retransmission timeouts without progress; Trouble
	// is set from R1 on (RFC 9293 §3.8.3, SHLD-9).
	Retries     int
	Trouble     bool
	UserTimeout time.Duration
	// ResetText is the text the peer's RST carried, if any (RFC 9293
	// §3.5.3, SHLD-2: "diagnostic data that explains the cause").
	ResetText string
	Stats     ConnStats
	// SoftErr is the soft error an ICMP message reported and no
	// acknowledgment has cleared (SHLD-25); PathMTU is the path MTU
	// "fragmentation needed" set, 0 if none did (icmp.go).
	SoftErr error
	PathMTU int
	// StopAndWait is set when the sender keeps to one segment in flight
	// (Config.StopAndWait, stopwait.go).
	StopAndWait bool
	// Timestamps, SACK and WindowScale report the options both SYNs
	// carried (RFC 7323, RFC 2018), as ss -ti shows them ("ts sack").
	Timestamps, SACK, WindowScale bool
}

// Info returns a snapshot of the TCB.
func (c *Conn) Info() Info {
	return Info{
		State: c.state, SndUNA: c.snd.una, SndNXT: c.snd.nxt, SndWND: c.snd.wnd,
		RcvNXT: c.rcv.nxt, RcvWND: c.rcv.wnd >> c.rcv.shift << c.rcv.shift, ISS: c.iss, IRS: c.irs,
		SendMSS: int(c.snd.mss), SndShift: c.snd.shift, RcvShift: c.rcv.shift,
		SRTT: c.rtt.srtt, RTTVAR: c.rtt.rttvar, RTO: c.rtt.current(),
		CWND: c.cong.CWnd, SSThresh: c.cong.SSThresh, Congestion: c.cc.Name(),
		SndUP: c.snd.up, RcvUP: c.rcv.up,
		SendQueued: c.sendBuf.Len(), RecvQueued: c.recvBuf.Len(),
		Retries: c.retries, Trouble: c.Trouble(), UserTimeout: c.cfg.UserTimeout,
		ResetText: c.resetText, Stats: c.Stats,
		SoftErr: c.icmp.softErr, PathMTU: c.icmp.pathMTU,
		StopAndWait: c.cfg.StopAndWait,
		Timestamps:  c.tsOK, SACK: c.sackOK, WindowScale: c.wsOK,
	}
}

// setState is the only place the state changes, so every transition is
// traced.
func (c *Conn) setState(s State) {
	if s == c.state {
		return
	}
	from := c.state
	c.state = s
	if s == StateClosed {
		c.timers = [numTimers]time.Time{}
		c.sendBuf = newRing(c.cfg.SendBufferSize)
		c.recvBuf.release()
		c.ooo = oooQueue{}
	}
	if c.hooks != nil {
		c.hooks.StateChanged(c, from, s)
	}
}

// fail records err for the application and closes the connection.
func (c *Conn) fail(err error) {
	if c.err == nil {
		c.err = c.withSoftError(err) // a timeout reports the ICMP soft error (SHLD-25)
	}
	c.setState(StateClosed)
}
