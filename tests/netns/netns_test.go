package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tinytcp/tun"
)

// threadNS returns the network namespace of the calling OS thread, as the
// "net:[inode]" text of its /proc link. (/proc/self/ns/net would give the
// main thread's, which Do does not move.)
func threadNS(t testing.TB) string {
	t.Helper()
	link, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	return link
}

// hostNS returns the namespace the test binary started in.
func hostNS(t testing.TB) string {
	t.Helper()
	link, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	return link
}

func TestNewMakesNamedNamespaceWithLoopbackUpAndRemovesIt(t *testing.T) {
	var name string
	t.Run("use", func(t *testing.T) {
		ns := New(t)
		name = ns.Name()
		assert.True(t, strings.HasPrefix(name, fmt.Sprintf("tinytcp-test-%d-", os.Getpid())), "got name %q", name)
		assert.FileExists(t, "/run/netns/"+name)

		var inside string
		require.NoError(t, ns.Do(func() error {
			inside = threadNS(t)
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return err
			}
			assert.NotZero(t, lo.Attrs().Flags&net.FlagUp, "lo is down, want up")
			links, err := netlink.LinkList()
			if err != nil {
				return err
			}
			assert.Len(t, links, 1, "a fresh namespace has lo only")
			return nil
		}))
		assert.NotEqual(t, hostNS(t), inside)
	})
	assert.NoFileExists(t, "/run/netns/"+name, "the namespace must be removed in Cleanup")
}

func TestNewNamesAreUnique(t *testing.T) {
	a, b := New(t), New(t)
	assert.NotEqual(t, a.Name(), b.Name())
}

func TestDoRestoresTheThread(t *testing.T) {
	ns := New(t)
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"fn succeeds", func() error { return nil }, nil},
		{"fn fails", func() error { return os.ErrInvalid }, os.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			before := threadNS(t)
			var inside string
			err := ns.Do(func() error {
				inside = threadNS(t)
				return tt.fn()
			})
			assert.ErrorIs(t, err, tt.want)
			assert.NotEqual(t, before, inside, "fn must run in the namespace")
			assert.Equal(t, before, threadNS(t), "Do must move the thread back")
		})
	}
}

func TestDoRestoresTheThreadWhenFnExitsTheGoroutine(t *testing.T) {
	ns := New(t)
	host := hostNS(t)
	after := make(chan string, 1)
	go func() {
		runtime.LockOSThread()
		defer func() {
			// Runs after Do's own deferred restore, on the same thread.
			link, _ := os.Readlink("/proc/thread-self/ns/net")
			after <- link
			runtime.UnlockOSThread()
		}()
		_ = ns.Do(func() error {
			runtime.Goexit() // what t.FailNow does inside fn
			return nil
		})
	}()
	assert.Equal(t, host, <-after)
}

func TestSocketCreatedInsideDoStaysInTheNamespace(t *testing.T) {
	ns := New(t)
	var ln net.Listener
	require.NoError(t, ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}))
	defer ln.Close()

	// The same port is free in the host: the port spaces are separate.
	host, err := net.Listen("tcp", ln.Addr().String())
	require.NoError(t, err, "the port of a listener inside the namespace must be free in the host")
	host.Close()

	// Accepting from a goroutine outside Do still serves the namespace.
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	require.NoError(t, ns.Do(func() error {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	}))
	require.NoError(t, <-accepted)
}

func TestTUNCreatedInsideDoStaysInTheNamespace(t *testing.T) {
	ns := New(t)
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "ttns" + hex.EncodeToString(suffix[:]) // unlikely to exist in the host

	var dev tun.Device
	require.NoError(t, ns.Do(func() error {
		var err error
		dev, err = tun.Open(tun.Config{Name: name})
		return err
	}))
	defer dev.Close()

	_, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	assert.True(t, errors.As(err, &notFound), "got %v in the host, want link not found", err)
	require.NoError(t, ns.Do(func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		assert.NotZero(t, link.Attrs().Flags&net.FlagUp)
		return nil
	}))
}

func TestChildProcessStartedInsideDoRunsInTheNamespace(t *testing.T) {
	ns := New(t)
	var out strings.Builder
	cmd := exec.Command("readlink", "/proc/self/ns/net")
	cmd.Stdout = &out
	var inside string
	require.NoError(t, ns.Do(func() error {
		inside = threadNS(t)
		return cmd.Start()
	}))
	require.NoError(t, cmd.Wait()) // waiting outside Do is fine
	assert.Equal(t, inside, strings.TrimSpace(out.String()))
	assert.NotEqual(t, hostNS(t), inside)
}

func TestExplainSaysEndToEndTestsNeedRoot(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{unix.EPERM, "end-to-end tests need root (CAP_NET_ADMIN)"},
		{fmt.Errorf("mount: %w", unix.EACCES), "end-to-end tests need root (CAP_NET_ADMIN)"},
		{unix.ENOSPC, "netns: creating a network namespace: no space left on device"},
	}
	for _, tt := range tests {
		assert.Contains(t, explain(tt.err), tt.want)
	}
}
