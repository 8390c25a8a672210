package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tinytcp/tcp"
	"tinytcp/tests/netns"
	"tinytcp/tun"
)

// TestPerfBench is `make bench`: the same workloads against tinytcp,
// gVisor's netstack and the kernel, each server alone behind its own TUN
// device (the kernel on loopback) in a fresh network namespace, with the
// kernel's TCP as the client. It skips unless -perf is given, so `make
// test` only compiles it. Speed is reported, never asserted: the test
// fails only when a run cannot be set up, delivers wrong bytes or breaks
// off; a run that outlasts its budget is shown as timed out with what it
// did.
//
//	go test -c -o bin/bench.test ./tests/bench
//	sudo bin/bench.test -test.run '^TestPerfBench$' -test.timeout 0 -perf [-bulk-mb 1000] [-reps 3] [-md FILE]
//
// -reps, -md and -budget are shared with TestLossBench.

var (
	perfFlag         = flag.Bool("perf", false, "run the performance benchmark, make bench (it needs root)")
	bulkMB           = flag.Float64("bulk-mb", 1000, "megabytes (10^6 bytes) per bulk workload, split over its connections")
	httpMB           = flag.Float64("http-mb", 0, "megabytes of the HTTP download (0: as -bulk-mb)")
	workloadsRE      = flag.String("workloads", "", "run only the workloads whose names match this regular expression")
	stacksRE         = flag.String("stacks", "", "run only the stacks whose names match this regular expression")
	rrTime           = flag.Duration("rr-time", 5*time.Second, "how long the 1-byte request/response workload runs")
	connCount        = flag.Int("conns", 10000, "connections the connect+close workload opens")
	connWorkers      = flag.Int("conn-workers", 4, "kernel threads opening connections at once in connect+close")
	idleCount        = flag.Int("idle", 10000, "connections the idle workload holds open")
	tunTime          = flag.Duration("tun-time", 2*time.Second, "how long each raw TUN measurement runs (0: skip it)")
	gvisorProcessors = flag.Int("gvisor-processors", 0, "gVisor fdbased's ProcessorsPerChannel (0: its default, GOMAXPROCS)")
	parallelConn     = 4 // connections of the "x4" workloads
)

// TestMain lets the test binary be the idle client (idle.go) when
// started as one.
func TestMain(m *testing.M) {
	if n := os.Getenv(idleClientEnv); n != "" {
		os.Exit(idleClientMain(n))
	}
	os.Exit(m.Run())
}

