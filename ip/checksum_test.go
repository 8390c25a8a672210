package ip

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// naiveSum is the textbook reference: add 16-bit big-endian words into a
// 32-bit accumulator, padding an odd last byte with zero.
func naiveSum(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint32(s)
}

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded),
	// so the checksum is its complement, 220d.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	assert.Equal(t, uint16(0xddf2), ^Fold(Sum(b, 0)))
	assert.Equal(t, uint16(0x220d), Checksum(b))
}

func TestChecksumTable(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint16
	}{
		{"empty", nil, 0xffff},
		{"one byte", []byte{0x01}, ^uint16(0x0100)},
		{"three bytes", []byte{0x00, 0x01, 0x02}, ^uint16(0x0201)},
		{"all ones", []byte{0xff, 0xff}, 0x0000},
		{"carry", []byte{0xff, 0xff, 0x00, 0x01}, ^uint16(0x0001)},
		{"seven bytes", []byte{1, 2, 3, 4, 5, 6, 7}, ^uint16(0x0102 + 0x0304 + 0x0506 + 0x0700)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Checksum(tt.in), "got %#04x, want %#04x", Checksum(tt.in), tt.want)
		})
	}
}

func TestSumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := r.IntN(200)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(4) == 0 { // stress the carries
			for i := range b {
				b[i] = 0xff
			}
		}
		init := r.Uint32()
		require.Equal(t, Fold(naiveSum(b, init)), Fold(Sum(b, init)), "len %d init %#x", n, init)
	}
}

func TestSumAllOnesLong(t *testing.T) {
	// Long runs of 0xff drive every 64-bit add to carry.
	for _, n := range []int{31, 32, 33, 64, 1500, 65535} {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xff
		}
		assert.Equal(t, Fold(naiveSum(b, 0xffffffff)), Fold(Sum(b, 0xffffffff)), "len %d", n)
	}
}

func TestSumChaining(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 1501)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	want := Checksum(b)
	for _, cut := range []int{0, 2, 8, 20, 40, 1000, 1500} {
		s := Sum(b[:cut], 0)
		s = Sum(b[cut:], s)
		assert.Equal(t, want, Fold(s), "cut at %d", cut)
	}
	// Three pieces: even, even, odd.
	s := Sum(b[:14], 0)
	s = Sum(b[14:34], s)
	s = Sum(b[34:], s)
	assert.Equal(t, want, Fold(s))
}

func TestPseudoHeaderSum(t *testing.T) {
	src := netip.MustParseAddr("10.77.0.1")
	dst := netip.MustParseAddr("10.77.0.2")
	var ph [12]byte
	copy(ph[0:4], src.AsSlice())
	copy(ph[4:8], dst.AsSlice())
	ph[9] = ProtocolTCP
	binary.BigEndian.PutUint16(ph[10:], 40)
	assert.Equal(t, Fold(naiveSum(ph[:], 0)), Fold(PseudoHeaderSum(src, dst, ProtocolTCP, 40)))

	// IPv4-mapped IPv6 addresses are the same addresses.
	mapped := netip.AddrFrom16(src.As16())
	assert.Equal(t, PseudoHeaderSum(src, dst, 6, 40), PseudoHeaderSum(mapped, dst, 6, 40))

	// A valid segment checksums to zero with its pseudo-header.
	seg := []byte{0x04, 0xd2, 0x00, 0x50, 1, 2, 3, 4, 5, 6, 7, 8, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0, 'h', 'i', '!'}
	c := Fold(Sum(seg, PseudoHeaderSum(src, dst, ProtocolTCP, len(seg))))
	binary.BigEndian.PutUint16(seg[16:], c)
	assert.Equal(t, uint16(0), Fold(Sum(seg, PseudoHeaderSum(src, dst, ProtocolTCP, len(seg)))))
}

func TestSumDoesNotAllocate(t *testing.T) {
	b := make([]byte, 1500)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Checksum(b) }))
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Checksum(buf)
	}
}

func BenchmarkNaiveChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Fold(naiveSum(buf, 0))
	}
}

// TestSumMatchesNaiveAtAnyOffset checks the word-at-a-time Sum against the
// 16-bit reference on random lengths (odd ones included) starting at random,
// unaligned offsets of a larger buffer, with a random running sum carried in.
func TestSumMatchesNaiveAtAnyOffset(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		buf := rapid.SliceOfN(rapid.Byte(), 0, 3000).Draw(t, "buf")
		if rapid.Bool().Draw(t, "all ones") { // every 64-bit add carries
			for i := range buf {
				buf[i] = 0xff
			}
		}
		off := rapid.IntRange(0, len(buf)).Draw(t, "offset")
		end := rapid.IntRange(off, len(buf)).Draw(t, "end")
		initial := rapid.Uint32().Draw(t, "initial")
		b := buf[off:end]
		if got, want := Fold(Sum(b, initial)), Fold(naiveSum(b, initial)); got != want {
			t.Fatalf("Sum over %d bytes at offset %d: got %#04x, want %#04x", len(b), off, got, want)
		}
	})
}

// BenchmarkChecksum reports checksum speed (GB/s) over a bare IPv4 header,
// a full-sized TCP payload and the largest IPv4 packet, at an aligned and an
// odd start.
func BenchmarkChecksum(b *testing.B) {
	buf := make([]byte, 64<<10+1)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"20B", 20}, {"1460B", 1460}, {"64KiB", 64 << 10}} {
		for _, off := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/offset%d", size.name, off), func(b *testing.B) {
				p := buf[off : off+size.n]
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					_ = Checksum(p)
				}
			})
		}
	}
}
