package ip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func FuzzParseIPv4(f *testing.F) {
	f.Add(template())
	f.Add(append(template(), 0, 0, 0))
	f.Add([]byte{0x45})
	f.Add(make([]byte, 20))
	opt := make([]byte, 24)
	(&IPv4Fields{TotalLen: 24, TTL: 1, Src: kernelAddr, Dst: stackAddr}).Encode(opt)
	opt[0] = 0x46
	fixChecksum(opt)
	f.Add(opt)
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.Clone(b) // the repair below must not touch the fuzzer's copy
		v, err := ParseIPv4(b)
		if errors.Is(err, ErrChecksum) {
			// Every earlier check passed: with the checksum repaired,
			// the packet must be accepted.
			fixChecksum(b)
			v, err = ParseIPv4(b)
			if err != nil {
				t.Fatalf("repaired checksum: %v", err)
			}
		}
		if err != nil {
			if v != nil {
				t.Fatalf("got view %x with error %v", v, err)
			}
			if DropReason(err) == "ip_other" {
				t.Fatalf("error %v has no drop reason", err)
			}
			return
		}
		// Every accessor is safe and consistent.
		hl, tl := v.HeaderLen(), v.TotalLen()
		if hl < HeaderMinLen || hl > tl || tl != len(v) || tl > len(b) {
			t.Fatalf("header %d, total %d, view %d, input %d", hl, tl, len(v), len(b))
		}
		if !bytes.Equal(v, b[:tl]) {
			t.Fatal("view is not a prefix of the input")
		}
		if len(v.Options())+HeaderMinLen != hl || len(v.Payload())+hl != tl {
			t.Fatal("options or payload out of place")
		}
		_, _, _, _ = v.TOS(), v.ID(), v.Flags(), v.DontFragment()
		_, _, _, _ = v.MoreFragments(), v.FragmentOffset(), v.IsFragment(), v.TTL()
		_, _, _ = v.Protocol(), v.Src(), v.Dst()
		if Checksum(v[:hl]) != 0 {
			t.Fatal("accepted a bad checksum")
		}
		// Quoting it in an ICMP error is safe and parses back.
		var dst [MaxDestUnreachableLen]byte
		n := DestUnreachable(dst[:], CodePortUnreachable, 0, v)
		m, err := ParseICMP(dst[:n])
		if err != nil {
			t.Fatal(err)
		}
		h, p, err := m.Original()
		if err != nil || !bytes.Equal(h, v[:hl]) || !bytes.Equal(p, v.Payload()[:min(8, len(v.Payload()))]) {
			t.Fatalf("quote does not read back: %v", err)
		}
	})
}

func FuzzParseICMP(f *testing.F) {
	f.Add(echoRequest(1, 2, "hello"))
	f.Add(echoRequest(0, 0, ""))
	var dst [MaxDestUnreachableLen]byte
	v, _ := ParseIPv4(template())
	f.Add(dst[:DestUnreachable(dst[:], CodeFragmentationNeeded, 1280, v)])
	f.Add([]byte{3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.Clone(b)
		m, err := ParseICMP(b)
		if errors.Is(err, ErrICMPChecksum) {
			binary.BigEndian.PutUint16(b[2:], 0)
			binary.BigEndian.PutUint16(b[2:], Checksum(b))
			if m, err = ParseICMP(b); err != nil {
				t.Fatalf("repaired checksum: %v", err)
			}
		}
		if err != nil {
			if DropReason(err) == "ip_other" {
				t.Fatalf("error %v has no drop reason", err)
			}
			return
		}
		_, _, _, _, _, _ = m.Type(), m.Code(), m.Checksum(), m.ID(), m.Seq(), m.MTU()
		if len(m.Body())+ICMPHeaderLen != len(b) {
			t.Fatal("body out of place")
		}
		if h, p, err := m.Original(); err == nil {
			if h.HeaderLen() != len(h) || len(p) > 8 || len(h)+len(p)+ICMPHeaderLen > len(b) {
				t.Fatalf("original out of place: %d+%d of %d", len(h), len(p), len(b))
			}
			_, _, _, _ = h.Src(), h.Dst(), h.Options(), h.Payload()
		}
		out := make([]byte, len(b))
		if n := EchoReply(out, m); n != 0 {
			r, err := ParseICMP(out[:n])
			if err != nil || r.Type() != TypeEchoReply || r.ID() != m.ID() || r.Seq() != m.Seq() || !bytes.Equal(r.Body(), m.Body()) {
				t.Fatalf("bad echo reply: %v", err)
			}
		}
	})
}

// FuzzICMPQuote feeds arbitrary ICMP errors to Quote: it never panics, a
// failure always has a drop reason, and what it reads back agrees with
// Original.
func FuzzICMPQuote(f *testing.F) {
	var dst [MaxErrorLen]byte
	for _, typ := range []uint8{TypeDestinationUnreachable, TypeSourceQuench, TypeTimeExceeded, TypeParameterProblem} {
		f.Add(dst[:Error(dst[:], typ, CodeFragmentationNeeded, 1000, tcpOriginal(12345, 5))])
	}
	f.Add(dst[:Error(dst[:], TypeDestinationUnreachable, CodeHostUnreachable, 0, tcpOriginal(1, 6))])
	f.Add([]byte{3, 1, 0, 0, 0, 0, 0, 0, 0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= ICMPHeaderLen {
			// Repair the checksum, so the fuzzer's bytes reach the quote.
			b = bytes.Clone(b)
			binary.BigEndian.PutUint16(b[2:], 0)
			binary.BigEndian.PutUint16(b[2:], Checksum(b))
		}
		m, err := ParseICMP(b)
		if err != nil {
			return // FuzzParseICMP covers parsing
		}
		q, err := m.Quote()
		if err != nil {
			if q != (Quote{}) {
				t.Fatalf("got %+v with error %v", q, err)
			}
			if DropReason(err) == "ip_other" {
				t.Fatalf("error %v has no drop reason", err)
			}
			return
		}
		h, p, err := m.Original()
		if err != nil || len(p) != 8 || h.FragmentOffset() != 0 {
			t.Fatalf("Quote accepted what Original reads as %d+%d bytes (%v)", len(h), len(p), err)
		}
		if q.Src != h.Src() || q.Dst != h.Dst() || q.Protocol != h.Protocol() || q.TotalLen != h.TotalLen() {
			t.Fatalf("quote %+v disagrees with the quoted header", q)
		}
		if q.SrcPort != binary.BigEndian.Uint16(p) || q.Seq != binary.BigEndian.Uint32(p[4:]) {
			t.Fatalf("quote %+v disagrees with the quoted payload %x", q, p)
		}
	})
}
