// Pipe: an in-memory point-to-point link, for tests and for running two
// stacks against each other in one process.
//
// Each direction is a bounded queue of packet copies (a buffered channel of
// PipeQueueLen packets). A Write copies the packet into a recycled buffer
// and queues it without ever blocking; when the queue is full the packet is
// dropped, as a real link drops what its transmit queue cannot hold, and
// Write still reports success. Read blocks until a packet is queued or the
// pipe is closed. Buffers return to a per-direction free list after Read, so
// a pipe in steady state does not allocate. No goroutine is involved.
//
// Left out: the MTU is reported, not enforced (a packet of any size passes,
// which lets tests feed a stack oversized packets), and there is no delay or
// loss beyond queue overflow: wrap an end with NewImpair for those.

package tun

import (
	"sync"
	"sync/atomic"
)

// PipeQueueLen is how many packets each direction of a Pipe holds before
// Write starts dropping.
const PipeQueueLen = 1024

// Pipe returns two connected Devices named "pipe-a" and "pipe-b": a packet
// written to one is read, as a copy, from the other. mtu is what MTU reports
// (DefaultMTU if mtu <= 0). Closing either end makes Read and Write on both
// ends return ErrClosed; packets still queued are discarded.
func Pipe(mtu int) (a, b Device) {
	if mtu <= 0 {
		mtu = DefaultMTU
	}
	link := &pipeLink{done: make(chan struct{})}
	aToB, bToA := newPipeQueue(), newPipeQueue()
	a = &pipeEnd{name: "pipe-a", mtu: mtu, link: link, in: bToA, out: aToB}
	b = &pipeEnd{name: "pipe-b", mtu: mtu, link: link, in: aToB, out: bToA}
	return a, b
}

// pipeLink is what both ends share: the closing of the pipe.
type pipeLink struct {
	once sync.Once
	done chan struct{} // closed when either end is closed
}

// pipeQueue is one direction: queued packets and recycled buffers.
type pipeQueue struct {
	packets chan []byte // written, not yet read
	free    chan []byte // read, ready for reuse
}

func newPipeQueue() *pipeQueue {
	return &pipeQueue{
		packets: make(chan []byte, PipeQueueLen),
		free:    make(chan []byte, PipeQueueLen),
	}
}

// pipeEnd is one end of a Pipe.
type pipeEnd struct {
	name   string
	mtu    int
	link   *pipeLink
	in     *pipeQueue // what this end reads
	out    *pipeQueue // what this end writes
	closed atomic.Bool
}

// Read blocks until a packet arrives and copies it into p, truncating it to
// len(p) if it is longer.
func (e *pipeEnd) Read(p []byte) (int, error) {
	select {
	case <-e.link.done:
		return 0, ErrClosed
	default:
	}
	select {
	case buf := <-e.in.packets:
		n := copy(p, buf)
		e.in.recycle(buf)
		return n, nil
	case <-e.link.done:
		return 0, ErrClosed
	}
}

// TryRead reads a packet if one is queued, without waiting (TryReader).
func (e *pipeEnd) TryRead(p []byte) (int, bool, error) {
	select {
	case <-e.link.done:
		return 0, false, ErrClosed
	case buf := <-e.in.packets:
		n := copy(p, buf)
		e.in.recycle(buf)
		return n, true, nil
	default:
		return 0, false, nil
	}
}

// Write queues a copy of p for the other end. It never blocks: when the
// queue is full the packet is dropped and Write still returns len(p), nil.
func (e *pipeEnd) Write(p []byte) (int, error) {
	select {
	case <-e.link.done:
		return 0, ErrClosed
	default:
	}
	var buf []byte
	select {
	case buf = <-e.out.free:
	default:
		buf = make([]byte, 0, max(e.mtu, len(p)))
	}
	buf = append(buf[:0], p...)
	select {
	case e.out.packets <- buf:
	default: // queue full: the link drops the packet
		e.out.recycle(buf)
	}
	return len(p), nil
}

// recycle keeps buf for a later Write, unless enough are kept already.
func (q *pipeQueue) recycle(buf []byte) {
	select {
	case q.free <- buf:
	default:
	}
}

// MTU is the mtu given to Pipe.
func (e *pipeEnd) MTU() int { return e.mtu }

// Name is "pipe-a" or "pipe-b".
func (e *pipeEnd) Name() string { return e.name }

// Close closes the whole pipe. Closing the same end twice returns ErrClosed.
func (e *pipeEnd) Close() error {
	if e.closed.Swap(true) {
		return ErrClosed
	}
	e.link.once.Do(func() { close(e.link.done) })
	return nil
}
