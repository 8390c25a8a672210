package bench

// One download: a fresh TUN device in the caller's namespace, the
// impairment layer on it, the stack under test serving the i mod 251
// pattern, and a kernel socket reading and checking every byte. The clock
// runs from the kernel's connect to the end of the stream (the stack's
// FIN), so the handshake is part of the time, as it is for any download.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"tinytcp/cmd/demo"
	"tinytcp/tests/netns"
	"tinytcp/tun"
)

// Port is where the stack under test serves the download.
const Port = 5001

// devName is the TUN device of every run, alone in its namespace.
const devName = "bench0"

// chunk is how much the server writes and the client reads per call.
const chunk = 256 << 10

// pattern is the stream's bytes: byte i is i mod 251. Any chunk of the
// stream starting at offset off is pattern[off%251:][:k] for k <= chunk.
var pattern = func() []byte {
	p := make([]byte, chunk+251)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}()

// ErrCorrupt means the client read a byte that is not the pattern's: the
// stack under test delivered a corrupted stream.
var ErrCorrupt = errors.New("bench: corrupted download")

// Run says what one download does.
type Run struct {
	Stack  StackName
	Link   tun.ImpairConfig // Seed included
	Size   int64            // bytes to download
	Budget time.Duration    // longest the download may take
	Opts   Options
}

// Result is the outcome of one download.
type Result struct {
	Run         Run
	Bytes       int64         // bytes the client read, all of them checked
	Elapsed     time.Duration // from connect to the end of the stream, or to the failure
	TimedOut    bool          // the budget ran out first
	Interrupted bool          // ctx was cancelled first
	Err         error         // any other failure: setup, reset, a short or corrupted stream
	Counts      Counts        // the server's repairs
	Link        tun.ImpairStats
}

// OK reports whether the whole stream arrived intact in time.
func (r Result) OK() bool { return !r.TimedOut && !r.Interrupted && r.Err == nil }

// Goodput is the rate of checked bytes in MB/s (10^6 bytes per second).
func (r Result) Goodput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.Elapsed.Seconds() / 1e6
}

// Download runs one download in ns: it creates the TUN device there, starts
// the stack on the impaired device, downloads r.Size bytes to a kernel
// socket in ns, and removes the device. It gives up when r.Budget has
// passed or ctx is done, and says which.
func Download(ctx context.Context, ns *netns.NS, r Run) (res Result) {
	res.Run = r
	var dev tun.Device
	if err := ns.Do(func() error {
		var err error
		dev, err = tun.Open(tun.Config{Name: devName, Peer: demo.DefaultPeer})
		return err
	}); err != nil {
		res.Err = err
		return res
	}
	link := tun.NewImpair(dev, r.Link)
	srv, err := StartServer(r.Stack, link, r.Opts) // owns link from now on
	if err != nil {
		res.Err = err
		return res
	}
	defer func() {
		res.Link = link.Stats()
		if err := srv.Close(); err != nil && !errors.Is(err, tun.ErrClosed) && res.Err == nil {
			res.Err = fmt.Errorf("closing %s: %w", r.Stack, err)
		}
	}()
	l, err := srv.Listen(Port)
	if err != nil {
		res.Err = err
		return res
	}
	defer l.Close()

	deadline := time.Now().Add(r.Budget)
	served := make(chan serveResult, 1)
	go func() { served <- serve(ctx, srv, l, r.Size, deadline) }()

	start := time.Now()
	res.Bytes, err = fetch(ctx, ns, r.Size, deadline)
	res.Elapsed = time.Since(start)
	l.Close() // one connection is all: a server still in Accept gives up
	var ne net.Error
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.Interrupted = true
	case errors.As(err, &ne) && ne.Timeout():
		res.TimedOut = true
	default:
		res.Err = err
	}

	// The client has closed its end: the server sees EOF and reports
	// unless it is stuck, in which case closing the listener and the
	// stack (deferred) ends it.
	select {
	case s := <-served:
		res.Counts = s.counts
		if s.err != nil && res.OK() {
			res.Err = fmt.Errorf("%s server: %w", r.Stack, s.err)
		}
	case <-time.After(10 * time.Second):
		if res.OK() {
			res.Err = fmt.Errorf("%s server: still busy 10 s after the client had the whole stream", r.Stack)
		}
	}
	return res
}

