package tcp

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unsafe"
)

// sentOptions returns what o becomes once sent: the SACK blocks that do not
// fit in 40 bytes left out.
func sentOptions(o Options) Options {
	_, blocks := o.layout()
	o.NumSACK = uint8(blocks)
	for i := blocks; i < MaxSACKBlocks; i++ {
		o.SACK[i] = SACKBlock{}
	}
	return o
}

// checkOptions checks the invariants of parsed options and that they
// survive a Marshal and Parse unchanged.
func checkOptions(t *testing.T, o Options) {
	t.Helper()
	if o.NumSACK > MaxSACKBlocks || o.WindowScale > MaxWindowScale {
		t.Fatalf("out of range: %+v", o)
	}
	for i := int(o.NumSACK); i < MaxSACKBlocks; i++ {
		if o.SACK[i] != (SACKBlock{}) {
			t.Fatalf("stale SACK block %d: %+v", i, o)
		}
	}
	_ = o.String()
	n := o.Len()
	if n%4 != 0 || n > MaxOptionsLen {
		t.Fatalf("Len %d", n)
	}
	b := make([]byte, n)
	if m := o.Marshal(b); m != n {
		t.Fatalf("Marshal wrote %d, Len says %d", m, n)
	}
	var back Options
	if err := ParseOptions(b, &back); err != nil {
		t.Fatalf("own options do not parse: %v (% x)", err, b)
	}
	if want := sentOptions(o); back != want {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, want)
	}
	again := make([]byte, back.Len())
	back.Marshal(again)
	if !bytes.Equal(again, b) {
		t.Fatalf("Marshal not stable: % x then % x", b, again)
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add(linuxSYNOptions)
	f.Add(linuxSYNNoTSOptions)
	f.Add(linuxACKSACKOptions)
	f.Add([]byte{})
	f.Add([]byte{30, 0})
	f.Add([]byte{5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 1, 1, 3, 3, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		var o Options
		err := ParseOptions(b, &o)
		if err != nil && !errors.Is(err, ErrBadOption) {
			t.Fatalf("error %v does not wrap ErrBadOption", err)
		}
		// Even after an error, what was kept is well-formed.
		checkOptions(t, o)
	})
}

func FuzzParseSegment(f *testing.F) {
	f.Add(wireSYN(""))
	f.Add(wireSYN("GET / HTTP/1.1\r\n"))
	f.Add(append([]byte{0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x11, 0, 0, 0, 0, 0, 0}, "bye"...))
	f.Add(append([]byte{0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 2, 0x80, 0x10, 0, 0, 0, 0, 0, 0}, linuxACKSACKOptions[:12]...))
	f.Add(append([]byte{0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x10, 0, 0, 0, 0, 0, 0}, 2, 0, 0, 0))
	f.Add([]byte{0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 2, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		var seg Segment
		err := ParseSegment(b, &seg)
		if errors.Is(err, ErrTooShort) || errors.Is(err, ErrDataOffset) {
			if !isZero(seg) {
				t.Fatalf("header error %v but seg was written", err)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrBadOption) {
			t.Fatalf("unexpected error %v", err)
		}
		if DropReason(err) == "tcp_other" {
			t.Fatalf("error %v has no drop reason", err)
		}
		h, herr := ParseHeader(b)
		if herr != nil {
			t.Fatalf("ParseSegment accepted what ParseHeader rejects: %v", herr)
		}
		off := h.DataOffset()
		if off < HeaderMinLen || off > HeaderMaxLen || off > len(b) || len(h.OptionBytes()) != off-HeaderMinLen {
			t.Fatalf("data offset %d of %d bytes", off, len(b))
		}
		// The payload is the tail of the input, aliased, not copied.
		if len(seg.Payload) != len(b)-off {
			t.Fatalf("payload %d bytes, want %d", len(seg.Payload), len(b)-off)
		}
		if len(seg.Payload) > 0 && unsafe.SliceData(seg.Payload) != &b[off] {
			t.Fatal("payload does not alias the input")
		}
		if seg.SrcPort != h.SrcPort() || seg.DstPort != h.DstPort() || seg.Seq != h.Seq() || seg.Ack != h.Ack() ||
			seg.Flags != h.Flags() || seg.Window != h.Window() || seg.Urgent != h.Urgent() {
			t.Fatalf("segment %+v disagrees with header", seg)
		}
		_ = seg.Len()
		checkOptions(t, seg.Options)

		// What we parse we can send, and it reads back the same.
		out := make([]byte, seg.HeaderLen()+len(seg.Payload))
		n := seg.MarshalHeader(out)
		copy(out[n:], seg.Payload)
		var back Segment
		if err := ParseSegment(out, &back); err != nil {
			t.Fatalf("own segment does not parse: %v", err)
		}
		want := seg
		want.Options = sentOptions(seg.Options)
		if !bytes.Equal(back.Payload, want.Payload) {
			t.Fatal("payload changed in a round trip")
		}
		back.Payload, want.Payload = nil, nil
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, want)
		}
	})
}

func isZero(s Segment) bool {
	return s.Payload == nil && s.Options == (Options{}) && s.SrcPort == 0 && s.DstPort == 0 &&
		s.Seq == 0 && s.Ack == 0 && s.Flags == 0 && s.Window == 0 && s.Urgent == 0
}
