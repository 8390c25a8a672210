//go:build linux

package tun

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"tinytcp/tests/netns"
)

// The addresses every backend test uses: the kernel side (on the device)
// and the stack side (the far end of the link, played by the test).
var (
	kernelAddr = netip.MustParseAddr("10.77.0.1")
	stackAddr  = netip.MustParseAddr("10.77.0.2")
)

// openInNS opens a device with cfg in ns and closes it in Cleanup.
func openInNS(t *testing.T, ns *netns.NS, cfg Config) Device {
	t.Helper()
	var dev Device
	require.NoError(t, ns.Do(func() error {
		var err error
		dev, err = Open(cfg)
		return err
	}))
	t.Cleanup(func() { dev.Close() })
	return dev
}

// testBackend runs the tests every TUN backend must pass, each in a
// namespace of its own.
func testBackend(t *testing.T, driver string) {
	t.Run("Open configures the link", func(t *testing.T) {
		ns := netns.New(t)
		dev := openInNS(t, ns, Config{Driver: driver, Name: "tt0", MTU: 1400})
		assert.Equal(t, "tt0", dev.Name())
		assert.Equal(t, 1400, dev.MTU())
		require.NoError(t, ns.Do(func() error {
			link, err := netlink.LinkByName("tt0")
			require.NoError(t, err)
			assert.NotZero(t, link.Attrs().Flags&net.FlagUp, "link is down, want up")
			assert.Equal(t, 1400, link.Attrs().MTU)

			v4, err := netlink.AddrList(link, netlink.FAMILY_V4)
			require.NoError(t, err)
			require.Len(t, v4, 1)
			assert.Equal(t, "10.77.0.1/24", v4[0].IPNet.String())

			v6, err := netlink.AddrList(link, netlink.FAMILY_V6)
			require.NoError(t, err)
			assert.Empty(t, v6, "no IPv6 address (link-local included) may be generated")
			assert.Equal(t, "1\n", procValue(t, "/proc/sys/net/ipv6/conf/tt0/addr_gen_mode"),
				"addr_gen_mode: got %s, want 1 (none)")
			return nil
		}))
	})

	t.Run("Read returns what the kernel sends", func(t *testing.T) {
		ns := netns.New(t)
		dev := openInNS(t, ns, Config{Driver: driver})
		payload := []byte("hello from the kernel")
		require.NoError(t, ns.Do(func() error {
			c, err := net.Dial("udp4", "10.77.0.2:9")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(payload)
			return err
		}))
		// The first packet must be ours: no IPv6 chatter may come first.
		p := readTimeout(t, dev, make([]byte, 2048), 5*time.Second)
		require.NotEmpty(t, p)
		assert.Equal(t, byte(4), p[0]>>4, "got IP version %d, want 4", p[0]>>4)
		assert.Equal(t, 20+8+len(payload), len(p))
		assert.Equal(t, stackAddr.AsSlice(), p[16:20], "destination")
		assert.True(t, bytes.HasSuffix(p, payload), "got %x, want payload at the end", p)
	})

	t.Run("Read truncates a packet longer than the buffer", func(t *testing.T) {
		ns := netns.New(t)
		dev := openInNS(t, ns, Config{Driver: driver})
		require.NoError(t, ns.Do(func() error {
			c, err := net.Dial("udp4", "10.77.0.2:9")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(make([]byte, 500))
			return err
		}))
		p := readTimeout(t, dev, make([]byte, 100), 5*time.Second)
		assert.Len(t, p, 100)
	})

	t.Run("Write delivers to a kernel socket", func(t *testing.T) {
		ns := netns.New(t)
		dev := openInNS(t, ns, Config{Driver: driver})
		var conn *net.UDPConn
		require.NoError(t, ns.Do(func() error {
			var err error
			conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: kernelAddr.AsSlice(), Port: 5000})
			return err
		}))
		defer conn.Close()

		payload := []byte("hello from the stack")
		pkt := udpPacket(netip.AddrPortFrom(stackAddr, 4000), netip.AddrPortFrom(kernelAddr, 5000), payload)
		n, err := dev.Write(pkt)
		require.NoError(t, err)
		assert.Equal(t, len(pkt), n)

		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		buf := make([]byte, 100)
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		require.NoError(t, err)
		assert.Equal(t, payload, buf[:n])
		assert.Equal(t, netip.AddrPortFrom(stackAddr, 4000), from)
	})

	t.Run("ping round trip", func(t *testing.T) {
		ns := netns.New(t)
		dev := openInNS(t, ns, Config{Driver: driver})
		buf := make([]byte, 2048)
		for seq := range uint16(3) {
			_, err := dev.Write(icmpEcho(stackAddr, kernelAddr, 7, seq, []byte("ping")))
			require.NoError(t, err)
			p := readTimeout(t, dev, buf, 5*time.Second)
			require.Len(t, p, 20+8+4)
			assert.Equal(t, byte(0), p[20], "got ICMP type %d, want 0 (echo reply)", p[20])
			assert.Equal(t, []byte{0, 7, 0, byte(seq)}, p[24:28], "id and sequence")
		}
	})

	t.Run("Read and Write do not allocate", func(t *testing.T) {
		ns := netns.New(t)
		dev := openInNS(t, ns, Config{Driver: driver})
		ping := icmpEcho(stackAddr, kernelAddr, 9, 1, []byte("no allocations"))
		buf := make([]byte, 2048)
		var err error
		allocs := testing.AllocsPerRun(50, func() {
			// No readTimeout guard here: its goroutine and timer would be
			// counted. The kernel answers a ping at once.
			if _, err = dev.Write(ping); err == nil {
				_, err = dev.Read(buf)
			}
		})
		require.NoError(t, err)
		assert.Zero(t, allocs, "allocations per ping round trip")
		assert.Equal(t, byte(0), buf[20], "the packet read is the echo reply")
	})

	t.Run("Close unblocks a pending Read and removes the interface", func(t *testing.T) {
		ns := netns.New(t)
		dev := openInNS(t, ns, Config{Driver: driver, Name: "tt0"})
		readErr := make(chan error, 1)
		go func() {
			_, err := dev.Read(make([]byte, 2048))
			readErr <- err
		}()
		require.NoError(t, dev.Close())
		select {
		case err := <-readErr:
			assert.ErrorIs(t, err, ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Read still blocked 5s after Close")
		}

		_, err := dev.Read(make([]byte, 10))
		assert.ErrorIs(t, err, ErrClosed, "Read after Close")
		_, err = dev.Write(icmpEcho(stackAddr, kernelAddr, 1, 1, nil))
		assert.ErrorIs(t, err, ErrClosed, "Write after Close")
		assert.ErrorIs(t, dev.Close(), ErrClosed, "second Close")

		require.NoError(t, ns.Do(func() error {
			_, err := netlink.LinkByName("tt0")
			var notFound netlink.LinkNotFoundError
			assert.True(t, errors.As(err, &notFound), "got %v, want the interface gone", err)
			return nil
		}))
	})
}
