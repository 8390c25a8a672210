package ip

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// udpDatagram builds a datagram from kernelAddr to stackAddr with Encode.
func udpDatagram(src, dst uint16, data string) []byte {
	b := make([]byte, UDPHeaderLen+len(data))
	copy(b[UDPHeaderLen:], data)
	(&UDPFields{SrcPort: src, DstPort: dst}).Encode(b, kernelAddr, stackAddr)
	return b
}

func TestParseUDPAccepts(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantData string
	}{
		{"empty data", udpDatagram(40000, 7, ""), ""},
		{"odd data", udpDatagram(40000, 7, "abc"), "abc"},
		{"no checksum sent (RFC 768)", func() []byte {
			b := udpDatagram(1, 9, "hello")
			binary.BigEndian.PutUint16(b[6:], 0)
			return b
		}(), "hello"},
		{"IP padding after the UDP length is not data", append(udpDatagram(5, 6, "xy"), 0, 0, 0), "xy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUDP(tt.in)
			require.NoError(t, err)
			require.NoError(t, u.VerifyChecksum(kernelAddr, stackAddr))
			assert.Equal(t, tt.wantData, string(u.Payload()))
			assert.Equal(t, UDPHeaderLen+len(tt.wantData), u.Length())
		})
	}
}

func TestParseUDPRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrUDPTooShort},
		{"7 bytes", udpDatagram(1, 2, "")[:7], ErrUDPTooShort},
		{"length below the header", func() []byte {
			b := udpDatagram(1, 2, "abc")
			binary.BigEndian.PutUint16(b[4:], 7)
			return b
		}(), ErrUDPLength},
		{"length past the packet", udpDatagram(1, 2, "abcd")[:10], ErrUDPLength},
		{"corrupt data", func() []byte { b := udpDatagram(1, 2, "abc"); b[9] ^= 0x40; return b }(), ErrUDPChecksum},
		{"corrupt port", func() []byte { b := udpDatagram(1, 2, "abc"); b[3]++; return b }(), ErrUDPChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUDP(tt.in)
			if err == nil {
				err = u.VerifyChecksum(kernelAddr, stackAddr)
			} else {
				assert.Nil(t, u)
			}
			require.ErrorIs(t, err, tt.want, "got %v, want %v", err, tt.want)
		})
	}
	// The pseudo-header is covered: the same bytes to another address fail.
	u, err := ParseUDP(udpDatagram(1, 2, "abc"))
	require.NoError(t, err)
	assert.ErrorIs(t, u.VerifyChecksum(kernelAddr, kernelAddr), ErrUDPChecksum, "wrong destination address")
}

func TestUDPEncodeMatchesGopacket(t *testing.T) {
	// gopacket, an independent implementation, builds the same bytes.
	for _, data := range []string{"", "a", "hello, world", string(bytes.Repeat([]byte{0xff}, 101))} {
		got := udpDatagram(33000, 7, data)

		ipl := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: kernelAddr.AsSlice(), DstIP: stackAddr.AsSlice()}
		udp := &layers.UDP{SrcPort: 33000, DstPort: 7}
		require.NoError(t, udp.SetNetworkLayerForChecksum(ipl))
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			udp, gopacket.Payload(data)))
		want := buf.Bytes()
		if binary.BigEndian.Uint16(want[6:]) == 0 {
			binary.BigEndian.PutUint16(want[6:], 0xffff) // gopacket may leave a computed zero as zero
		}
		assert.Equal(t, want, got, "data %q", data)
	}
}

func TestUDPEncodeZeroChecksumSentAsOnes(t *testing.T) {
	// Find data whose checksum computes to zero: with the checksum field
	// at 0xffff, choose the last two bytes so the whole sum is 0xffff.
	b := udpDatagram(1, 2, "\x00\x00")
	binary.BigEndian.PutUint16(b[6:], 0)
	binary.BigEndian.PutUint16(b[8:], 0)
	// The sum with the data word zero is s; a data word of ^s makes it 0xffff,
	// whose complement, the checksum, is zero.
	s := ^Fold(Sum(b, PseudoHeaderSum(kernelAddr, stackAddr, ProtocolUDP, len(b))))
	binary.BigEndian.PutUint16(b[8:], ^s)
	(&UDPFields{SrcPort: 1, DstPort: 2}).Encode(b, kernelAddr, stackAddr)
	assert.Equal(t, uint16(0xffff), UDP(b).Checksum(), "a computed zero is sent as all ones")
	u, err := ParseUDP(b)
	require.NoError(t, err)
	require.NoError(t, u.VerifyChecksum(kernelAddr, stackAddr), "and it verifies")
	assert.Equal(t, uint16(2), u.DstPort())
}

func FuzzParseUDP(f *testing.F) {
	f.Add(udpDatagram(40000, 7, "hello"))
	f.Add(udpDatagram(0, 0, ""))
	f.Add(append(udpDatagram(1, 2, "x"), 9, 9))
	f.Add([]byte{0, 1, 0, 2, 0, 7, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUDP(b)
		if err != nil {
			if u != nil {
				t.Fatalf("got view %x with error %v", u, err)
			}
			if DropReason(err) == "ip_other" {
				t.Fatalf("error %v has no drop reason", err)
			}
			return
		}
		// Every accessor is safe and consistent.
		if u.Length() != len(u) || len(u) > len(b) || len(u.Payload())+UDPHeaderLen != len(u) {
			t.Fatalf("length %d, view %d, input %d", u.Length(), len(u), len(b))
		}
		_, _, _ = u.SrcPort(), u.DstPort(), u.Checksum()
		if err := u.VerifyChecksum(kernelAddr, stackAddr); err != nil && DropReason(err) != "udp_bad_checksum" {
			t.Fatalf("checksum error %v", err)
		}
		// Built again from its fields and data, it parses back the same,
		// with a checksum that verifies.
		re := bytes.Clone(u)
		(&UDPFields{SrcPort: u.SrcPort(), DstPort: u.DstPort()}).Encode(re, kernelAddr, stackAddr)
		v, err := ParseUDP(re)
		if err == nil {
			err = v.VerifyChecksum(kernelAddr, stackAddr)
		}
		if err != nil || !bytes.Equal(v.Payload(), u.Payload()) || v.Checksum() == 0 {
			t.Fatalf("rebuilt datagram %x: %v", re, err)
		}
	})
}
