package tun

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// testLink is the device under an Impair in these tests. Unlike a Pipe it
// never drops: what Impair writes is queued on written, what the test
// injects is returned by Read. Both queues are large enough for any test.
type testLink struct {
	written  chan []byte
	injected chan []byte
	reads    chan struct{} // a token per Read call, so tests can tell the pump's progress
	done     chan struct{}
}

func newTestLink() *testLink {
	return &testLink{
		written:  make(chan []byte, 1<<14),
		injected: make(chan []byte, 1<<14),
		reads:    make(chan struct{}, 1<<15),
		done:     make(chan struct{}),
	}
}

func (l *testLink) Read(p []byte) (int, error) {
	l.reads <- struct{}{}
	select {
	case pkt := <-l.injected:
		return copy(p, pkt), nil
	case <-l.done:
		return 0, ErrClosed
	}
}

func (l *testLink) Write(p []byte) (int, error) {
	select {
	case <-l.done:
		return 0, ErrClosed
	case l.written <- append([]byte(nil), p...):
		return len(p), nil
	}
}

func (l *testLink) MTU() int     { return 1500 }
func (l *testLink) Name() string { return "test" }
func (l *testLink) Close() error { close(l.done); return nil }

// arrival is a packet that came out of the Impair, and when.
type arrival struct {
	p  []byte
	at time.Time
}

// harness drives one direction of an Impair: send puts a packet in, recv
// takes the next one out, counters reads that direction's counters.
type harness struct {
	m        *Impair
	send     func(p []byte)
	recv     func() ([]byte, error)
	counters func() ImpairCounters
	dir      *impairDir
	link     *testLink
	inbound  bool
}

// directions are the two ways through an Impair.
var directions = []string{"out", "in"}

// longHold makes a held packet wait for the next one, however slow the
// test machine is, so reordering is decided by the coins alone.
var longHold = impairTuning{limit: 1 << 14, reorderTimeout: time.Hour}

// newHarness wraps a testLink in an Impair and returns the harness for one
// direction; the Impair is closed in Cleanup.
func newHarness(t *testing.T, direction string, cfg ImpairConfig, tuning impairTuning) *harness {
	t.Helper()
	link := newTestLink()
	m := newImpair(link, cfg, tuning)
	t.Cleanup(func() { m.Close() })
	h := &harness{m: m, link: link, inbound: direction == "in"}
	switch direction {
	case "out":
		h.send = func(p []byte) {
			n, err := m.Write(p)
			require.NoError(t, err)
			require.Equal(t, len(p), n)
		}
		h.recv = func() ([]byte, error) {
			select {
			case p := <-link.written:
				return p, nil
			case <-link.done:
				return nil, ErrClosed
			}
		}
		h.counters = func() ImpairCounters { return m.Stats().Out }
		h.dir = m.out
	default:
		h.send = func(p []byte) { link.injected <- append([]byte(nil), p...) }
		buf := make([]byte, 2048)
		h.recv = func() ([]byte, error) {
			n, err := m.Read(buf)
			return append([]byte(nil), buf[:n]...), err
		}
		h.counters = func() ImpairCounters { return m.Stats().In }
		h.dir = m.in
	}
	return h
}

// collect receives n packets, failing the test if they do not all arrive
// within a generous bound (a guard against hangs, not a pace).
func (h *harness) collect(t *testing.T, n int) []arrival {
	t.Helper()
	got := make(chan arrival, n)
	errc := make(chan error, 1)
	go func() {
		for range n {
			p, err := h.recv()
			if err != nil {
				errc <- err
				return
			}
			got <- arrival{p, time.Now()}
		}
	}()
	var out []arrival
	deadline := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case a := <-got:
			out = append(out, a)
		case err := <-errc:
			t.Fatalf("after %d of %d packets: %v", len(out), n, err)
		case <-deadline:
			t.Fatalf("only %d of %d packets arrived", len(out), n)
		}
	}
	return out
}

// settle waits until the Impair has taken in all n packets sent. Out takes
// them in synchronously, in Write. In takes them in by a goroutine reading
// the link: its read number n+1 means it has offered packet n.
func (h *harness) settle(t *testing.T, n int) {
	t.Helper()
	if !h.inbound {
		return
	}
	deadline := time.After(30 * time.Second)
	for i := 0; i <= n; i++ {
		select {
		case <-h.link.reads:
		case <-deadline:
			t.Fatalf("the pump read only %d of %d packets", i, n)
		}
	}
}

