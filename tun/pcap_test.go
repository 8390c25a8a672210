package tun

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readPcap decodes a pcap file with gopacket, independently of Pcap.
func readPcap(t *testing.T, file []byte) (*pcapgo.Reader, [][]byte) {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(file))
	require.NoError(t, err)
	var packets [][]byte
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return r, packets
		}
		require.NoError(t, err)
		require.Equal(t, len(data), ci.CaptureLength)
		require.Equal(t, ci.Length, ci.CaptureLength, "nothing may be cut")
		packets = append(packets, data)
	}
}

func TestPcapRecordsBothDirectionsAsRawIP(t *testing.T) {
	a, b := Pipe(1500)
	var file bytes.Buffer
	dev, err := NewPcap(a, &file)
	require.NoError(t, err)
	defer dev.Close()

	stack := netip.AddrPortFrom(stackAddr, 4000)
	kernel := netip.AddrPortFrom(kernelAddr, 5000)
	out := udpPacket(stack, kernel, []byte("written"))
	in := udpPacket(kernel, stack, []byte("read"))

	_, err = dev.Write(out)
	require.NoError(t, err)
	_, err = b.Read(make([]byte, 1500))
	require.NoError(t, err)
	_, err = b.Write(in)
	require.NoError(t, err)
	buf := make([]byte, 1500)
	n, err := dev.Read(buf)
	require.NoError(t, err)
	require.Equal(t, in, buf[:n])

	r, packets := readPcap(t, file.Bytes())
	assert.Equal(t, layers.LinkTypeRaw, r.LinkType())
	assert.Equal(t, uint32(PcapSnaplen), r.Snaplen())
	require.Equal(t, [][]byte{out, in}, packets)

	tests := []struct {
		name     string
		src, dst netip.AddrPort
		payload  string
	}{
		{"written", stack, kernel, "written"},
		{"read", kernel, stack, "read"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Decoded as Wireshark does with LINKTYPE_RAW: straight to IP.
			pkt := gopacket.NewPacket(packets[i], r.LinkType(), gopacket.Default)
			require.Nil(t, pkt.ErrorLayer(), "decoding: %v", pkt.ErrorLayer())
			ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			require.True(t, ok, "no IPv4 layer in %v", pkt)
			assert.Equal(t, tt.src.Addr().AsSlice(), []byte(ip.SrcIP.To4()))
			assert.Equal(t, tt.dst.Addr().AsSlice(), []byte(ip.DstIP.To4()))
			udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			require.True(t, ok)
			assert.Equal(t, layers.UDPPort(tt.dst.Port()), udp.DstPort)
			assert.Equal(t, tt.payload, string(udp.Payload))
		})
	}
}

func TestPcapConcurrentReadsAndWrites(t *testing.T) {
	const perSide = 300 // < PipeQueueLen, so the pipe drops nothing
	a, b := Pipe(1500)
	var file bytes.Buffer
	dev, err := NewPcap(a, &file)
	require.NoError(t, err)

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // the stack writing
		defer wg.Done()
		for i := range perSide {
			_, _ = dev.Write(numbered(i, 40+i%50))
		}
	}()
	go func() { // the far end writing
		defer wg.Done()
		for i := range perSide {
			_, _ = b.Write(numbered(perSide+i, 60))
		}
	}()
	go func() { // the stack reading
		defer wg.Done()
		buf := make([]byte, 1500)
		for range perSide {
			_, _ = dev.Read(buf)
		}
	}()
	wg.Wait()
	require.NoError(t, dev.Close())

	_, packets := readPcap(t, file.Bytes())
	require.Len(t, packets, 2*perSide)
	seen := make(map[int]bool)
	for _, p := range packets {
		seen[number(p)] = true
	}
	assert.Len(t, seen, 2*perSide, "every packet recorded once, none torn")
	assert.Zero(t, dev.WriteErrors())
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct {
	limit   int
	written int
	closed  bool
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.written+len(p) > w.limit {
		return 0, errDiskFull
	}
	w.written += len(p)
	return len(p), nil
}

func (w *failingWriter) Close() error { w.closed = true; return nil }

func TestPcapWriteErrorsDoNotBreakTheLink(t *testing.T) {
	tests := []struct {
		name       string
		limit      int // bytes the file accepts
		wantErrors uint64
	}{
		{"room for all", 1 << 20, 0},
		{"full after the first packet", 24 + 16 + 100, 9},
		{"full at once", 24, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Pipe(1500)
			w := &failingWriter{limit: tt.limit}
			dev, err := NewPcap(a, w)
			require.NoError(t, err)
			buf := make([]byte, 1500)
			for i := range 10 {
				n, err := dev.Write(numbered(i, 100))
				require.NoError(t, err)
				require.Equal(t, 100, n)
				n, err = b.Read(buf)
				require.NoError(t, err)
				assert.Equal(t, i, number(buf[:n]), "the packet must pass whatever the file does")
			}
			assert.Equal(t, tt.wantErrors, dev.WriteErrors())

			require.NoError(t, dev.Close())
			_, err = b.Read(buf)
			assert.ErrorIs(t, err, ErrClosed, "Close closes the wrapped device")
			assert.False(t, w.closed, "Close must not close the caller's writer")
		})
	}
}

func TestNewPcapReportsAHeaderWriteError(t *testing.T) {
	a, _ := Pipe(1500)
	defer a.Close()
	_, err := NewPcap(a, &failingWriter{limit: 10})
	assert.ErrorIs(t, err, errDiskFull)
}

func TestPcapDoesNotAllocate(t *testing.T) {
	a, b := Pipe(1500)
	dev, err := NewPcap(a, io.Discard)
	require.NoError(t, err)
	defer dev.Close()
	p := numbered(1, 1500)
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = dev.Write(p)
		_, _ = b.Read(buf)
		_, _ = b.Write(p)
		_, _ = dev.Read(buf)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, "pipe-a", dev.Name())
	assert.Equal(t, 1500, dev.MTU())
}
