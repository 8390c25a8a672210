//go:build linux

package tun

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tinytcp/tests/netns"
)

// linkExists reports whether the calling thread's namespace has interface name.
func linkExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return false
	}
	require.NoError(t, err)
	return true
}

func TestOpenRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown driver", Config{Driver: "tap"}, `unknown TUN driver "tap": use one of ["wireguard" "water" "offload"]`},
		{"name too long", Config{Name: "abcdefghijklmnop"}, `invalid interface name "abcdefghijklmnop": at most 15 characters, no '/', ':' or spaces`},
		{"name with slash", Config{Name: "a/b"}, `invalid interface name "a/b"`},
		{"IPv6 peer", Config{Peer: netip.MustParsePrefix("fd00::1/64")}, "peer fd00::1/64 is not an IPv4 address"},
		{"no prefix length", Config{Peer: netip.MustParsePrefix("10.77.0.1/0")}, "peer 10.77.0.1/0 is not an IPv4 address with a prefix length"},
		{"multicast peer", Config{Peer: netip.MustParsePrefix("224.0.0.1/24")}, "peer 224.0.0.1/24 is not a unicast address"},
		{"loopback peer", Config{Peer: netip.MustParsePrefix("127.0.0.2/8")}, "is not a unicast address"},
		{"MTU too small", Config{MTU: 67}, "MTU 67 out of range: IPv4 needs 68 to 65535"},
		{"MTU too large", Config{MTU: 65536}, "MTU 65536 out of range"},
	}
	// Rejected before anything is created; still inside a namespace, so
	// that a broken check could not create anything in the host.
	ns := netns.New(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, ns.Do(func() error {
				dev, err := Open(tt.cfg)
				if err == nil {
					dev.Close()
				}
				assert.ErrorIs(t, err, ErrInvalidConfig)
				assert.ErrorContains(t, err, tt.want)
				return nil
			}))
		})
	}
}

func TestOpenRejectsClashes(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T) // runs inside the namespace
		cfg     Config             // the Open that must fail
		want    error              // sentinel
		message string             // the whole error text
	}{
		{
			name:    "name taken by a TUN",
			setup:   func(t *testing.T) { openHere(t, Config{Name: "tinytcp0"}) },
			cfg:     Config{Name: "tinytcp0", Peer: netip.MustParsePrefix("10.88.0.1/24")},
			want:    ErrNameTaken,
			message: "interface tinytcp0 already exists: choose another name with --dev or remove it",
		},
		{
			name:    "name taken by loopback",
			setup:   func(t *testing.T) {},
			cfg:     Config{Name: "lo"},
			want:    ErrNameTaken,
			message: "interface lo already exists: choose another name with --dev or remove it",
		},
		{
			name:    "address assigned",
			setup:   func(t *testing.T) { openHere(t, Config{Name: "eth0"}) },
			cfg:     Config{Name: "tinytcp0"},
			want:    ErrAddressInUse,
			message: "10.77.0.1 is already assigned to eth0: choose another prefix with --peer",
		},
		{
			name:    "prefix overlaps an address",
			setup:   func(t *testing.T) { openHere(t, Config{Name: "eth0", Peer: netip.MustParsePrefix("10.77.5.5/16")}) },
			cfg:     Config{Name: "tinytcp0"},
			want:    ErrAddressInUse,
			message: "10.77.0.0/24 overlaps 10.77.5.5/16 on eth0: choose another prefix with --peer",
		},
		{
			name: "prefix overlaps a route",
			setup: func(t *testing.T) {
				openHere(t, Config{Name: "eth0", Peer: netip.MustParsePrefix("10.1.0.1/24")})
				link, err := netlink.LinkByName("eth0")
				require.NoError(t, err)
				_, dst, _ := net.ParseCIDR("10.77.0.0/16")
				require.NoError(t, netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst}))
			},
			cfg:     Config{Name: "tinytcp0"},
			want:    ErrAddressInUse,
			message: "10.77.0.0/24 overlaps the route to 10.77.0.0/16 on eth0: choose another prefix with --peer",
		},
	}
	for _, tt := range tests {
		for _, driver := range []string{DriverWireguard, DriverWater} {
			t.Run(tt.name+"/"+driver, func(t *testing.T) {
				ns := netns.New(t)
				require.NoError(t, ns.Do(func() error {
					tt.setup(t)
					before, err := netlink.LinkList()
					require.NoError(t, err)

					cfg := tt.cfg
					cfg.Driver = driver
					dev, err := Open(cfg)
					if err == nil {
						dev.Close()
					}
					assert.ErrorIs(t, err, tt.want)
					assert.EqualError(t, err, tt.message)

					after, err := netlink.LinkList()
					require.NoError(t, err)
					assert.Len(t, after, len(before), "a failed Open must leave no interface behind")
					return nil
				}))
			})
		}
	}
}