// heldBack reports how many packets (0 or 1) the direction is holding for
// reordering.
func (h *harness) heldBack() int {
	h.dir.mu.Lock()
	defer h.dir.mu.Unlock()
	if h.dir.held != nil {
		return 1
	}
	return 0
}

// expectedArrivals is how many packets must come out once n went in and
// the direction has settled.
func (h *harness) expectedArrivals(n int) int {
	c := h.counters()
	return n - int(c.Dropped+c.RateDropped) + int(c.Duplicated) - h.heldBack()
}

// binomialBounds returns the range a count of successes in n trials of
// chance pct percent stays within, at five standard deviations.
func binomialBounds(n int, pct float64) (lo, hi uint64) {
	p := pct / 100
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	return uint64(max(0, math.Floor(mean-5*sd))), uint64(math.Ceil(mean + 5*sd))
}

func TestImpairZeroConfigIsAPassThrough(t *testing.T) {
	before := goleak.IgnoreCurrent()
	a, b := Pipe(1500)
	m := NewImpair(a, ImpairConfig{Seed: 99})
	defer m.Close()
	goleak.VerifyNone(t, before) // no goroutine started
	assert.Nil(t, m.out, "no Out machinery")
	assert.Nil(t, m.in, "no In machinery")

	p := numbered(1, 1500)
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = m.Write(p)
		_, _ = b.Read(buf)
		_, _ = b.Write(p)
		_, _ = m.Read(buf)
	})
	assert.Zero(t, allocs, "no copies")
	assert.Equal(t, p, buf)
	stats := m.Stats()
	assert.Equal(t, ImpairStats{Out: ImpairCounters{Passed: 101}, In: ImpairCounters{Passed: 101}}, stats)
}

func TestImpairClampsChances(t *testing.T) {
	tests := []struct {
		name        string
		cfg         ImpairConfig
		passThrough bool
	}{
		{"negative is zero", ImpairConfig{DropChance: -5, Delay: -time.Second, Rate: -1}, true},
		{"above 100 is 100", ImpairConfig{DropChance: 150}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "out", tt.cfg, longHold)
			assert.Equal(t, tt.passThrough, h.m.out == nil)
			if !tt.passThrough {
				for i := range 100 {
					h.send(numbered(i, 40))
				}
				assert.Equal(t, uint64(100), h.counters().Dropped, "150%% drops everything")
			}
		})
	}
}

func TestImpairCloseStopsEverything(t *testing.T) {
	before := goleak.IgnoreCurrent()
	a, b := Pipe(1500)
	m := NewImpair(a, ImpairConfig{Delay: time.Hour, ReorderChance: 50, Seed: 1})
	for i := range 10 {
		_, err := m.Write(numbered(i, 100)) // in flight for an hour
		require.NoError(t, err)
		_, err = b.Write(numbered(i, 100))
		require.NoError(t, err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := m.Read(make([]byte, 1500))
		readErr <- err
	}()

	require.NoError(t, m.Close())
	assert.ErrorIs(t, <-readErr, ErrClosed, "a blocked Read ends")
	goleak.VerifyNone(t, before)

	_, err := m.Write(numbered(0, 10))
	assert.ErrorIs(t, err, ErrClosed)
	_, err = m.Read(make([]byte, 10))
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, m.Close(), ErrClosed)
	_, err = b.Read(make([]byte, 10))
	assert.ErrorIs(t, err, ErrClosed, "Close closes the wrapped device")
}

func TestImpairSeesTheLinkClosedUnderneath(t *testing.T) {
	a, b := Pipe(1500)
	m := NewImpair(a, ImpairConfig{DropChance: 1, Seed: 1})
	defer m.Close()
	require.NoError(t, b.Close()) // the far end goes away
	_, err := m.Read(make([]byte, 100))
	assert.ErrorIs(t, err, ErrClosed)
	_, err = m.Write(numbered(0, 10))
	assert.ErrorIs(t, err, ErrClosed)
}

func TestImpairWriteLeavesTheCallersPacketAlone(t *testing.T) {
	tests := []struct {
		name string
		cfg  ImpairConfig
		same bool // whether the packet arrives unchanged
	}{
		{"delayed", ImpairConfig{Delay: 10 * time.Millisecond}, true},
		{"corrupted", ImpairConfig{CorruptChance: 100}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "out", tt.cfg, longHold)
			p := numbered(7, 100)
			h.send(p)
			assert.Equal(t, numbered(7, 100), p, "Write must not change the caller's buffer")
			clear(p) // the caller reuses its buffer at once
			got := h.collect(t, 1)
			assert.Equal(t, tt.same, bytes.Equal(numbered(7, 100), got[0].p))
		})
	}
}
