// Impair: a middleware that makes a link worse on purpose, in both
// directions and reproducibly, in the spirit of Linux's netem: it drops,
// corrupts, duplicates, reorders, delays and rate-limits packets.
//
// Each direction (Out: packets the caller writes, on their way to the
// wrapped device; In: packets read from the wrapped device, on their way to
// the caller) has its own PCG random source seeded from ImpairConfig.Seed, so
// a given seed and a given sequence of packets give the same decisions every
// run. For every packet the coins are tossed in a fixed order: drop,
// corrupt, duplicate, reorder. Then:
//
//   - a dropped packet is gone (Write still reports success);
//   - a corrupted packet is a copy with either one bit flipped or one byte
//     replaced by another value (50/50), at a random offset;
//   - a duplicated packet is delivered twice, back to back;
//   - a reordered packet is held back and released right after the next
//     packet of its direction, or after ImpairReorderTimeout if none comes
//     (a duplicate of a held packet goes at once);
//   - Delay is added to every packet; with Rate, packets are serialised at
//     Rate bytes per second, so a burst leaves spread out, each packet
//     leaving when the previous one has been "transmitted", then delayed.
//
// Packets in flight wait in a FIFO per direction, bounded to
// ImpairQueueLimit packets; a packet arriving at a full queue is dropped
// (drop-tail). A FIFO is enough because every packet's due time is later
// than the one before it: the delay is constant and serialisation never
// overtakes. One scheduler goroutine per direction, sleeping on one
// time.Timer, releases packets when they are due; a third goroutine reads
// the wrapped device. Write never blocks on the link, and Read waits only
// for the next due packet.
//
// SetBlackout cuts the link and mends it at run time, in both directions at
// once: while it is on, every packet that reaches the link is lost before
// any coin is tossed for it (so the seeded sequence of decisions resumes
// unchanged afterwards), and counted as BlackedOut. Packets already in
// flight when the link goes dark still arrive, as when a cable is pulled at
// one end. A blackout works in pass-through mode too.
//
// With every knob zero, Impair is a plain pass-through: no goroutine, no
// copy, only a counter. Close stops every goroutine it started; packets still
// in flight are discarded.
//
// Left out: netem's correlation between successive decisions, delay jitter
// (which would reorder through the delay line), and loss models (Gilbert-
// Elliott). They would be extra fields; seeded independent coins are enough
// to exercise retransmission, SACK and reassembly.

package tun

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// ImpairQueueLimit is how many packets each direction holds in flight.
	ImpairQueueLimit = 1000
	// ImpairReorderTimeout is the longest a reordered packet is held when
	// no later packet comes to overtake it.
	ImpairReorderTimeout = 20 * time.Millisecond
)

// ImpairConfig says how badly the link behaves. The same settings apply to
// each direction independently. Chances are percentages, clamped to 0..100.
type ImpairConfig struct {
	DropChance, CorruptChance, DupChance, ReorderChance float64 // percent, 0..100

	Delay time.Duration // added one-way delay
	Rate  int           // bytes per second, 0 = unlimited; excess is queued
	Seed  int64         // seeds both directions' random sources
}

// ImpairCounters count what Impair did to the packets of one direction.
type ImpairCounters struct {
	Passed      uint64 // packets delivered, duplicates and corrupted ones included
	Dropped     uint64 // packets dropped by DropChance
	Corrupted   uint64 // packets corrupted
	Duplicated  uint64 // extra copies made
	Reordered   uint64 // packets held back to be overtaken
	Delayed     uint64 // packets given the added Delay
	RateQueued  uint64 // packets that waited for the link to be free (Rate)
	RateDropped uint64 // packets dropped because the in-flight queue was full
	BlackedOut  uint64 // packets lost while the link was blacked out (SetBlackout)
}

// ImpairStats are the counters of both directions.
type ImpairStats struct {
	Out ImpairCounters // packets written by the caller, to the wrapped device
	In  ImpairCounters // packets read from the wrapped device, to the caller
}

// impairTuning holds the limits tests shrink or stretch.
type impairTuning struct {
	limit          int           // in-flight packets per direction
	reorderTimeout time.Duration // longest hold of a reordered packet
}

// Impair is a Device that impairs the packets crossing the Device it wraps.
type Impair struct {
	dev     Device
	out, in *impairDir // nil in pass-through mode

	passOut, passIn atomic.Uint64 // Passed, in pass-through mode
	blackout        atomic.Bool   // the link is cut (SetBlackout)
	darkOut, darkIn atomic.Uint64 // BlackedOut, both modes

	ready    chan []byte   // In packets due, waiting for Read
	done     chan struct{} // closed by Close
	pumpDone chan struct{} // closed when reading the wrapped device failed
	pumpErr  error         // why; written before pumpDone is closed
	linkDown atomic.Bool   // the wrapped device reported ErrClosed
	closed   atomic.Bool
	wg       sync.WaitGroup
}

// NewImpair wraps dev so that packets in both directions are impaired as cfg
// says. Stats reports what it did.
func NewImpair(dev Device, cfg ImpairConfig) *Impair {
	return newImpair(dev, cfg, impairTuning{limit: ImpairQueueLimit, reorderTimeout: ImpairReorderTimeout})
}

