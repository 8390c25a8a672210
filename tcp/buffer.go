package tcp

// The byte buffers behind a connection: the send buffer holds what the
// application wrote and the peer has not yet acknowledged (from SND.UNA on),
// the receive buffer holds what arrived in order and the application has not
// yet read. Both are fixed-capacity rings, allocated on first use so an idle
// connection costs no buffer memory.
// Segments that arrive beyond RCV.NXT wait in the out-of-order queue of
// reassembly.go.

// ring is a byte ring buffer of fixed capacity. The zero value has capacity
// zero; set size before the first write.
type ring struct {
	buf  []byte // storage, allocated lazily with len == size
	size int    // capacity in bytes
	head int    // index of the oldest byte
	n    int    // bytes stored
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