// serveResult is what the server goroutine reports.
type serveResult struct {
	counts Counts
	err    error
}

// serve accepts one connection, writes size bytes of the pattern, closes
// its sending side, waits for the client to close, and returns the
// connection's repairs. It gives up at the deadline or when ctx is done.
func serve(ctx context.Context, srv Server, l net.Listener, size int64, deadline time.Time) serveResult {
	c, err := l.Accept()
	if err != nil {
		return serveResult{err: err}
	}
	defer c.Close()
	stop, err := guard(ctx, c, deadline)
	if err != nil {
		return serveResult{err: err}
	}
	defer stop()
	for off := int64(0); off < size; {
		k, err := c.Write(pattern[off%251:][:min(chunk, size-off)])
		off += int64(k)
		if err != nil {
			return serveResult{counts: srv.Counts(c), err: fmt.Errorf("wrote %d of %d bytes: %w", off, size, err)}
		}
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return serveResult{err: fmt.Errorf("%T has no CloseWrite", c)}
	}
	if err := cw.CloseWrite(); err != nil {
		return serveResult{counts: srv.Counts(c), err: err}
	}
	_, err = io.Copy(io.Discard, c) // until the client's FIN
	return serveResult{counts: srv.Counts(c), err: err}
}

// fetch connects from the kernel side of ns to the stack, reads to the end
// of the stream and checks every byte against the pattern and the length
// against size. It returns how many bytes it read and checked.
func fetch(ctx context.Context, ns *netns.NS, size int64, deadline time.Time) (int64, error) {
	var c net.Conn
	if err := ns.Do(func() error {
		var err error
		c, err = (&net.Dialer{Deadline: deadline}).DialContext(ctx, "tcp4", fmt.Sprintf("%s:%d", demo.DefaultAddr, Port))
		return err
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	stop, err := guard(ctx, c, deadline)
	if err != nil {
		return 0, err
	}
	defer stop()
	return readPattern(c, size)
}

// readPattern reads c to its end, checking every byte against the pattern
// and the length against size, and returns how many bytes it read and
// checked. A wrong byte or too many bytes is ErrCorrupt.
func readPattern(c net.Conn, size int64) (int64, error) {
	buf := make([]byte, chunk)
	var off int64
	for {
		k, err := c.Read(buf)
		if want := pattern[off%251:][:k]; !bytes.Equal(buf[:k], want) {
			i := firstDiff(buf[:k], want)
			return off + int64(i), fmt.Errorf("%w: byte %d is %d, want %d", ErrCorrupt, off+int64(i), buf[i], want[i])
		}
		off += int64(k)
		if off > size {
			return off, fmt.Errorf("%w: %d bytes, more than the %d sent", ErrCorrupt, off, size)
		}
		if errors.Is(err, io.EOF) {
			if off != size {
				return off, fmt.Errorf("stream ended after %d of %d bytes", off, size)
			}
			return off, nil
		}
		if err != nil {
			return off, fmt.Errorf("read %d of %d bytes: %w", off, size, err)
		}
	}
}

// guard gives c the run's deadline (none if zero) and ends it at once
// when ctx is done (an interrupt). The caller defers the returned stop.
func guard(ctx context.Context, c net.Conn, deadline time.Time) (stop func() bool, err error) {
	if !deadline.IsZero() {
		if err := c.SetDeadline(deadline); err != nil {
			return func() bool { return false }, err
		}
	}
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) }), nil //nolint:errcheck // best effort on interrupt
}

// firstDiff returns the first index where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
