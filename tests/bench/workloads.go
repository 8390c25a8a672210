package bench

// The workloads of `make bench`. Each is a function from a running server
// (Env) to figures (Outcome); the kernel's TCP in the server's namespace
// is always the client. This file holds the list, the bulk transfers and
// the request/response ping-pong; workloads_conn.go the connection
// workloads and HTTP.
//
//   - download: the stack sends Bulk bytes of the i mod 251 pattern, the
//     kernel reads and checks every byte (download.go's serve and fetch);
//   - upload: the kernel sends the pattern, the stack reads and checks
//     every byte, then closes;
//   - "x4": the same over 4 connections at once, Bulk/4 bytes each, so the
//     total is the same;
//   - rr: one byte each way, the kernel's write to the kernel's read of
//     the echo timed for every exchange, for RRTime.
//
// The clock of a bulk transfer runs from the kernel's connect to the end
// of the last stream, so handshakes are part of the time.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"tinytcp/cmd/demo"
	"tinytcp/tests/netns"
)

// PerfConfig sizes the workloads.
type PerfConfig struct {
	Bulk        int64         // bytes per bulk workload, split over its connections
	Parallel    int           // connections of the "x4" workloads
	RRTime      time.Duration // how long the request/response workload runs
	Conns       int           // connections the connection-rate workload opens and closes
	ConnWorkers int           // kernel threads opening them at once
	Idle        int           // connections the idle workload holds open
	HTTP        int64         // bytes of the HTTP download
}

// Env is a running server for one workload run: the stack, its
// namespace, where the kernel client runs too, and the run's deadline.
type Env struct {
	Stack    StackName
	NS       *netns.NS
	Server   Server
	Deadline time.Time
	Config   PerfConfig
	wg       sync.WaitGroup
}

// Go runs f on a goroutine that the harness waits for once it has closed
// the server, so that no goroutine outlives its run.
func (e *Env) Go(f func()) {
	e.wg.Add(1)
	go func() { defer e.wg.Done(); f() }()
}

