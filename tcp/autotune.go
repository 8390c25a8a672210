package tcp

import "time"

// Buffer autotuning: the send and receive buffers start small and grow,
// up to Config.MaxSendBufferSize and Config.MaxRecvBufferSize, when they
// are what limits a transfer. A connection can never have more data in
// flight than the smaller of the two buffers it crosses, so on a fast path
// a fixed 256 KiB caps the rate at 256 KiB per round trip; sizing every
// buffer for the fastest path would cost every connection megabytes. Linux
// (tcp_rcv_space_adjust and tcp_sndbuf_expand) and gVisor (receive-buffer
// moderation) grow buffers the same way, and stop when an application sets
// a size itself (SO_RCVBUF, SO_SNDBUF), as here: a size set in Config is
// kept (withDefaults).
//
//   - Receive (dynamic right-sizing): once per round trip, look at how much
//     the application read. A sender limited by our window delivers about a
//     window per round trip, so when the application took more than half
//     the buffer in one, the buffer is the bottleneck: make it twice what
//     was read, at least double. A receiver that sends no data has no RTT
//     samples of its own; it measures the round trip from the timestamps
//     the sender echoes (RFC 7323 §4.1), and without timestamps uses
//     rcvRTTFallback.
//   - Send: when the application's Write finds the buffer full, the buffer
//     holds what is in flight and what waits; if the congestion and receive
//     windows would let more than half of it fly, grow it to twice that.
//
// Growing moves the bytes into a larger ring (ring.grow); it happens a few
// times in a connection's life. Buffers never shrink while in use: the
// window we advertised must not shrink (RFC 9293 §3.8.6.2.2, SHLD-14), and
// an idle connection gives its storage back anyway (buffer.go).
//
// Left out: Linux's scaling of the receive buffer for per-packet overhead
// (tcp_adv_win_scale; tinytcp's ring holds payload bytes only).

// DefaultMaxBufferSize is how far autotuning grows a buffer: 4 MiB, Linux's
// tcp_wmem maximum.
const DefaultMaxBufferSize = 4 << 20

// rcvRTTFallback is the measurement interval of receive autotuning when
// there is no RTT estimate at all.
const rcvRTTFallback = 10 * time.Millisecond

// bufferGrain rounds grown buffers up to a multiple of 64 KiB.
const bufferGrain = 64 << 10

// autotune is the state of receive autotuning.
type autotune struct {
	start  time.Time     // start of the current round-trip measurement
	copied int           // bytes the application read since start
	rtt    time.Duration // the receiver's RTT from echoed timestamps; 0 until one
}

// noteRecvRTT takes an RTT sample from the timestamp a data segment echoes
// and smooths it (1/8 gain, as RFC 6298's SRTT).
func (c *Conn) noteRecvRTT(seg *Segment, now time.Time) {
	if c.recvBuf.size >= c.cfg.MaxRecvBufferSize {
		return
	}
	r := c.tsRTT(seg, now)
	switch {
	case r <= 0:
	case c.tune.rtt == 0:
		c.tune.rtt = r
	default:
		c.tune.rtt += (r - c.tune.rtt) / 8
	}
}

// recvRTT is the round trip receive autotuning measures over.
func (c *Conn) recvRTT() time.Duration {
	switch {
	case c.rtt.srtt > 0:
		return c.rtt.srtt
	case c.tune.rtt > 0:
		return c.tune.rtt
	}
	return rcvRTTFallback
}

// tuneRecv counts n bytes read by the application and, once a round trip
// has passed, grows the receive buffer if the application read more than
// half of it.
func (c *Conn) tuneRecv(n int, now time.Time) {
	if c.recvBuf.size >= c.cfg.MaxRecvBufferSize {
		return
	}
	t := &c.tune
	if t.start.IsZero() {
		t.start = now
		return
	}
	t.copied += n
	if now.Sub(t.start) < c.recvRTT() {
		return
	}
	if 2*t.copied > c.recvBuf.size {
		c.recvBuf.grow(grownSize(c.recvBuf.size, 2*t.copied, c.cfg.MaxRecvBufferSize))
		c.rcv.wnd = uint32(c.recvBuf.Free())
	}
	t.start, t.copied = now, 0
}

// tuneSend grows a full send buffer when the windows would let more than
// half of it be in flight.
func (c *Conn) tuneSend() {
	size := c.sendBuf.size
	if size >= c.cfg.MaxSendBufferSize || c.sendBuf.Free() > 0 {
		return
	}
	if flight := int(min(c.cong.CWnd, c.snd.wnd)); 2*flight > size {
		c.sendBuf.grow(grownSize(size, 2*flight, c.cfg.MaxSendBufferSize))
	}
}

// grownSize is the new size of a buffer of size bytes that should hold
// want: at least double, rounded up to bufferGrain, at most limit.
func grownSize(size, want, limit int) int {
	n := max(want, 2*size)
	n = (n + bufferGrain - 1) / bufferGrain * bufferGrain
	return min(n, limit)
}
