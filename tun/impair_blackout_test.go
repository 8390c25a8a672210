package tun

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blackoutRun sends packets 0..9 through one direction of an Impair, then
// (if cut) cuts the link and sends 10..19, then mends it and sends 20..29.
// It returns the numbers of the packets that came out, in order, and the
// counters of both directions (this one first).
func blackoutRun(t *testing.T, direction string, cfg ImpairConfig, cut bool) ([]int, ImpairCounters, ImpairCounters) {
	t.Helper()
	h := newHarness(t, direction, cfg, longHold)
	// A reader that never stops: in pass-through mode In packets are
	// dropped by Read itself, so Read must run while the link is cut.
	got := make(chan int, 64)
	go func() {
		for {
			p, err := h.recv()
			if err != nil {
				return
			}
			got <- number(p)
		}
	}()
	// settle waits until the packets sent so far have been taken in: the
	// link's read number k+1 means packet k was (see harness.settle).
	deadline := time.After(30 * time.Second)
	taken, sent := 0, 0
	settle := func() {
		for h.inbound && taken <= sent {
			select {
			case <-h.link.reads:
				taken++
			case <-deadline:
				t.Fatalf("the link was read only %d times for %d packets", taken, sent)
			}
		}
	}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			h.send(numbered(i, 64))
			sent++
		}
		settle()
	}

	send(0, 10)
	if cut {
		h.m.SetBlackout(true)
		send(10, 20)
		h.m.SetBlackout(false)
	}
	send(20, 30)

	counters := func() (this, other ImpairCounters) {
		stats := h.m.Stats()
		if h.inbound {
			return stats.In, stats.Out
		}
		return stats.Out, stats.In
	}
	this, _ := counters()
	want := 20 - int(this.Dropped)
	var numbers []int
	for len(numbers) < want {
		select {
		case n := <-got:
			numbers = append(numbers, n)
		case <-deadline:
			t.Fatalf("only %d of %d packets arrived", len(numbers), want)
		}
	}
	this, other := counters() // Passed counts a packet once it is out
	return numbers, this, other
}

func TestImpairBlackout(t *testing.T) {
	for _, mode := range []struct {
		name string
		cfg  ImpairConfig
	}{
		{"pass-through", ImpairConfig{Seed: 5}},
		{"impaired", ImpairConfig{DropChance: 30, Seed: 5}},
	} {
		for _, direction := range directions {
			t.Run(mode.name+"/"+direction, func(t *testing.T) {
				got, c, other := blackoutRun(t, direction, mode.cfg, true)
				assert.Equal(t, uint64(10), c.BlackedOut, "every packet sent while the link was cut is lost")
				assert.Zero(t, other.BlackedOut, "nothing crossed the other direction")
				for _, n := range got {
					assert.False(t, n >= 10 && n < 20, "packet %d crossed a cut link", n)
				}
				assert.True(t, slices.Contains(got, 29), "the mended link carries packets again: got %v", got)

				// No coin is tossed for a packet lost in the blackout, so the
				// seeded decisions resume where they were: the packets that
				// arrive are exactly those of a run that never sent 10..19.
				want, ref, _ := blackoutRun(t, direction, mode.cfg, false)
				assert.Equal(t, want, got)
				assert.Equal(t, ref.Dropped, c.Dropped)
				assert.Equal(t, ref.Passed, c.Passed)
			})
		}
	}
}

func TestImpairBlackoutIsSafeWhileTrafficFlows(t *testing.T) {
	// The switch is flipped from another goroutine while packets are
	// written; the race detector watches, and the counters add up.
	h := newHarness(t, "out", ImpairConfig{Delay: time.Millisecond}, longHold)
	const n = 2000
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		for i := range 100 {
			h.m.SetBlackout(i%2 == 0)
		}
		h.m.SetBlackout(false)
	}()
	for i := range n {
		h.send(numbered(i, 64))
	}
	<-flipped
	c := h.counters()
	require.Equal(t, uint64(n), c.BlackedOut+c.Delayed, "every packet is either lost to the blackout or sent on")
	h.collect(t, int(c.Delayed))
}