// wait waits at most d for the goroutines started with Go.
func (e *Env) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// dial connects a kernel socket in the namespace to the stack's port.
func (e *Env) dial(ctx context.Context, port uint16) (net.Conn, error) {
	var c net.Conn
	err := e.NS.Do(func() error {
		var err error
		c, err = (&net.Dialer{Deadline: e.Deadline}).DialContext(ctx, "tcp4", fmt.Sprintf("%s:%d", demo.DefaultAddr, port))
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(e.Deadline); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Workload is one measurement, run on a fresh server every time.
type Workload struct {
	Name string
	Run  func(ctx context.Context, e *Env) Outcome
}

// The workloads' names, in table order.
const (
	wlDownload   = "download"
	wlDownload4  = "download x4"
	wlUpload     = "upload"
	wlUpload4    = "upload x4"
	wlRR         = "rr 1 byte"
	wlConnect    = "connect+close"
	wlIdle       = "idle connections"
	wlHTTPClient = "http curl"
)

// Workloads lists the workloads in table order.
func Workloads() []Workload {
	return []Workload{
		{wlDownload, func(ctx context.Context, e *Env) Outcome { return bulkDownload(ctx, e, 1) }},
		{wlDownload4, func(ctx context.Context, e *Env) Outcome { return bulkDownload(ctx, e, e.Config.Parallel) }},
		{wlUpload, func(ctx context.Context, e *Env) Outcome { return bulkUpload(ctx, e, 1) }},
		{wlUpload4, func(ctx context.Context, e *Env) Outcome { return bulkUpload(ctx, e, e.Config.Parallel) }},
		{wlRR, requestResponse},
		{wlConnect, connectRate},
		{wlIdle, idleConnections},
		{wlHTTPClient, httpCurl},
	}
}

// classify turns a failure of a workload into an Outcome: running out of
// the budget makes the figures partial, anything else is an error.
func classify(ctx context.Context, out Outcome, err error) Outcome {
	var ne net.Error
	switch {
	case err == nil:
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		out.Partial = true
	default:
		out.Err = err
	}
	return out
}

// goodput is a bulk workload's figure.
func goodput(bytes int64, elapsed time.Duration) []Figure {
	if elapsed <= 0 {
		return nil
	}
	return []Figure{{Name: "goodput", Unit: "MB/s", Value: float64(bytes) / elapsed.Seconds() / 1e6}}
}

// bulkDownload: the stack serves Bulk/n bytes on each of n connections,
// the kernel reads and checks them.
func bulkDownload(ctx context.Context, e *Env, n int) Outcome {
	return bulk(ctx, e, n, "every stream",
		func(l net.Listener, size int64) error { return serve(ctx, e.Server, l, size, e.Deadline).err },
		func(size int64) (int64, error) { return fetch(ctx, e.NS, size, e.Deadline) })
}

// bulkUpload: the kernel sends Bulk/n bytes of the pattern on each of n
// connections; the stack reads and checks them, then closes. The clock
// stops when the kernel has read the stack's FIN on every connection.
func bulkUpload(ctx context.Context, e *Env, n int) Outcome {
	return bulk(ctx, e, n, "every FIN",
		func(l net.Listener, size int64) error { return sink(ctx, l, size, e.Deadline) },
		func(size int64) (int64, error) { return push(ctx, e, size) })
}

// bulk runs a bulk workload over n connections: n server goroutines
// (server, each accepting one connection on the stack's listener) and n
// kernel clients at once (client), each moving Bulk/n bytes. The clock
// runs from the first client's start to the last client's end; then every
// server must report within 10 s, or the run fails saying the stack was
// still busy after the client had what it waited for (done).
func bulk(ctx context.Context, e *Env, n int, done string,
	server func(l net.Listener, size int64) error, client func(size int64) (int64, error)) Outcome {
	l, err := e.Server.Listen(Port)
	if err != nil {
		return Outcome{Err: err}
	}
	defer l.Close()
	size := e.Config.Bulk / int64(n)
	served := make(chan error, n)
	for range n {
		e.Go(func() { served <- server(l, size) })
	}

	start := time.Now()
	moved := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { moved[i], errs[i] = client(size) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total int64
	for _, b := range moved {
		total += b
	}
	out := classify(ctx, Outcome{Figures: goodput(total, elapsed), Elapsed: elapsed}, errors.Join(errs...))
	l.Close()
	for range n {
		select {
		case err := <-served:
			if err != nil && out.finished() {
				out.Err = fmt.Errorf("%s server: %w", e.Stack, err)
			}
		case <-time.After(10 * time.Second):
			if out.finished() {
				out.Err = fmt.Errorf("%s server: still busy 10 s after the client had %s", e.Stack, done)
			}
			return out
		}
	}
	return out
}

// sink accepts one connection, reads it to its end checking every byte
// against the pattern and the length against size, and closes it.
func sink(ctx context.Context, l net.Listener, size int64, deadline time.Time) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	stop, err := guard(ctx, c, deadline)
	if err != nil {
		return err
	}
	defer stop()
	if _, err := readPattern(c, size); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}

// push connects, writes size bytes of the pattern, closes its sending
// side and waits for the stack's FIN. It returns the bytes written.
func push(ctx context.Context, e *Env, size int64) (int64, error) {
	c, err := e.dial(ctx, Port)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop, _ := guard(ctx, c, time.Time{})
	defer stop()
	var off int64
	for off < size {
		k, err := c.Write(pattern[off%251:][:min(chunk, size-off)])
		off += int64(k)
		if err != nil {
			return off, fmt.Errorf("wrote %d of %d bytes: %w", off, size, err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return off, err
	}
	if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
		return off, fmt.Errorf("waiting for the stack's FIN: %d bytes, %v", n, err)
	}
	return off, nil
}

// rrPort is the port of the request/response echo.
const rrPort = 5002

// requestResponse: the kernel writes one byte, the stack echoes it, the
// kernel reads it; one exchange at a time for RRTime, each timed.
func requestResponse(ctx context.Context, e *Env) Outcome {
	l, err := e.Server.Listen(rrPort)
	if err != nil {
		return Outcome{Err: err}
	}
	defer l.Close()
	echoed := make(chan error, 1)
	e.Go(func() { echoed <- echoBytes(ctx, l, e.Deadline) })

	c, err := e.dial(ctx, rrPort)
	if err != nil {
		return Outcome{Err: err}
	}
	stop, _ := guard(ctx, c, time.Time{})
	defer stop()
	lat := make([]time.Duration, 0, 1<<16)
	b := []byte{'x'}
	start := time.Now()
	end := start.Add(e.Config.RRTime)
	for err == nil {
		t0 := time.Now()
		if t0.After(end) {
			break
		}
		if _, err = c.Write(b); err == nil {
			_, err = io.ReadFull(c, b)
		}
		if err == nil {
			lat = append(lat, time.Since(t0))
		}
	}
	elapsed := time.Since(start)
	c.Close()
	out := classify(ctx, Outcome{Figures: rrFigures(lat, elapsed), Elapsed: elapsed}, err)
	select {
	case err := <-echoed:
		if err != nil && out.finished() {
			out.Err = fmt.Errorf("%s server: %w", e.Stack, err)
		}
	case <-time.After(10 * time.Second):
		if out.finished() {
			out.Err = fmt.Errorf("%s server: still busy 10 s after the client closed", e.Stack)
		}
	}
	return out
}

// rrFigures are the exchange rate and the latency percentiles.
func rrFigures(lat []time.Duration, elapsed time.Duration) []Figure {
	if len(lat) == 0 || elapsed <= 0 {
		return nil
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Microsecond)
	}
	return []Figure{
		{Name: "exchanges", Unit: "1/s", Value: float64(len(lat)) / elapsed.Seconds()},
		{Name: "p50 latency", Unit: "µs", Value: pct(0.50), Lower: true},
		{Name: "p99 latency", Unit: "µs", Value: pct(0.99), Lower: true},
	}
}

// echoBytes accepts one connection and sends back what it reads, one read
// at a time, until the peer closes.
func echoBytes(ctx context.Context, l net.Listener, deadline time.Time) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	stop, err := guard(ctx, c, deadline)
	if err != nil {
		return err
	}
	defer stop()
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