// openHere opens a device in the calling thread's namespace (the test is
// inside ns.Do) and closes it in Cleanup.
func openHere(t *testing.T, cfg Config) {
	t.Helper()
	dev, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
}

func TestOpenFailingAfterCreationLeavesNothingBehind(t *testing.T) {
	for _, driver := range []string{DriverWireguard, DriverWater} {
		t.Run(driver, func(t *testing.T) {
			ns := netns.New(t)
			injected := errors.New("injected failure")
			require.NoError(t, ns.Do(func() error {
				var existed bool
				_, err := open(Config{Driver: driver, Name: "tt0"}, openOptions{
					afterCreate: func(name string) error {
						existed = linkExists(t, name)
						return injected
					},
				})
				assert.ErrorIs(t, err, injected)
				assert.True(t, existed, "the interface must exist before the failure")
				assert.False(t, linkExists(t, "tt0"), "the interface must be gone after the failure")
				return nil
			}))
		})
	}
}

func TestCreateTUNRefusesAnExistingName(t *testing.T) {
	// Open's preflight check would catch the name first; this is the
	// kernel's own check (IFF_TUN_EXCL) that closes the race after it.
	ns := netns.New(t)
	require.NoError(t, ns.Do(func() error {
		openHere(t, Config{Name: "tt0"})
		fd, err := createTUN(tunCloneDevice, "tt0")
		if err == nil {
			unix.Close(fd)
		}
		assert.ErrorIs(t, err, ErrNameTaken)
		assert.ErrorIs(t, err, unix.EBUSY)
		return nil
	}))
}

func TestOpenWithoutTunDevice(t *testing.T) {
	ns := netns.New(t)
	require.NoError(t, ns.Do(func() error {
		_, err := open(Config{}, openOptions{tunPath: "/nonexistent/net/tun"})
		assert.ErrorIs(t, err, ErrNoTunDevice)
		assert.ErrorIs(t, err, unix.ENOENT)
		assert.EqualError(t, err, "/nonexistent/net/tun is missing: load the tun module (modprobe tun)")
		return nil
	}))
	assert.Equal(t, "/dev/net/tun is missing: load the tun module (modprobe tun)",
		classifyOpenError(tunCloneDevice, unix.ENOENT).Error())
}

func TestOpenWithoutCapNetAdmin(t *testing.T) {
	for _, driver := range []string{DriverWireguard, DriverWater} {
		t.Run(driver, func(t *testing.T) {
			ns := netns.New(t)
			handle, err := vnetns.GetFromName(ns.Name())
			require.NoError(t, err)
			defer handle.Close()

			// Capabilities belong to a thread. This one enters the
			// namespace, drops CAP_NET_ADMIN and is never unlocked, so the
			// runtime destroys it when the goroutine ends.
			done := make(chan error, 1)
			go func() {
				runtime.LockOSThread()
				if err := vnetns.Set(handle); err != nil {
					done <- err
					return
				}
				if err := dropCapability(unix.CAP_NET_ADMIN); err != nil {
					done <- err
					return
				}
				dev, err := Open(Config{Driver: driver})
				if err == nil {
					dev.Close()
				}
				done <- err
			}()
			err = <-done
			assert.ErrorIs(t, err, ErrPermission)
			assert.ErrorIs(t, err, unix.EPERM)
			assert.EqualError(t, err, "creating a TUN device needs root or CAP_NET_ADMIN: run with sudo")
		})
	}
}

// dropCapability removes c from the calling thread's effective set.
func dropCapability(c int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[c/32].Effective &^= 1 << (c % 32)
	return unix.Capset(&hdr, &data[0])
}

func TestIPv6StaysSilent(t *testing.T) {
	// Control: a TUN brought up without Open's setup gets an IPv6
	// link-local address at once, and sends router solicitations from it
	// about a second later. Open's device must get no address at all.
	tests := []struct {
		name     string
		open     func() (Device, error)
		wantIPv6 bool
	}{
		{"bare TUN set up", func() (Device, error) {
			dev, err := openWireguard(tunCloneDevice, "tt0", 1500)
			if err != nil {
				return nil, err
			}
			link, err := netlink.LinkByName("tt0")
			if err == nil {
				err = netlink.LinkSetUp(link)
			}
			return dev, err
		}, true},
		{"Open", func() (Device, error) { return Open(Config{Name: "tt0"}) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := netns.New(t)
			require.NoError(t, ns.Do(func() error {
				dev, err := tt.open()
				require.NoError(t, err)
				defer dev.Close()
				link, err := netlink.LinkByName("tt0")
				require.NoError(t, err)
				v6, err := netlink.AddrList(link, netlink.FAMILY_V6)
				require.NoError(t, err)
				assert.Equal(t, tt.wantIPv6, len(v6) > 0, "IPv6 addresses: %v", v6)
				return nil
			}))
		})
	}
}