func TestPerfBench(t *testing.T) {
	if !*perfFlag {
		t.Skip("a benchmark: run it with make bench (or -perf)")
	}
	workloads, stacks := selectPerf(t)
	if *reps < 1 || *bulkMB <= 0 {
		t.Fatalf("nothing to run: -reps %d, -bulk-mb %v", *reps, *bulkMB)
	}
	cfg := PerfConfig{
		Bulk:        int64(*bulkMB * 1e6),
		Parallel:    parallelConn,
		RRTime:      *rrTime,
		Conns:       *connCount,
		ConnWorkers: max(1, *connWorkers),
		Idle:        *idleCount,
		HTTP:        int64(*bulkMB * 1e6),
	}
	if *httpMB > 0 {
		cfg.HTTP = int64(*httpMB * 1e6)
	}
	raiseFileLimit(t, cfg.Idle+1024)

	// Ctrl-C or SIGTERM ends the current run at once; every namespace and
	// device is removed by the subtests' cleanups.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := &PerfReport{Date: time.Now(), Command: strings.Join(os.Args, " "), Notes: perfNotes(cfg), Stacks: stacks}
	for _, w := range workloads {
		rep.Workloads = append(rep.Workloads, w.Name)
	}
	if *tunTime > 0 {
		rep.TUN = measureTUN(ctx, t)
	}

	total, done := len(workloads)**reps*len(stacks), 0
	for _, w := range workloads {
		for k := range *reps {
			for _, name := range stackOrder(stacks, k) {
				if ctx.Err() != nil {
					break
				}
				out := runPerf(ctx, t, w, name, k, cfg)
				rep.Runs = append(rep.Runs, PerfRun{Workload: w.Name, Stack: name, Outcome: out})
				done++
				fmt.Fprintf(progressOut, "[%3d/%d] %-16s %-8s rep %d: %s\n", done, total, w.Name, name, k+1, perfProgress(out))
			}
		}
	}

	fmt.Println()
	if l := rep.TUNLine(); l != "" {
		fmt.Println(l)
		fmt.Println()
	}
	if err := rep.WriteTable(os.Stdout); err != nil {
		t.Error(err)
	}
	if *mdFile != "" {
		f, err := os.Create(*mdFile)
		if err == nil {
			err = rep.WriteMarkdown(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Errorf("-md: %v", err)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("interrupted; the table shows the runs that were made")
	}
}

// selectPerf applies -workloads and -stacks.
func selectPerf(t *testing.T) ([]Workload, []StackName) {
	wre, err := regexp.Compile(*workloadsRE)
	if err != nil {
		t.Fatalf("-workloads: %v", err)
	}
	sre, err := regexp.Compile(*stacksRE)
	if err != nil {
		t.Fatalf("-stacks: %v", err)
	}
	var workloads []Workload
	for _, w := range Workloads() {
		if wre.MatchString(w.Name) {
			workloads = append(workloads, w)
		}
	}
	var stacks []StackName
	for _, s := range PerfStacks() {
		if sre.MatchString(string(s)) {
			stacks = append(stacks, s)
		}
	}
	if len(workloads) == 0 || len(stacks) == 0 {
		t.Fatalf("nothing to run: %d workloads match -workloads %q, %d stacks match -stacks %q",
			len(workloads), *workloadsRE, len(stacks), *stacksRE)
	}
	return workloads, stacks
}

// stackOrder is the order of the stacks in repetition k: as listed on even
// repetitions, reversed on odd ones, so that none always runs first or
// last.
func stackOrder(stacks []StackName, k int) []StackName {
	order := slices.Clone(stacks)
	if k%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// runPerf runs one workload on one stack in a fresh namespace.
func runPerf(ctx context.Context, t *testing.T, w Workload, name StackName, k int, cfg PerfConfig) (out Outcome) {
	t.Run(fmt.Sprintf("%s/%s/%d", w.Name, name, k+1), func(t *testing.T) {
		ns := netns.New(t)
		srv, err := startPerfServer(name, ns, Options{GVisorProcessors: *gvisorProcessors})
		if err != nil {
			out.Err = err
			t.Errorf("starting %s: %v", name, err)
			return
		}
		deadline := time.Now().Add(*budget)
		rctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		env := &Env{Stack: name, NS: ns, Server: srv, Deadline: deadline, Config: cfg}
		out = w.Run(rctx, env)
		if err := srv.Close(); err != nil && out.Err == nil {
			out.Err = fmt.Errorf("closing %s: %w", name, err)
		}
		if !env.wait(10*time.Second) && out.Err == nil {
			out.Err = fmt.Errorf("%s: goroutines still running 10 s after the server closed", name)
		}
		if ctx.Err() != nil && out.Err == nil {
			out.Err = ctx.Err()
		}
		if out.Err != nil {
			t.Errorf("%s on %s: %v", w.Name, name, out.Err)
		}
	})
	return out
}

// measureTUN measures the raw TUN rate once per repetition, each in a
// fresh namespace, and returns the medians.
func measureTUN(ctx context.Context, t *testing.T) *TUNRate {
	var writes, reads []float64
	for k := range *reps {
		for _, m := range []struct {
			what    string
			measure func(context.Context, *netns.NS, time.Duration) (float64, error)
			into    *[]float64
		}{{"write", MeasureTUNWrite, &writes}, {"read", MeasureTUNRead, &reads}} {
			t.Run(fmt.Sprintf("raw TUN %s/%d", m.what, k+1), func(t *testing.T) {
				pps, err := m.measure(ctx, netns.New(t), *tunTime)
				if err != nil {
					t.Errorf("raw TUN %s: %v", m.what, err)
					return
				}
				*m.into = append(*m.into, pps)
				fmt.Fprintf(progressOut, "raw TUN %-5s rep %d: %s packets/s\n", m.what, k+1, formatFigure(pps))
			})
		}
	}
	if len(writes) == 0 || len(reads) == 0 {
		return nil
	}
	return &TUNRate{MTU: tun.DefaultMTU, WritePPS: median(writes), ReadPPS: median(reads)}
}

// perfProgress sums up one run.
func perfProgress(o Outcome) string {
	var figs []string
	for _, f := range o.Figures {
		figs = append(figs, fmt.Sprintf("%s %s %s", f.Name, formatFigure(f.Value), f.Unit))
	}
	s := strings.Join(figs, ", ")
	switch {
	case o.Err != nil:
		s = "FAILED: " + o.Err.Error() + "; " + s
	case o.Partial:
		s = "TIMED OUT: " + s
	}
	return fmt.Sprintf("%s (%v)", s, o.Elapsed.Round(time.Millisecond))
}

// raiseFileLimit raises RLIMIT_NOFILE to at least n descriptors: with the
// kernel stack, the idle workload holds the accepted side of its
// connections in this process.
func raiseFileLimit(t *testing.T, n int) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= uint64(n) {
		return
	}
	want := lim
	want.Cur, want.Max = uint64(n), max(lim.Max, uint64(n))
	if unix.Setrlimit(unix.RLIMIT_NOFILE, &want) == nil {
		return
	}
	// Raising the hard limit needs CAP_SYS_RESOURCE; up to it will do if
	// it is enough.
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Max < uint64(n) {
		t.Fatalf("the idle workload needs %d open files; the limit is %d (%v): lower -idle or raise the hard limit", n, lim.Max, err)
	}
}

// perfNotes describes the machine and the settings, for the Markdown file.
func perfNotes(cfg PerfConfig) []string {
	kernel := "unknown"
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	return []string{
		fmt.Sprintf("Machine: %s, %d cores (GOMAXPROCS %d), Linux %s, %s.", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), kernel, runtime.Version()),
		fmt.Sprintf("Each run: a fresh network namespace; the server alone in it behind its own TUN device (MTU %d; the kernel on loopback instead), "+
			"the kernel's TCP as the client (Go's net package, or curl); budget %v per run.", tun.DefaultMTU, *budget),
		fmt.Sprintf("%d repetitions, workload by workload; in each the stacks run in turn, in list order on odd repetitions and reversed on even ones; medians shown.", *reps),
		fmt.Sprintf("download / upload: %.0f MB of the i mod 251 pattern, every byte checked by the receiver; x%d: the same %.0f MB over %d connections at once "+
			"(%.0f MB each); time from the first connect to the last FIN.", float64(cfg.Bulk)/1e6, cfg.Parallel, float64(cfg.Bulk)/1e6, cfg.Parallel, float64(cfg.Bulk)/1e6/float64(cfg.Parallel)),
		fmt.Sprintf("rr 1 byte: one connection, one byte each way, one exchange at a time for %v; latency from the kernel's write to its read of the echo.", cfg.RRTime),
		fmt.Sprintf("connect+close: %d connections, %d kernel threads at once; the stack closes first (TIME-WAIT on the stack's side, none on the kernel's); "+
			"ephemeral ports 1024-65535 in the namespace.", cfg.Conns, cfg.ConnWorkers),
		fmt.Sprintf("idle connections: %d kernel sockets connect and stay idle; time until all are accepted; heap per connection = Go HeapInuse after runtime.GC(), "+
			"after minus before, over %d (tinytcp and gVisor run in the harness's process; the kernel has no such figure).", cfg.Idle, cfg.Idle),
		fmt.Sprintf("http curl: curl in the namespace fetches /bytes?n=%d from demo.NewHTTPServer (net/http on the stack's listener); curl's speed_download.", cfg.HTTP),
		fmt.Sprintf("tinytcp: its defaults (%v, SACK, timestamps, window scaling, %d KiB send and receive buffers), tun.Open's default driver, backlog %d.",
			tcp.DefaultCongestion, tcp.DefaultBufferSize>>10, perfBacklog),
		"tinytcp-offload: the same stack on tun's offload driver (virtio-net header, TSO and checksum offload: the stack writes and reads super-packets of up to 64 KiB).",
		"gVisor: " + gvisorStackSetup() + "; " + GVisorFDSetup + ".",
		fmt.Sprintf("share of raw TUN packet rate: goodput / %d-byte segments, over the raw TUN write rate (download) or read rate (upload).", segmentPayload),
	}
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
