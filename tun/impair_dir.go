// One direction of Impair: the coin tosses, the in-flight FIFO with its due
// times, the held (reordered) packet, and the scheduler goroutine that
// releases packets when they are due. See impair.go for the behaviour.

package tun

import (
	"math/rand/v2"
	"sync"
	"time"
)

// impairEntry is a packet in flight and the time it is due.
type impairEntry struct {
	buf []byte
	due time.Time
}

// impairDir is one direction of an Impair.
type impairDir struct {
	cfg     ImpairConfig
	tuning  impairTuning
	mtu     int                   // size of new buffers
	deliver func(buf []byte) bool // hands a due packet on; false: stop

	wake chan struct{} // tells run the queue or the held packet changed

	mu        sync.Mutex // guards everything below
	rng       *rand.Rand
	queue     []impairEntry // ring buffer of tuning.limit entries
	head, n   int           // first entry, number of entries
	held      []byte        // the packet held back for reordering, or nil
	heldUntil time.Time     // when held goes even if nothing overtook it
	busyUntil time.Time     // when the rate-limited link is free again
	free      [][]byte      // recycled buffers
	stats     ImpairCounters
}

// newImpairDir makes a direction whose random source is PCG seeded with
// (cfg.Seed, stream): the two directions use streams 1 and 2.
func newImpairDir(cfg ImpairConfig, tuning impairTuning, mtu int, stream uint64, deliver func([]byte) bool) *impairDir {
	return &impairDir{
		cfg:     cfg,
		tuning:  tuning,
		mtu:     max(mtu, 1),
		deliver: deliver,
		wake:    make(chan struct{}, 1),
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), stream)),
		queue:   make([]impairEntry, tuning.limit),
	}
}

// chance tosses a coin that comes up true pct percent of the time. A knob
// at zero tosses nothing, so it does not shift the others' sequence.
func (d *impairDir) chance(pct float64) bool {
	return pct > 0 && d.rng.Float64()*100 < pct
}

// offer takes a packet into this direction. It copies p, so the caller may
// reuse p at once, and never blocks on the link.
func (d *impairDir) offer(p []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	drop := d.chance(d.cfg.DropChance)
	corrupt := d.chance(d.cfg.CorruptChance)
	dup := d.chance(d.cfg.DupChance)
	reorder := d.chance(d.cfg.ReorderChance)
	if drop {
		d.stats.Dropped++
		return
	}
	buf := d.copyOf(p)
	if corrupt && len(buf) > 0 {
		d.corrupt(buf)
		d.stats.Corrupted++
	}
	now := time.Now()
	if dup {
		d.stats.Duplicated++
		d.enqueue(d.copyOf(buf), now)
	}
	if reorder && d.held == nil {
		d.stats.Reordered++
		d.held, d.heldUntil = buf, now.Add(d.tuning.reorderTimeout)
	} else {
		d.enqueue(buf, now)
		d.releaseHeld(now)
	}
	d.signal()
}

// corrupt flips one bit, or replaces one byte by a different value, at a
// random offset of b.
func (d *impairDir) corrupt(b []byte) {
	i := d.rng.IntN(len(b))
	if d.rng.IntN(2) == 0 {
		b[i] ^= 1 << d.rng.IntN(8)
	} else {
		b[i] ^= byte(1 + d.rng.IntN(255))
	}
}

// releaseHeld queues the held packet, if any, behind what is queued.
func (d *impairDir) releaseHeld(now time.Time) {
	if d.held != nil {
		d.enqueue(d.held, now)
		d.held = nil
	}
}

// enqueue appends buf to the in-flight FIFO with its due time: when the
// rate-limited link has finished sending it, plus Delay. A full queue drops
// buf.
func (d *impairDir) enqueue(buf []byte, now time.Time) {
	if d.n == len(d.queue) {
		d.stats.RateDropped++
		d.recycle(buf)
		return
	}
	due := now
	if d.cfg.Rate > 0 {
		start := now
		if d.busyUntil.After(now) {
			start = d.busyUntil
			d.stats.RateQueued++
		}
		d.busyUntil = start.Add(time.Duration(len(buf)) * time.Second / time.Duration(d.cfg.Rate))
		due = d.busyUntil
	}
	if d.cfg.Delay > 0 {
		due = due.Add(d.cfg.Delay)
		d.stats.Delayed++
	}
	d.queue[(d.head+d.n)%len(d.queue)] = impairEntry{buf: buf, due: due}
	d.n++
}

// signal wakes run without blocking; one pending wake-up is enough.
func (d *impairDir) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run is the scheduler: it delivers each packet when it is due, and
// releases a held packet whose hold has timed out, until done is closed or
// deliver reports the link gone.
func (d *impairDir) run(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		if d.held != nil && !now.Before(d.heldUntil) {
			d.releaseHeld(now)
		}
		if d.n > 0 && !d.queue[d.head].due.After(now) {
			e := d.queue[d.head]
			d.queue[d.head] = impairEntry{}
			d.head, d.n = (d.head+1)%len(d.queue), d.n-1
			d.mu.Unlock()
			if !d.deliver(e.buf) {
				return
			}
			continue
		}
		var next time.Time
		if d.n > 0 {
			next = d.queue[d.head].due
		}
		if d.held != nil && (next.IsZero() || d.heldUntil.Before(next)) {
			next = d.heldUntil
		}
		d.mu.Unlock()

		var fire <-chan time.Time
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
			fire = timer.C
		}
		select {
		case <-fire:
		case <-d.wake:
		case <-done:
			return
		}
	}
}

// copyOf copies p into a recycled buffer. d.mu must be held.
func (d *impairDir) copyOf(p []byte) []byte {
	var buf []byte
	if k := len(d.free); k > 0 {
		buf, d.free = d.free[k-1], d.free[:k-1]
	}
	if cap(buf) < len(p) {
		buf = make([]byte, 0, max(d.mtu, len(p)))
	}
	return append(buf[:0], p...)
}

// recycle keeps buf for a later copyOf. d.mu must be held.
func (d *impairDir) recycle(buf []byte) {
	if len(d.free) < d.tuning.limit {
		d.free = append(d.free, buf)
	}
}

// counters returns a snapshot of the counters.
func (d *impairDir) counters() ImpairCounters {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}
