package bench

// The idle-connections workload: the kernel opens Idle connections and
// keeps them open, doing nothing; the stack accepts them all and holds
// them. The figures are the time until every one is open and accepted,
// and, for the stacks that live in this process, the Go heap in use per
// connection (runtime.MemStats.HeapInuse after runtime.GC(), after minus
// before, over Idle). The kernel stack has no heap figure (n/a): its
// memory is not the Go heap.
//
// The kernel's side runs in a child process, this test binary started
// again in the namespace with idleClientEnv set (see TestMain): so the
// client's sockets add nothing to the heap being measured, and its
// descriptors do not count against this process's open-file limit (the
// kernel stack alone needs Idle of them for the accepted side). The child
// says "start" when it begins to connect, "open" once every connection is
// established, and holds them until its standard input closes; it sets
// SO_LINGER 0 on each, so that its exit resets them and leaves no FIN to
// process.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tinytcp/cmd/demo"
)

// idleClientEnv, set to a count, makes the test binary the idle client.
const idleClientEnv = "TINYTCP_BENCH_IDLE_CLIENT"

// idleConnections: Idle connections opened and held; time and heap.
func idleConnections(ctx context.Context, e *Env) Outcome {
	n := e.Config.Idle
	if err := setSysctl(e.NS, "net/ipv4/ip_local_port_range", "1024 65535"); err != nil {
		return Outcome{Err: err}
	}
	l, err := e.Server.Listen(connPort)
	if err != nil {
		return Outcome{Err: err}
	}
	defer l.Close()
	accepted := make([]net.Conn, 0, n)
	allIn := make(chan struct{})      // closed once all n are accepted
	acceptDone := make(chan struct{}) // closed when the accept loop ends
	heapBefore := heapInUse()
	e.Go(func() {
		defer close(acceptDone)
		for len(accepted) < n {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted = append(accepted, c)
		}
		close(allIn)
	})
	defer func() {
		l.Close()
		select {
		case <-acceptDone: // accepted is ours again
			for _, c := range accepted {
				c.Close()
			}
		case <-time.After(10 * time.Second): // a stuck stack: closing it ends the loop
		}
	}()

	// The client, in the namespace.
	self, err := os.Executable()
	if err != nil {
		return Outcome{Err: err}
	}
	cmd := exec.CommandContext(ctx, self, "-test.run", "^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", idleClientEnv, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Outcome{Err: err}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Outcome{Err: err}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := e.NS.Do(cmd.Start); err != nil {
		return Outcome{Err: fmt.Errorf("starting the idle client: %w", err)}
	}
	defer func() {
		stdin.Close() // the client exits and its connections are reset
		cmd.Wait()    //nolint:errcheck // its failures were read from stdout
	}()
	lines := bufio.NewScanner(stdout)
	said := func(want string) error {
		if !lines.Scan() {
			return fmt.Errorf("idle client ended before %q: %s", want, strings.TrimSpace(stderr.String()))
		}
		if got := lines.Text(); got != want {
			return fmt.Errorf("idle client: %s", got)
		}
		return nil
	}
	if err := said("start"); err != nil {
		return Outcome{Err: err}
	}
	start := time.Now()
	clientDone := make(chan error, 1)
	e.Go(func() { clientDone <- said("open") })
	select {
	case err = <-clientDone:
		if err == nil {
			select {
			case <-allIn:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	elapsed := time.Since(start)
	out := Outcome{Elapsed: elapsed, Figures: []Figure{
		{Name: fmt.Sprintf("time to open %d", n), Unit: "s", Value: elapsed.Seconds(), Lower: true},
		{Name: "connections opened", Unit: "1/s", Value: float64(n) / elapsed.Seconds()},
	}}
	if err == nil && inProcess(e.Stack) {
		perConn := float64(int64(heapInUse())-int64(heapBefore)) / float64(n)
		out.Figures = append(out.Figures, Figure{Name: "heap per connection", Unit: "KiB", Value: perConn / 1024, Lower: true})
	}
	if errors.Is(err, context.DeadlineExceeded) {
		out.Figures = out.Figures[:1] // the time to the budget; no rate
		return classify(ctx, out, err)
	}
	return classify(ctx, out, err)
}

// heapInUse is the Go heap in use after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// idleClientMain is the idle client (the test binary with idleClientEnv
// set, started in the namespace): it opens count connections to the
// stack's connPort, eight at a time, says so on stdout and holds them
// until stdin closes. It returns the exit status.
func idleClientMain(count string) int {
	n, err := strconv.Atoi(count)
	if err != nil {
		fmt.Println("bad count:", count)
		return 2
	}
	fmt.Println("start")
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	addr := netip.AddrPortFrom(demo.DefaultAddr, connPort).String()
	for range 8 {
		wg.Go(func() {
			d := net.Dialer{Timeout: time.Minute}
			for i := next.Add(1) - 1; i < int64(n) && failed.Load() == nil; i = next.Add(1) - 1 {
				c, err := d.Dial("tcp4", addr)
				if err != nil {
					err = fmt.Errorf("connection %d: %w", i, err)
					failed.CompareAndSwap(nil, &err)
					return
				}
				c.(*net.TCPConn).SetLinger(0) //nolint:errcheck // only spares the stack some FINs
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		fmt.Println((*err).Error())
		return 1
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // until the harness closes it
	return 0
}
