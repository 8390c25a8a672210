package tun

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// middlewares must stop everything they start, and the TUN backends must
// start nothing.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The tests build their packets by hand: tun must not import tinytcp/ip, and
// the tests should not trust the code they check.

// testChecksum is the RFC 1071 Internet checksum, written plainly.
func testChecksum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// ipv4Packet wraps payload (a transport header and data) in a 20-byte IPv4
// header with a correct checksum.
func ipv4Packet(proto byte, src, dst netip.Addr, payload []byte) []byte {
	p := make([]byte, 20+len(payload))
	p[0] = 0x45                                       // version 4, IHL 5
	binary.BigEndian.PutUint16(p[2:], uint16(len(p))) // total length
	binary.BigEndian.PutUint16(p[4:], 0x1234)         // identification
	binary.BigEndian.PutUint16(p[6:], 0x4000)         // DF
	p[8] = 64                                         // TTL
	p[9] = proto                                      // protocol
	copy(p[12:16], src.AsSlice())                     // source
	copy(p[16:20], dst.AsSlice())                     // destination
	binary.BigEndian.PutUint16(p[10:], testChecksum(p[:20], 0))
	copy(p[20:], payload)
	return p
}

// udpPacket builds an IPv4/UDP datagram with correct checksums.
func udpPacket(src, dst netip.AddrPort, data []byte) []byte {
	u := make([]byte, 8+len(data))
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], data)
	var pseudo uint32
	for _, a := range [][]byte{src.Addr().AsSlice(), dst.Addr().AsSlice()} {
		pseudo += (uint32(a[0])<<8 | uint32(a[1])) + (uint32(a[2])<<8 | uint32(a[3]))
	}
	pseudo += 17 + uint32(len(u))
	binary.BigEndian.PutUint16(u[6:], testChecksum(u, pseudo))
	return ipv4Packet(17, src.Addr(), dst.Addr(), u)
}

// icmpEcho builds an IPv4 ICMP echo request.
func icmpEcho(src, dst netip.Addr, id, seq uint16, data []byte) []byte {
	m := make([]byte, 8+len(data))
	m[0] = 8 // echo request
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], data)
	binary.BigEndian.PutUint16(m[2:], testChecksum(m, 0))
	return ipv4Packet(1, src, dst, m)
}

// numbered returns a packet of size bytes (at least 4) whose first four
// bytes are i and the rest a pattern derived from i, for the middleware
// tests, which care about identity and order, not protocol.
func numbered(i, size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint32(p, uint32(i))
	for j := 4; j < size; j++ {
		p[j] = byte(i*7 + j)
	}
	return p
}

// number reads back the index numbered wrote.
func number(p []byte) int { return int(binary.BigEndian.Uint32(p)) }

// readTimeout reads one packet from dev, failing the test if none arrives
// within d. It guards against a hang; it never paces the test.
func readTimeout(t testing.TB, dev Device, buf []byte, d time.Duration) []byte {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := dev.Read(buf)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("read %s: %v", dev.Name(), r.err)
		}
		return buf[:r.n]
	case <-time.After(d):
		dev.Close() // unblocks the reader, so goleak stays quiet
		<-done
		t.Fatalf("read %s: no packet within %v", dev.Name(), d)
		return nil
	}
}

// procValue reads a /proc file of the calling thread's namespace.
func procValue(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return string(b)
}
