package tun

import (
	"bytes"
	"fmt"
	"math/bits"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run sends n numbered packets through one direction and collects what
// comes out once everything not held back has arrived.
func run(t *testing.T, direction string, cfg ImpairConfig, n, size int) ([][]byte, ImpairCounters) {
	t.Helper()
	h := newHarness(t, direction, cfg, longHold)
	for i := range n {
		h.send(numbered(i, size))
	}
	h.settle(t, n)
	got := h.collect(t, h.expectedArrivals(n))
	packets := make([][]byte, len(got))
	for i, a := range got {
		packets[i] = a.p
	}
	return packets, h.counters()
}

var allKnobs = ImpairConfig{
	DropChance: 10, CorruptChance: 10, DupChance: 10, ReorderChance: 10,
	Delay: time.Millisecond, Rate: 50_000_000,
}

func TestImpairIsDeterministic(t *testing.T) {
	for _, direction := range directions {
		t.Run(direction, func(t *testing.T) {
			cfg := allKnobs
			cfg.Seed = 7
			first, firstStats := run(t, direction, cfg, 500, 64)
			second, secondStats := run(t, direction, cfg, 500, 64)
			assert.Equal(t, first, second, "same seed, same packets: same result")
			firstStats.RateQueued, secondStats.RateQueued = 0, 0 // depends on the clock
			assert.Equal(t, firstStats, secondStats)

			cfg.Seed = 8
			other, _ := run(t, direction, cfg, 500, 64)
			assert.NotEqual(t, first, other, "another seed, another result")
		})
	}
}

func TestImpairDirectionsAreIndependent(t *testing.T) {
	// The same seed gives the directions different streams: the packets
	// dropped going out are not those dropped coming in.
	cfg := ImpairConfig{DropChance: 50, Seed: 3}
	out, _ := run(t, "out", cfg, 200, 32)
	in, _ := run(t, "in", cfg, 200, 32)
	assert.NotEqual(t, out, in)
}

func TestImpairKnobs(t *testing.T) {
	const n, size = 2000, 64
	tests := []struct {
		name  string
		cfg   ImpairConfig
		count func(ImpairCounters) uint64 // the counter the knob drives
		pct   float64
		check func(t *testing.T, got [][]byte, c ImpairCounters)
	}{
		{
			name: "drop", cfg: ImpairConfig{DropChance: 10}, pct: 10,
			count: func(c ImpairCounters) uint64 { return c.Dropped },
			check: func(t *testing.T, got [][]byte, c ImpairCounters) {
				assert.Len(t, got, n-int(c.Dropped))
				for i, p := range got {
					assert.Equal(t, numbered(number(p), size), p, "packet %d altered", i)
					if i > 0 {
						assert.Greater(t, number(p), number(got[i-1]), "order")
					}
				}
			},
		},
		{
			name: "corrupt", cfg: ImpairConfig{CorruptChance: 10}, pct: 10,
			count: func(c ImpairCounters) uint64 { return c.Corrupted },
			check: func(t *testing.T, got [][]byte, c ImpairCounters) {
				require.Len(t, got, n, "corruption loses nothing; order is kept")
				var corrupted, singleBit int
				for i, p := range got {
					want := numbered(i, size)
					var diffBytes, diffBits int
					for j := range p {
						if x := p[j] ^ want[j]; x != 0 {
							diffBytes++
							diffBits = bits.OnesCount8(x)
						}
					}
					if diffBytes > 0 {
						corrupted++
						assert.Equal(t, 1, diffBytes, "packet %d: one byte changes", i)
						if diffBits == 1 {
							singleBit++
						}
					}
				}
				assert.Equal(t, int(c.Corrupted), corrupted)
				// Half are bit flips; a replaced byte differs in one bit
				// too 8 times in 255.
				lo, hi := binomialBounds(corrupted, 100*(0.5+0.5*8/255))
				assert.True(t, uint64(singleBit) >= lo && uint64(singleBit) <= hi,
					"got %d single-bit changes of %d, want %d..%d", singleBit, corrupted, lo, hi)
			},
		},
		{
			name: "duplicate", cfg: ImpairConfig{DupChance: 10}, pct: 10,
			count: func(c ImpairCounters) uint64 { return c.Duplicated },
			check: func(t *testing.T, got [][]byte, c ImpairCounters) {
				assert.Len(t, got, n+int(c.Duplicated))
				var twins int
				for i := 1; i < len(got); i++ {
					if bytes.Equal(got[i], got[i-1]) {
						twins++
					}
				}
				assert.Equal(t, int(c.Duplicated), twins, "copies arrive back to back")
				assert.Equal(t, n, len(slices.CompactFunc(got, bytes.Equal)))
			},
		},
		{
			name: "reorder", cfg: ImpairConfig{ReorderChance: 10}, pct: 10,
			count: func(c ImpairCounters) uint64 { return c.Reordered },
			check: func(t *testing.T, got [][]byte, c ImpairCounters) {
				held := n - len(got) // the last one may still be held
				require.LessOrEqual(t, held, 1)
				var swaps int
				for i := 1; i < len(got); i++ {
					if number(got[i]) < number(got[i-1]) {
						swaps++
						assert.Equal(t, number(got[i])+1, number(got[i-1]), "overtaken by the next packet only")
					}
				}
				assert.Equal(t, int(c.Reordered)-held, swaps)
				nums := make([]int, len(got))
				for i, p := range got {
					nums[i] = number(p)
				}
				slices.Sort(nums)
				assert.Equal(t, len(nums), len(slices.Compact(nums)), "nothing lost or doubled")
			},
		},
	}
	for _, tt := range tests {
		for _, direction := range directions {
			t.Run(tt.name+"/"+direction, func(t *testing.T) {
				cfg := tt.cfg
				cfg.Seed = 2026
				got, c := run(t, direction, cfg, n, size)
				lo, hi := binomialBounds(n, tt.pct)
				assert.True(t, tt.count(c) >= lo && tt.count(c) <= hi,
					"got %d of %d, want %d..%d", tt.count(c), n, lo, hi)
				tt.check(t, got, c)
				others := c
				others.Passed = 0
				switch tt.name {
				case "drop":
					others.Dropped = 0
				case "corrupt":
					others.Corrupted = 0
				case "duplicate":
					others.Duplicated = 0
				case "reorder":
					others.Reordered = 0
				}
				assert.Zero(t, others, "other counters stay at zero")
			})
		}
	}
}

func TestImpairReorderHold(t *testing.T) {
	t.Run("the next packet overtakes", func(t *testing.T) {
		h := newHarness(t, "out", ImpairConfig{ReorderChance: 100}, longHold)
		for i := range 4 {
			h.send(numbered(i, 20))
		}
		var order []int
		for _, a := range h.collect(t, 4) {
			order = append(order, number(a.p))
		}
		assert.Equal(t, []int{1, 0, 3, 2}, order)
	})
	t.Run("a lone packet is released by the timeout", func(t *testing.T) {
		tuning := impairTuning{limit: 10, reorderTimeout: 20 * time.Millisecond}
		h := newHarness(t, "out", ImpairConfig{ReorderChance: 100}, tuning)
		sent := time.Now()
		h.send(numbered(0, 20))
		got := h.collect(t, 1)
		assert.Equal(t, 0, number(got[0].p))
		assert.GreaterOrEqual(t, got[0].at.Sub(sent), tuning.reorderTimeout, "held for the timeout")
		assert.Equal(t, uint64(1), h.counters().Reordered)
	})
}

func TestImpairDelayKeepsOrder(t *testing.T) {
	const n, delay = 50, 30 * time.Millisecond
	for _, direction := range directions {
		t.Run(direction, func(t *testing.T) {
			h := newHarness(t, direction, ImpairConfig{Delay: delay}, longHold)
			sent := make([]time.Time, n)
			for i := range n {
				sent[i] = time.Now()
				h.send(numbered(i, 100))
			}
			for i, a := range h.collect(t, n) {
				require.Equal(t, i, number(a.p), "order")
				assert.GreaterOrEqual(t, a.at.Sub(sent[i]), delay, "packet %d early", i)
			}
			assert.Equal(t, uint64(n), h.counters().Delayed)
		})
	}
}

func TestImpairRateSpreadsPacketsOut(t *testing.T) {
	const n, size, rate = 20, 1000, 100_000 // 10 ms per packet
	perPacket := time.Duration(size) * time.Second / rate
	for _, direction := range directions {
		t.Run(direction, func(t *testing.T) {
			h := newHarness(t, direction, ImpairConfig{Rate: rate}, longHold)
			start := time.Now()
			for i := range n {
				h.send(numbered(i, size))
			}
			for i, a := range h.collect(t, n) {
				require.Equal(t, i, number(a.p), "order")
				// Lower bounds only: a slow machine makes packets later,
				// never earlier.
				assert.GreaterOrEqual(t, a.at.Sub(start), time.Duration(i+1)*perPacket,
					fmt.Sprintf("packet %d left before the link could send it", i))
			}
			c := h.counters()
			assert.Positive(t, c.RateQueued, "a burst must queue")
			assert.Zero(t, c.RateDropped)
		})
	}
}

func TestImpairFullQueueDropsTheTail(t *testing.T) {
	// 1000-byte packets at 1000 bytes/s: the first takes a second to "send",
	// so the queue of 4 holds it and three behind it; six are dropped.
	h := newHarness(t, "out", ImpairConfig{Rate: 1000}, impairTuning{limit: 4, reorderTimeout: time.Hour})
	for i := range 10 {
		h.send(numbered(i, 1000))
	}
	c := h.counters()
	assert.Equal(t, uint64(6), c.RateDropped)
	assert.Equal(t, uint64(3), c.RateQueued)
}
