package ip

// The Internet checksum, RFC 1071.
//
// "The checksum field is the 16 bit one's complement of the one's complement
// sum of all 16 bit words in the header." (RFC 791 §3.1)
//
// The sum is kept unfolded while pieces are added, so a checksum can be built
// from consecutive pieces (pseudo-header, TCP header, payload) without
// copying them together (RFC 1071 §2(C), "deferred carries"). Eight bytes
// are added at a time with end-around carry: since 2**16 ≡ 1 (mod 2**16-1),
// a 64-bit one's-complement sum folds down to the same 16-bit sum as adding
// the four 16-bit words one by one (RFC 1071 §2(B), byte-order independence
// and §4.1's "unwinding").
//
// The fast path (Sum's main loop) keeps two running sums, one over the even
// 8-byte words and one over the odd ones, each with its own carry, and adds
// them together at the end. One's-complement addition is associative and
// commutative, so the words may be summed in any grouping ("parallel
// summation", RFC 1071 §2(C)); two independent chains let the processor
// run two add-with-carry instructions per cycle instead of waiting for each
// carry in turn, which makes the sum about half again as fast (18 GB/s
// against 12 GB/s over 1460 bytes on the 2-core test machine;
// docs/benchmarks.md).
//
// Left out: incremental update of a stored checksum (RFC 1624); tinytcp
// recomputes, which is cheap at this speed.

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Sum adds the bytes of b, as big-endian 16-bit words, to the running
// one's-complement sum initial and returns the new running sum: carries are
// folded only down to 32 bits, and the sum is not complemented (see Fold).
// A trailing odd byte counts as the high byte of a word padded with zero,
// so when chaining Sum over consecutive pieces every piece except the last
// must have even length. Sum does not allocate.
func Sum(b []byte, initial uint32) uint32 {
	// The carry c is threaded through every addition and added back once
	// at the end, so no carry is ever lost.
	s, c := uint64(initial), uint64(0)
	// Fast path: 64 bytes a round, the even words into s and the odd ones
	// into s1, two carry chains that do not wait for each other (see the
	// file comment); s1 and its carry c1 join s after the loop.
	s1, c1 := uint64(0), uint64(0)
	for len(b) >= 64 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[0:8]), c)
		s1, c1 = bits.Add64(s1, binary.BigEndian.Uint64(b[8:16]), c1)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[16:24]), c)
		s1, c1 = bits.Add64(s1, binary.BigEndian.Uint64(b[24:32]), c1)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[32:40]), c)
		s1, c1 = bits.Add64(s1, binary.BigEndian.Uint64(b[40:48]), c1)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[48:56]), c)
		s1, c1 = bits.Add64(s1, binary.BigEndian.Uint64(b[56:64]), c1)
		b = b[64:]
	}
	s, c = bits.Add64(s, s1, c)
	s, c = bits.Add64(s, c1, c) // s1's last carry; c keeps the carry out, as below
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[:8]), c)
		b = b[8:]
	}
	var tail uint64 // the last 0 to 7 bytes, as 16-bit words summed
	if len(b) >= 4 {
		tail += uint64(binary.BigEndian.Uint32(b[:4]))
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.BigEndian.Uint16(b[:2]))
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 8
	}
	s, c = bits.Add64(s, tail, c)
	s, c = bits.Add64(s, 0, c) // end-around carry; cannot carry again
	s += c
	// Fold 64 bits to 32 with end-around carry; twice, as the first fold
	// can itself carry.
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	return uint32(s)
}

// Fold folds the carries of the running sum into 16 bits and complements the
// result: the value to store in a checksum field. A received packet is intact
// when Fold of the sum over it (checksum field included) is zero.
func Fold(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return ^uint16(sum)
}

// Checksum returns the Internet checksum of b, Fold(Sum(b, 0)).
func Checksum(b []byte) uint16 { return Fold(Sum(b, 0)) }

// PseudoHeaderSum returns the running sum of the IPv4 pseudo-header that TCP
// and UDP prepend to their checksum (RFC 9293 §3.1): source address,
// destination address, a zero byte, the protocol number and the length of
// the TCP or UDP header plus data. Chain it into Sum as the initial value.
// An address that is not IPv4 (nor IPv4-mapped IPv6) counts as 0.0.0.0.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	return addrSum(src) + addrSum(dst) + uint32(proto) + uint32(length)
}

// addrSum returns the sum of the two 16-bit halves of an IPv4 address.
func addrSum(a netip.Addr) uint32 {
	a = a.Unmap()
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return (uint32(b[0])<<8 | uint32(b[1])) + (uint32(b[2])<<8 | uint32(b[3]))
}
