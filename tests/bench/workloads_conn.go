package bench

// The connection workloads and HTTP:
//
//   - connect+close: ConnWorkers kernel threads open Conns connections
//     between them, one after another each; the stack accepts each and
//     closes it at once; the kernel reads the stack's FIN and closes too.
//     The stack closes first, so TIME-WAIT is on the stack's side, as on a
//     server that closes its connections; the kernel's side ends in
//     LAST-ACK and CLOSED and keeps no port. The namespace's ephemeral
//     port range is widened to 1024-65535 all the same, so that
//     ephemeral ports never run out whatever Conns is.
//   - idle connections: see idle.go.
//   - http curl: curl, run in the namespace, fetches /bytes?n=HTTP from
//     demo.NewHTTPServer (the handler of `tinytcp up`) served by net/http
//     on the stack's listener, and reports its own speed_download.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tinytcp/cmd/demo"
)

// connPort is the port of the connection workloads.
const connPort = 5003

// connectRate: Conns connections opened and closed, ConnWorkers at a time.
func connectRate(ctx context.Context, e *Env) Outcome {
	if err := setSysctl(e.NS, "net/ipv4/ip_local_port_range", "1024 65535"); err != nil {
		return Outcome{Err: err}
	}
	l, err := e.Server.Listen(connPort)
	if err != nil {
		return Outcome{Err: err}
	}
	defer l.Close()
	e.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})

	var next, done atomic.Int64
	errs := make([]error, e.Config.ConnWorkers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range e.Config.ConnWorkers {
		wg.Go(func() {
			// One thread in the namespace for all of this worker's
			// connections: no namespace switch per connect.
			errs[w] = e.NS.Do(func() error {
				d := net.Dialer{Deadline: e.Deadline}
				addr := fmt.Sprintf("%s:%d", demo.DefaultAddr, connPort)
				var one [1]byte
				for next.Add(1) <= int64(e.Config.Conns) {
					c, err := d.DialContext(ctx, "tcp4", addr)
					if err != nil {
						return err
					}
					c.SetDeadline(e.Deadline) //nolint:errcheck // a TCPConn's deadline cannot fail
					_, err = c.Read(one[:])
					c.Close()
					if !errors.Is(err, io.EOF) {
						return fmt.Errorf("waiting for the stack's FIN: %v", err)
					}
					done.Add(1)
				}
				return nil
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	out := Outcome{Elapsed: elapsed, Figures: []Figure{{Name: "connections", Unit: "1/s", Value: float64(done.Load()) / elapsed.Seconds()}}}
	return classify(ctx, out, errors.Join(errs...))
}

// httpCurl: curl in the namespace downloads HTTP bytes from net/http on
// the stack.
func httpCurl(ctx context.Context, e *Env) Outcome {
	l, err := e.Server.Listen(demo.PortHTTP)
	if err != nil {
		return Outcome{Err: err}
	}
	hs := demo.NewHTTPServer()
	e.Go(func() { hs.Serve(l) }) //nolint:errcheck // ends with Close below
	defer hs.Close()

	budget := max(1, int(time.Until(e.Deadline).Seconds()))
	url := fmt.Sprintf("http://%s/bytes?n=%d", demo.DefaultAddr, e.Config.HTTP)
	cmd := exec.CommandContext(ctx, "curl", "-sS", "-o", "/dev/null", "--max-time", strconv.Itoa(budget),
		"-w", "%{http_code} %{size_download} %{speed_download}", url)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := e.NS.Do(cmd.Start); err != nil { // forked from the namespace's thread
		return Outcome{Err: fmt.Errorf("starting curl: %w", err)}
	}
	werr := cmd.Wait()
	elapsed := time.Since(start)
	var code int
	var size, speed float64
	if _, err := fmt.Sscan(stdout.String(), &code, &size, &speed); err != nil {
		return Outcome{Elapsed: elapsed, Err: fmt.Errorf("curl printed %q (%v): %s", stdout.String(), werr, stderr.String())}
	}
	out := Outcome{Elapsed: elapsed, Figures: []Figure{{Name: "goodput (curl speed_download)", Unit: "MB/s", Value: speed / 1e6}}}
	switch {
	case werr != nil && (ctx.Err() != nil || strings.Contains(stderr.String(), "timed out")):
		out.Partial = true
	case werr != nil:
		out.Err = fmt.Errorf("curl: %v: %s", werr, strings.TrimSpace(stderr.String()))
	case code != 200 || int64(size) != e.Config.HTTP:
		out.Err = fmt.Errorf("curl: HTTP %d, %v of %d bytes", code, size, e.Config.HTTP)
	}
	return out
}
