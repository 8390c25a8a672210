package tcp

// The byte buffers behind a connection: the send buffer holds what the
// application wrote and the peer has not yet acknowledged (from SND.UNA on),
// the receive buffer holds what arrived in order and the application has not
// yet read. Both are fixed-capacity rings, allocated on first use so an idle
// connection costs no buffer memory.
//
// An emptied ring gives its storage back only once it has stayed unused for
// a while (bufferIdle, checked by the reclaim timer), not at once: a bulk
// receiver whose application keeps up empties the receive buffer at every
// Read, and a sender's buffer empties at every ACK that catches up, so
// giving the storage back at once would allocate and zero the whole buffer
// (256 KiB by default) for every segment. Linux likewise reclaims a
// socket's memory from its timers rather than at every read.
//
// Segments that arrive beyond RCV.NXT wait in the out-of-order queue of
// reassembly.go.

import "time"

// bufferIdle is how long an empty buffer keeps its storage: it is given
// back at the first run of the reclaim timer after a whole bufferIdle
// without a write, so between one and two bufferIdle after last use.
const bufferIdle = time.Second

// ring is a byte ring buffer of fixed capacity. The zero value has capacity
// zero; set size before the first write.
type ring struct {
	buf  []byte // storage, allocated lazily with len == size
	size int    // capacity in bytes
	head int    // index of the oldest byte
	n    int    // bytes stored
	used bool   // written since the last reclaim
}

func newRing(size int) ring { return ring{size: size} }

// Len returns the number of bytes stored.
func (r *ring) Len() int { return r.n }

// Free returns how many more bytes fit.
func (r *ring) Free() int { return r.size - r.n }

// Write appends as much of p as fits and returns how much that was.
func (r *ring) Write(p []byte) int {
	if len(p) > r.Free() {
		p = p[:r.Free()]
	}
	if len(p) == 0 {
		return 0
	}
	if r.buf == nil {
		r.buf = make([]byte, r.size)
	}
	r.used = true
	tail := (r.head + r.n) % r.size
	c := copy(r.buf[tail:], p)
	copy(r.buf, p[c:])
	r.n += len(p)
	return len(p)
}

// Read removes up to len(p) of the oldest bytes into p.
func (r *ring) Read(p []byte) int {
	n := r.copyAt(p, 0)
	r.Discard(n)
	return n
}

// Discard removes the n oldest bytes (at most Len).
func (r *ring) Discard(n int) {
	n = min(n, r.n)
	r.n -= n
	if r.n == 0 {
		r.head = 0
		return
	}
	r.head = (r.head + n) % r.size
}

// Peek returns up to max bytes starting off bytes after the oldest, without
// removing them. The slice aliases the ring and stops at its physical end,
// so it may be shorter than asked for; it is valid until the next Write.
func (r *ring) Peek(off, max int) []byte {
	if off >= r.n {
		return nil
	}
	start := (r.head + off) % r.size
	n := min(max, r.n-off, r.size-start)
	return r.buf[start : start+n]
}

// copyAt copies bytes starting off bytes after the oldest into p, across the
// wrap, and returns how many it copied.
func (r *ring) copyAt(p []byte, off int) int {
	total := 0
	for total < len(p) {
		chunk := r.Peek(off+total, len(p)-total)
		if len(chunk) == 0 {
			break
		}
		total += copy(p[total:], chunk)
	}
	return total
}

// release drops the storage when the ring is empty, so idle connections hold
// no buffer memory.
func (r *ring) release() {
	if r.n == 0 {
		r.buf = nil
		r.head = 0
	}
}

// grow makes the ring hold size bytes (more than now), keeping its bytes
// in order. Storage not yet allocated stays so.
func (r *ring) grow(size int) {
	if size <= r.size {
		return
	}
	if r.buf != nil {
		buf := make([]byte, size)
		r.copyAt(buf[:r.n], 0)
		r.buf, r.head = buf, 0
	}
	r.size = size
}

// reclaim drops the storage of an empty ring that was not written since the
// last reclaim, and reports whether the ring keeps storage it holds empty,
// which a later reclaim may take.
func (r *ring) reclaim() (keptEmpty bool) {
	used := r.used
	r.used = false
	switch {
	case r.buf == nil || r.n > 0:
		return false
	case used:
		return true
	}
	r.release()
	return false
}

// buffersEmptied is called when a buffer may have emptied (a Read, an ACK
// that caught up): the reclaim timer will give its storage back once it
// has stayed unused. A closed connection gives it back at once.
func (c *Conn) buffersEmptied(now time.Time) {
	if c.state == StateClosed {
		c.sendBuf.release()
		c.recvBuf.release()
		return
	}
	if c.timers[timerReclaim].IsZero() && (c.sendBuf.buf != nil || c.recvBuf.buf != nil) {
		c.timers[timerReclaim] = now.Add(bufferIdle)
	}
}

// reclaimBuffers runs the reclaim timer: the storage of each buffer that
// stayed empty and unused since the last run goes back; the timer runs
// again while a buffer holds storage it may soon give back.
func (c *Conn) reclaimBuffers(now time.Time) {
	sendKept := c.sendBuf.reclaim()
	recvKept := c.recvBuf.reclaim()
	if sendKept || recvKept {
		c.timers[timerReclaim] = now.Add(bufferIdle)
	}
}
