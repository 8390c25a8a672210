//go:build linux

package tun

import (
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
