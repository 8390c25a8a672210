// Package e2e tests tinytcp end to end with the Linux kernel as its peer.
// Every test makes its own network namespace (tests/netns) with its own TUN
// device, so no packet leaves the namespace and tests run in parallel.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tinytcp/cmd/demo"
	"tinytcp/tests/netns"
)

// stackURL is where the demo HTTP service answers.
const stackURL = "http://10.77.0.2"

// host is a tinytcp host serving the demo services in a namespace of its
// own.
type host struct {
	ns *netns.NS
	h  *demo.Host
}

// upHost does what `tinytcp up` does, in process, in a fresh namespace.
func upHost(t *testing.T, tune ...func(*demo.HostConfig)) *host {
	t.Helper()
	ns := netns.New(t)
	cfg := demo.HostConfig{}
	for _, f := range tune {
		f(&cfg)
	}
	var h *demo.Host
	require.NoError(t, ns.Do(func() error {
		var err error
		h, err = demo.OpenHost(cfg)
		return err
	}))
	stop, err := demo.Serve(h.Stack, testLogger{t})
	require.NoError(t, err)
	t.Cleanup(func() {
		stop()
		require.NoError(t, h.Close())
	})
	return &host{ns: ns, h: h}
}

type testLogger struct{ t *testing.T }

func (l testLogger) Error(msg string, args ...any) { l.t.Logf("%s %v", msg, args) }

// dial opens a kernel TCP connection from inside the namespace.
func (h *host) dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	require.NoError(t, h.ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 10*time.Second)
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// httpClient is a kernel-side HTTP client whose sockets live in the
// namespace.
func (h *host) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := h.ns.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
	}}
}

// run runs a program inside the namespace and returns its standard output.
func (h *host) run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := h.command(t, name, args...)
	require.NoError(t, err, "%s %v", name, args)
	return out
}

func (h *host) command(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, h.ns.Do(cmd.Start))
	err := cmd.Wait()
	if err != nil {
		err = fmt.Errorf("%w; stderr: %s", err, stderr.String())
	}
	return stdout.Bytes(), err
}

// checkPattern verifies that r yields exactly n bytes with byte i = i mod 251.
func checkPattern(t *testing.T, r io.Reader, n int64) {
	t.Helper()
	buf := make([]byte, 64<<10)
	var off int64
	for {
		k, err := r.Read(buf)
		for i := 0; i < k; i++ {
			if buf[i] != byte((off+int64(i))%251) {
				t.Fatalf("byte %d is %d, want %d", off+int64(i), buf[i], (off+int64(i))%251)
			}
		}
		off += int64(k)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.Equal(t, n, off, "body length")
}
