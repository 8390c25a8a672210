//go:build linux

package tun

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tinytcp/tests/netns"
)

func TestWireguard(t *testing.T) {
	testBackend(t, DriverWireguard)
}

func TestWireguardIsOnePacketPerCall(t *testing.T) {
	ns := netns.New(t)
	dev := openInNS(t, ns, Config{Name: "tt0"})
	wg, ok := dev.(*wireguardDevice)
	require.True(t, ok, "got %T, want the wireguard backend by default", dev)
	assert.Equal(t, 1, wg.dev.BatchSize(), "batch size: offloads must be off")

	// The kernel's view of the fd: a TUN without packet info and without
	// the virtio-net header that carries offloads.
	raw, err := wg.dev.File().SyscallConn()
	require.NoError(t, err)
	var flags uint16
	require.NoError(t, raw.Control(func(fd uintptr) {
		ifr, ierr := unix.NewIfreq("tt0")
		if ierr == nil {
			ierr = unix.IoctlIfreq(int(fd), unix.TUNGETIFF, ifr)
		}
		require.NoError(t, ierr)
		flags = ifr.Uint16()
	}))
	assert.NotZero(t, flags&unix.IFF_TUN, "IFF_TUN")
	assert.NotZero(t, flags&unix.IFF_NO_PI, "IFF_NO_PI")
	assert.Zero(t, flags&unix.IFF_VNET_HDR, "IFF_VNET_HDR must be off")
	assert.Zero(t, flags&unix.IFF_PERSIST, "IFF_PERSIST must be off, so the device dies with the process")
}

// TestWireguardTryRead: TryRead returns at once with nothing queued, and
// takes the packets the kernel queued without waiting.
func TestWireguardTryRead(t *testing.T) {
	ns := netns.New(t)
	dev := openInNS(t, ns, Config{Name: "tt0"})
	tr, ok := dev.(TryReader)
	require.True(t, ok)
	buf := make([]byte, 2000)
	_, ok, err := tr.TryRead(buf)
	require.NoError(t, err)
	assert.False(t, ok, "nothing is queued yet")

	require.NoError(t, ns.Do(func() error {
		c, err := net.Dial("udp4", "10.77.0.2:9")
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < 3; i++ {
			if _, err := c.Write(numbered(i, 10)); err != nil {
				return err
			}
		}
		return nil
	}))
	// The first read waits (the kernel may still be routing); the writes
	// above have returned, so the other two are queued behind it. Other
	// packets the kernel sends on a new link (none here with IPv6 off) are
	// skipped by number.
	got := map[int]bool{}
	n, err := dev.Read(buf)
	require.NoError(t, err)
	got[number(buf[28:n])] = true
	for {
		n, ok, err := tr.TryRead(buf)
		require.NoError(t, err)
		if !ok {
			break
		}
		got[number(buf[28:n])] = true
	}
	assert.Equal(t, map[int]bool{0: true, 1: true, 2: true}, got)
}