func newImpair(dev Device, cfg ImpairConfig, tuning impairTuning) *Impair {
	clamp := func(pct float64) float64 { return min(max(pct, 0), 100) }
	cfg.DropChance, cfg.CorruptChance = clamp(cfg.DropChance), clamp(cfg.CorruptChance)
	cfg.DupChance, cfg.ReorderChance = clamp(cfg.DupChance), clamp(cfg.ReorderChance)
	cfg.Delay, cfg.Rate = max(cfg.Delay, 0), max(cfg.Rate, 0)

	m := &Impair{dev: dev, done: make(chan struct{})}
	if cfg == (ImpairConfig{Seed: cfg.Seed}) {
		return m // pass-through
	}
	m.ready = make(chan []byte, 16)
	m.pumpDone = make(chan struct{})
	m.out = newImpairDir(cfg, tuning, dev.MTU(), 1, m.deliverOut)
	m.in = newImpairDir(cfg, tuning, dev.MTU(), 2, m.deliverIn)
	m.wg.Add(3)
	go func() { defer m.wg.Done(); m.out.run(m.done) }()
	go func() { defer m.wg.Done(); m.in.run(m.done) }()
	go func() { defer m.wg.Done(); m.pump() }()
	return m
}

// Write impairs p on its way to the wrapped device. Unless the device is
// closed it returns len(p), nil, whether p is sent now, later or never.
func (m *Impair) Write(p []byte) (int, error) {
	if m.closed.Load() || m.linkDown.Load() {
		return 0, ErrClosed
	}
	if m.blackout.Load() {
		m.darkOut.Add(1)
		return len(p), nil
	}
	if m.out == nil {
		n, err := m.dev.Write(p)
		if err == nil {
			m.passOut.Add(1)
		}
		return n, err
	}
	m.out.offer(p)
	return len(p), nil
}

// Read returns the next packet from the wrapped device that survived
// impairment and is due.
func (m *Impair) Read(p []byte) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	if m.in == nil {
		for {
			n, err := m.dev.Read(p)
			if err != nil {
				return n, err
			}
			if m.blackout.Load() {
				m.darkIn.Add(1)
				continue
			}
			m.passIn.Add(1)
			return n, nil
		}
	}
	select {
	case buf := <-m.ready:
		return m.take(p, buf), nil
	case <-m.done:
		return 0, ErrClosed
	case <-m.pumpDone:
		select {
		case buf := <-m.ready:
			return m.take(p, buf), nil
		default:
			return 0, m.pumpErr
		}
	}
}

// take copies a due In packet to p and recycles its buffer.
func (m *Impair) take(p, buf []byte) int {
	n := copy(p, buf)
	m.in.mu.Lock()
	m.in.stats.Passed++
	m.in.recycle(buf)
	m.in.mu.Unlock()
	return n
}

// pump reads the wrapped device and offers every packet to the In direction.
func (m *Impair) pump() {
	buf := make([]byte, 65535)
	for {
		n, err := m.dev.Read(buf)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				m.linkDown.Store(true)
			}
			m.pumpErr = err
			close(m.pumpDone)
			return
		}
		if m.blackout.Load() {
			m.darkIn.Add(1)
			continue
		}
		m.in.offer(buf[:n])
	}
}

// deliverOut writes a due Out packet to the wrapped device.
func (m *Impair) deliverOut(buf []byte) bool {
	// Counted before the write, so that whoever reads the packet at the
	// far end already sees it counted.
	m.out.mu.Lock()
	m.out.stats.Passed++
	m.out.mu.Unlock()
	_, err := m.dev.Write(buf)
	m.out.mu.Lock()
	if err != nil {
		m.out.stats.Passed--
	}
	m.out.recycle(buf)
	m.out.mu.Unlock()
	if errors.Is(err, ErrClosed) {
		m.linkDown.Store(true)
		return false
	}
	return true // other errors lose the packet, as a link would
}

// deliverIn hands a due In packet to Read.
func (m *Impair) deliverIn(buf []byte) bool {
	select {
	case m.ready <- buf:
		return true
	case <-m.done:
		return false
	}
}

// SetBlackout cuts the link (on) or mends it (off): while it is cut, every
// packet written or read is lost, in both directions. It may be called from
// any goroutine, at any time.
func (m *Impair) SetBlackout(on bool) { m.blackout.Store(on) }

// Stats returns what Impair has done so far.
func (m *Impair) Stats() ImpairStats {
	var s ImpairStats
	if m.out == nil {
		s.Out.Passed, s.In.Passed = m.passOut.Load(), m.passIn.Load()
	} else {
		s.Out, s.In = m.out.counters(), m.in.counters()
	}
	s.Out.BlackedOut, s.In.BlackedOut = m.darkOut.Load(), m.darkIn.Load()
	return s
}

// MTU is the wrapped device's MTU.
func (m *Impair) MTU() int { return m.dev.MTU() }

// Name is the wrapped device's name.
func (m *Impair) Name() string { return m.dev.Name() }

// Close closes the wrapped device and waits for Impair's goroutines to end.
// Packets in flight are discarded.
func (m *Impair) Close() error {
	if m.closed.Swap(true) {
		return ErrClosed
	}
	close(m.done)
	err := m.dev.Close()
	m.wg.Wait()
	return err
}
