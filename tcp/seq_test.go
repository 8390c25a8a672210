package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSeqCompare(t *testing.T) {
	tests := []struct {
		name       string
		a, b       Seq
		less, more bool // a < b, a > b
	}{
		{"equal", 100, 100, false, false},
		{"plain", 1, 2, true, false},
		{"plain reversed", 2, 1, false, true},
		{"across the wrap", 0xFFFFFFF0, 0x10, true, false},
		{"across the wrap reversed", 0x10, 0xFFFFFFF0, false, true},
		{"max and zero", 0xFFFFFFFF, 0, true, false},
		{"just under half the space", 0, 0x7FFFFFFF, true, false},
		{"half the space wraps the other way", 0, 0x80000001, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tt.a, tt.b
			assert.Equal(t, tt.less, a.LessThan(b), "%#x < %#x", a, b)
			assert.Equal(t, tt.more, a.GreaterThan(b), "%#x > %#x", a, b)
			assert.Equal(t, tt.less || a == b, a.LessThanEq(b), "%#x <= %#x", a, b)
			assert.Equal(t, tt.more || a == b, a.GreaterThanEq(b), "%#x >= %#x", a, b)
			if tt.less {
				assert.Equal(t, b, MaxSeq(a, b))
				assert.Equal(t, a, MinSeq(a, b))
				assert.Equal(t, b, MaxSeq(b, a))
				assert.Equal(t, a, MinSeq(b, a))
			}
		})
	}
}

func TestSeqAddSub(t *testing.T) {
	assert.Equal(t, Seq(0x10), Seq(0xFFFFFFF0).Add(0x20))
	assert.Equal(t, uint32(0x20), Seq(0x10).Sub(0xFFFFFFF0))
	assert.Equal(t, uint32(0xFFFFFFE0), Seq(0xFFFFFFF0).Sub(0x10))
	assert.Equal(t, Seq(5), Seq(5).Add(0))
	s := Seq(0xFFFFFFFF)
	assert.True(t, s.LessThan(s.Add(1)), "SYN at the top of the space")
}

func TestSeqInWindow(t *testing.T) {
	tests := []struct {
		name  string
		s     Seq
		start Seq
		size  uint32
		want  bool
	}{
		{"start is in", 1000, 1000, 10, true},
		{"last is in", 1009, 1000, 10, true},
		{"end is out", 1010, 1000, 10, false},
		{"before is out", 999, 1000, 10, false},
		{"empty window holds nothing", 1000, 1000, 0, false},
		{"across the wrap, before it", 0xFFFFFFFF, 0xFFFFFFF0, 0x20, true},
		{"across the wrap, after it", 0x0F, 0xFFFFFFF0, 0x20, true},
		{"across the wrap, end", 0x10, 0xFFFFFFF0, 0x20, false},
		{"across the wrap, before start", 0xFFFFFFEF, 0xFFFFFFF0, 0x20, false},
		{"window of one", 7, 7, 1, true},
		{"largest window", 0, 1, 1 << 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.s.InWindow(tt.start, tt.size), "got %v for %#x in [%#x, +%d)", !tt.want, tt.s, tt.start, tt.size)
		})
	}
}

func TestSeqInRange(t *testing.T) {
	tests := []struct {
		name      string
		s, lo, hi Seq
		want      bool
	}{
		{"lo", 10, 10, 20, true},
		{"hi", 20, 10, 20, true},
		{"middle", 15, 10, 20, true},
		{"below", 9, 10, 20, false},
		{"above", 21, 10, 20, false},
		{"single point", 10, 10, 10, true},
		{"across the wrap, low side", 0xFFFFFFFE, 0xFFFFFFF0, 0x10, true},
		{"across the wrap, high side", 0x10, 0xFFFFFFF0, 0x10, true},
		{"across the wrap, outside", 0x11, 0xFFFFFFF0, 0x10, false},
		// The acceptable-ACK test SND.UNA < SEG.ACK =< SND.NXT is
		// InRange(SND.UNA+1, SND.NXT).
		{"ack of snd.una is not acceptable", 100, Seq(100).Add(1), 200, false},
		{"ack of snd.nxt is acceptable", 200, Seq(100).Add(1), 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.s.InRange(tt.lo, tt.hi), "got %v for %#x in [%#x, %#x]", !tt.want, tt.s, tt.lo, tt.hi)
		})
	}
}
