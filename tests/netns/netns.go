// Package netns gives every end-to-end test of tinytcp a private network
// namespace, so that no packet a test makes ever reaches the host's
// interfaces, and tests can create TUN devices, addresses and routes freely
// and in parallel.
//
// A namespace is created by unshare(2) on a locked OS thread and kept alive
// by a bind mount at /run/netns/NAME (so `ip netns exec NAME ...` works on it
// while the test runs), the same way `ip netns add` does. Its loopback
// interface is brought up; nothing else is configured.
//
// What a namespace is bound to, and what it is not:
//
//   - A network namespace belongs to an OS thread, not to a goroutine. Do
//     locks the calling goroutine to its thread, moves the thread into the
//     namespace, runs fn and moves the thread back.
//   - A socket or a TUN file descriptor belongs to the namespace it was
//     created in, for its whole life: one created inside Do stays in the
//     namespace after Do returns, and may then be used from any goroutine.
//   - A child process started inside Do (exec.Cmd.Start) is forked from the
//     namespace's thread and runs in the namespace; it may be waited for
//     after Do returns.
//   - A goroutine started inside fn does NOT run in the namespace: it is
//     scheduled on other threads, which stay in the host namespace.
//
// Left out: user namespaces (the helpers need real root, or CAP_SYS_ADMIN
// and CAP_NET_ADMIN) and cleaning up namespaces left behind by a killed test
// binary (they are harmless files under /run/netns; `ip netns del` removes
// them).
package netns

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// errNeedRoot explains the one setup failure a developer is likely to meet.
var errNeedRoot = errors.New("end-to-end tests need root (CAP_NET_ADMIN): run them with sudo")

// NS is a network namespace made for one test.
type NS struct {
	name   string          // the name under /run/netns
	handle vnetns.NsHandle // an open fd of the namespace, used by Do
}

// New creates a fresh, named network namespace for the test, brings its
// loopback interface up, and removes the namespace in t.Cleanup. Without the
// privileges to do so it fails the test (it never skips it) with a message
// saying that end-to-end tests need root.
func New(t testing.TB) *NS {
	t.Helper()
	ns, err := create()
	if err != nil {
		t.Fatal(explain(err))
	}
	t.Cleanup(func() {
		if err := ns.remove(); err != nil {
			t.Errorf("netns: removing %s: %v", ns.name, err)
		}
	})
	return ns
}

// explain turns a failure to create a namespace into the message New fails
// the test with.
func explain(err error) string {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Sprintf("%v (%v)", errNeedRoot, err)
	}
	return fmt.Sprintf("netns: creating a network namespace: %v", err)
}

// Name is the namespace's name under /run/netns, for `ip netns exec`.
func (ns *NS) Name() string { return ns.name }

// Do runs fn on an OS thread locked and moved into the namespace, then moves
// the thread back to the namespace it was in and unlocks it. fn runs on the
// calling goroutine, so t.Fatal and require inside fn behave as usual: the
// thread is moved back even when fn exits through runtime.Goexit or panics.
//
// Sockets and TUN devices created inside fn stay in the namespace after Do
// returns, and so does a child process started inside fn. Goroutines started
// inside fn run in the host namespace.
func (ns *NS) Do(fn func() error) (err error) {
	runtime.LockOSThread()
	origin, err := vnetns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: getting the current namespace: %w", err)
	}
	if err := vnetns.Set(ns.handle); err != nil {
		origin.Close()
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: entering %s: %w", ns.name, err)
	}
	defer func() {
		if rerr := vnetns.Set(origin); rerr != nil {
			// The thread is in the wrong namespace for good: keep it locked,
			// so the runtime destroys it when this goroutine ends instead of
			// handing it to other goroutines.
			err = errors.Join(err, fmt.Errorf("netns: leaving %s: %w", ns.name, rerr))
		} else {
			runtime.UnlockOSThread()
		}
		origin.Close()
	}()
	return fn()
}

// create makes the namespace on a thread of its own, which is moved back to
// the original namespace (or destroyed, if that fails) before create returns.
func create() (*NS, error) {
	type result struct {
		ns  *NS
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := createOnThread()
		if err == nil || !errors.Is(err, errThreadLost) {
			runtime.UnlockOSThread()
		}
		done <- result{ns, err}
	}()
	r := <-done
	return r.ns, r.err
}

// errThreadLost means the thread could not be moved back to its namespace.
var errThreadLost = errors.New("netns: thread left in the new namespace")

// createOnThread creates the namespace with unshare(2), which moves the
// locked calling thread into it; sets the namespace up from inside; and moves
// the thread back.
func createOnThread() (*NS, error) {
	origin, err := vnetns.Get()
	if err != nil {
		return nil, err
	}
	defer origin.Close()

	var name string
	var handle vnetns.NsHandle
	for range 10 {
		name = uniqueName()
		handle, err = vnetns.NewNamed(name)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	// NewNamed moves the thread when its unshare succeeds, even if a later
	// step fails; move it back.
	if rerr := Restore(origin); rerr != nil {
		return nil, errors.Join(errThreadLost, rerr, err)
	}
	if err != nil {
		return nil, err
	}
	ns := &NS{name: name, handle: handle}
	if err := ns.Do(bringLoopbackUp); err != nil {
		return nil, errors.Join(err, ns.remove())
	}
	return ns, nil
}

// Restore moves the calling thread back to the namespace origin if it is
// elsewhere; it does nothing (and needs no privilege) when the thread is
// there already, since setns needs CAP_SYS_ADMIN even to stay put.
func Restore(origin vnetns.NsHandle) error {
	current, err := vnetns.Get()
	if err != nil {
		return err
	}
	defer current.Close()
	if current.Equal(origin) {
		return nil
	}
	return vnetns.Set(origin)
}

// uniqueName returns "tinytcp-test-<pid>-<random>": the pid tells whose it
// is, the random part keeps parallel tests apart without a shared counter.
func uniqueName() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux.
	return fmt.Sprintf("tinytcp-test-%d-%08x", os.Getpid(), binary.BigEndian.Uint32(b[:]))
}

// bringLoopbackUp sets lo up in the current namespace, so 127.0.0.1 works.
func bringLoopbackUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns: finding lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netns: setting lo up: %w", err)
	}
	return nil
}

// remove deletes the name and closes the handle. The namespace itself goes
// away once nothing (a socket, a TUN fd, a process) refers to it any more.
func (ns *NS) remove() error {
	return errors.Join(vnetns.DeleteNamed(ns.name), ns.handle.Close())
}
