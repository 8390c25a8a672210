package bench

// The raw packet rate of a TUN device with no stack on it: the most
// packets per second a stack that makes one write(2) or read(2) per packet
// could move through the device on this machine. The device is opened as
// tinytcp opens it (tun.Open, default driver: one packet per call, Go's
// poller waiting when the device is empty).
//
//   - write: MTU-sized UDP packets from the stack's address to a kernel UDP
//     socket in the namespace, written as fast as the device takes them.
//     The socket never reads: its small buffer fills and the kernel drops
//     the rest at the socket, after IP and UDP have handled them.
//   - read: a kernel UDP socket sends MTU-sized packets to the stack's
//     address as fast as it can (UDP GSO: one send(2), many packets); they route out of the device, and the
//     device is read as fast as it gives them. Packets the reader is too
//     slow for are dropped at the device's queue and not counted.
//
// The UDP checksum is zero ("no checksum", RFC 768), so the kernel spends
// nothing on it; the IPv4 header is built here, with ip.Checksum.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"tinytcp/cmd/demo"
	"tinytcp/ip"
	"tinytcp/tests/netns"
	"tinytcp/tun"
)

// udpDiscardPort is where the kernel's UDP socket listens (write test)
// and where it sends to (read test).
const udpDiscardPort = 9

// MeasureTUNWrite writes MTU-sized packets into a fresh TUN device in ns
// for d and returns packets per second.
func MeasureTUNWrite(ctx context.Context, ns *netns.NS, d time.Duration) (float64, error) {
	var dev tun.Device
	var sock net.PacketConn
	if err := ns.Do(func() error {
		var err error
		if dev, err = tun.Open(tun.Config{Name: devName, Peer: demo.DefaultPeer}); err != nil {
			return err
		}
		sock, err = net.ListenPacket("udp4", netip.AddrPortFrom(demo.DefaultPeer.Addr(), udpDiscardPort).String())
		return err
	}); err != nil {
		if dev != nil {
			dev.Close()
		}
		return 0, err
	}
	defer dev.Close()
	defer sock.Close()
	if uc, ok := sock.(*net.UDPConn); ok {
		uc.SetReadBuffer(4096) //nolint:errcheck // a smaller buffer only drops sooner
	}

	pkt := udpPacket(dev.MTU(), demo.DefaultAddr, demo.DefaultPeer.Addr())
	return packetRate(ctx, d, "writing", func() error { _, err := dev.Write(pkt); return err })
}

// packetRate calls op, one packet each, for d (in rounds of 256, so the
// clock is read rarely) and returns packets per second.
func packetRate(ctx context.Context, d time.Duration, what string, op func() error) (float64, error) {
	var n int64
	start := time.Now()
	end := start.Add(d)
	for ctx.Err() == nil {
		for range 256 {
			if err := op(); err != nil {
				return 0, fmt.Errorf("%s packet %d: %w", what, n, err)
			}
		}
		n += 256
		if time.Now().After(end) {
			break
		}
	}
	return float64(n) / time.Since(start).Seconds(), ctx.Err()
}

// MeasureTUNRead has a kernel UDP socket in ns flood a fresh TUN device
// with MTU-sized packets, reads them for d and returns packets per second.
func MeasureTUNRead(ctx context.Context, ns *netns.NS, d time.Duration) (float64, error) {
	var dev tun.Device
	var sock net.Conn
	if err := ns.Do(func() error {
		var err error
		if dev, err = tun.Open(tun.Config{Name: devName, Peer: demo.DefaultPeer}); err != nil {
			return err
		}
		sock, err = net.Dial("udp4", netip.AddrPortFrom(demo.DefaultAddr, udpDiscardPort).String())
		return err
	}); err != nil {
		if dev != nil {
			dev.Close()
		}
		return 0, err
	}
	defer dev.Close()

	// The sender: until the socket is closed. Send errors (a full device
	// queue) do not stop it. With UDP GSO (UDP_SEGMENT) one send(2) of
	// 43 segments leaves as 43 MTU-sized packets, so that the sender costs
	// far fewer system calls than the reader it feeds; without it, one
	// datagram per send.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer sock.Close()
	segment := dev.MTU() - ip.HeaderMinLen - 8
	payload := make([]byte, segment)
	if setUDPSegment(sock, segment) == nil {
		payload = make([]byte, 43*segment)
	}
	wg.Go(func() {
		for {
			if _, err := sock.Write(payload); errors.Is(err, net.ErrClosed) {
				return
			}
		}
	})

	buf := make([]byte, dev.MTU())
	if _, err := dev.Read(buf); err != nil { // the first packet starts the clock
		return 0, err
	}
	return packetRate(ctx, d, "reading", func() error { _, err := dev.Read(buf); return err })
}

// setUDPSegment turns UDP GSO on for sock, with segments of size bytes.
func setUDPSegment(sock net.Conn, size int) error {
	uc, ok := sock.(*net.UDPConn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, size)
	}); err != nil {
		return err
	}
	return serr
}

// udpPacket builds an IPv4 packet of size bytes carrying a UDP datagram
// from src to dst, both on udpDiscardPort, with no UDP checksum.
func udpPacket(size int, src, dst netip.Addr) []byte {
	p := make([]byte, size)
	p[0] = 0x45 // version 4, header of 5 words
	binary.BigEndian.PutUint16(p[2:], uint16(size))
	binary.BigEndian.PutUint16(p[6:], 0x4000) // don't fragment
	p[8] = 64                                 // TTL
	p[9] = 17                                 // UDP
	s, d := src.As4(), dst.As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	binary.BigEndian.PutUint16(p[10:], ip.Checksum(p[:ip.HeaderMinLen]))
	u := p[ip.HeaderMinLen:]
	binary.BigEndian.PutUint16(u[0:], udpDiscardPort)
	binary.BigEndian.PutUint16(u[2:], udpDiscardPort)
	binary.BigEndian.PutUint16(u[4:], uint16(size-ip.HeaderMinLen))
	return p
}
