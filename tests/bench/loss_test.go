package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tinytcp/tcp"
	"tinytcp/tests/netns"
	"tinytcp/tun"
)

// TestLossBench is the goodput-under-loss benchmark (make bench-loss). It
// skips unless -loss is given, so `make test` (go test ./...) only
// compiles it. Speed is reported, never asserted: the test fails only when
// a download is corrupted, cut short or cannot be set up, or on an
// interrupt. A download that runs out of its budget is a "timeout" in the
// table, not a failure.
//
//	go test -c -o bin/bench.test ./tests/bench
//	sudo bin/bench.test -test.run '^TestLossBench$' -loss [-mb 20] [-reps 3] [-md FILE]

var (
	lossFlag    = flag.Bool("loss", false, "run the goodput-under-loss benchmark (it needs root)")
	sizeMB      = flag.Float64("mb", 20, "megabytes (10^6 bytes) per download")
	reps        = flag.Int("reps", 3, "repetitions per profile and stack; the table shows medians")
	budget      = flag.Duration("budget", 120*time.Second, "longest one download may take; a slower one is reported as a timeout")
	mdFile      = flag.String("md", "", "also write the table, with the date, the command and the setup, as Markdown to this file")
	profilesRE  = flag.String("profiles", "", "run only the profiles whose names match this regular expression")
	seedFlag    = flag.Int64("seed", 1, "seed of the impairments; repetition k uses seed+k, the same for both stacks")
	tinytcpBuf  = flag.Int("tinytcp-buf", 0, "tinytcp's send and receive buffers in bytes (0: its default)")
	progressOut = os.Stderr // one line per download, as it ends
)

func TestLossBench(t *testing.T) {
	if !*lossFlag {
		t.Skip("a benchmark: run it with make bench-loss (or -loss)")
	}
	var profiles []Profile
	re, err := regexp.Compile(*profilesRE)
	if err != nil {
		t.Fatalf("-profiles: %v", err)
	}
	for _, p := range Profiles() {
		if re.MatchString(p.Name) {
			profiles = append(profiles, p)
		}
	}
	if len(profiles) == 0 || *reps < 1 || *sizeMB <= 0 {
		t.Fatalf("nothing to run: %d profiles, -reps %d, -mb %v", len(profiles), *reps, *sizeMB)
	}
	size := int64(*sizeMB * 1e6)
	opts := Options{TinytcpBuffer: *tinytcpBuf}

	// Ctrl-C or SIGTERM ends the current download at once; the namespace
	// and the device of every run are removed by the subtests' cleanups.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := &Report{Date: time.Now(), Command: strings.Join(os.Args, " "), Notes: setupNotes(size, opts)}
	total, done := len(profiles)**reps*2, 0
	for _, p := range profiles {
		row := Row{Profile: p.Name}
		for k := range *reps {
			order := []StackName{Tinytcp, GVisor}
			if k%2 == 1 {
				order = []StackName{GVisor, Tinytcp} // so that neither always goes first
			}
			for _, name := range order {
				if ctx.Err() != nil {
					break
				}
				link := p.Link
				link.Seed = *seedFlag + int64(k)
				run := Run{Stack: name, Link: link, Size: size, Budget: *budget, Opts: opts}
				var res Result
				t.Run(fmt.Sprintf("%s/%s/%d", p.Name, name, k+1), func(t *testing.T) {
					res = Download(ctx, netns.New(t), run)
					if res.Err != nil {
						t.Errorf("%s on %s, seed %d: %v", name, p.Name, link.Seed, res.Err)
					}
				})
				done++
				fmt.Fprintf(progressOut, "[%2d/%d] %-22s %-7s rep %d: %s\n", done, total, p.Name, name, k+1, progressLine(res))
				if name == Tinytcp {
					row.Tinytcp = append(row.Tinytcp, res)
				} else {
					row.GVisor = append(row.GVisor, res)
				}
			}
		}
		rep.Rows = append(rep.Rows, row)
	}

	fmt.Println()
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

// progressLine sums up one download.
func progressLine(r Result) string {
	var status string
	switch {
	case r.TimedOut:
		status = fmt.Sprintf("TIMEOUT after %v with %.1f MB", r.Elapsed.Round(time.Millisecond), float64(r.Bytes)/1e6)
	case r.Interrupted:
		status = "interrupted"
	case r.Err != nil:
		status = "FAILED: " + r.Err.Error()
	default:
		status = fmt.Sprintf("%.1f MB in %v = %s MB/s", float64(r.Bytes)/1e6, r.Elapsed.Round(time.Millisecond), formatRate(r.Goodput()))
	}
	return fmt.Sprintf("%s; rexmit %d, RTO %d; link %s", status, r.Counts.Retransmits, r.Counts.Timeouts, linkLine(r.Link))
}

// linkLine says what the impairment layer did, both ways.
func linkLine(s tun.ImpairStats) string {
	one := func(c tun.ImpairCounters) string {
		parts := []string{fmt.Sprintf("%d passed", c.Passed)}
		for _, f := range []struct {
			n    uint64
			what string
		}{
			{c.Dropped, "dropped"}, {c.Corrupted, "corrupted"}, {c.Duplicated, "duplicated"},
			{c.Reordered, "reordered"}, {c.RateDropped, "tail-dropped"},
		} {
			if f.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", f.n, f.what))
			}
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("out [%s] in [%s]", one(s.Out), one(s.In))
}

// setupNotes describes the machine and the settings, for the Markdown file.
func setupNotes(size int64, opts Options) []string {
	kernel := "unknown"
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	buf := fmt.Sprintf("default buffers (%d KiB send and receive)", tcp.DefaultBufferSize>>10)
	if opts.TinytcpBuffer > 0 {
		buf = fmt.Sprintf("send and receive buffers of %d bytes", opts.TinytcpBuffer)
	}
	return []string{
		fmt.Sprintf("Machine: %d cores (GOMAXPROCS %d), Linux %s, %s.", runtime.NumCPU(), runtime.GOMAXPROCS(0), kernel, runtime.Version()),
		fmt.Sprintf("Each run: a fresh network namespace and TUN device (wireguard driver, MTU %d); the stack under test serves %.1f MB "+
			"(byte i = i mod 251) on port %d to a kernel TCP socket (Go net.Dial) that checks every byte; time from connect to the stack's FIN; "+
			"MB/s = 10^6 bytes per second; budget %v per run.", tun.DefaultMTU, float64(size)/1e6, Port, *budget),
		fmt.Sprintf("Impairment: tun.Impair on the TUN device, both directions, for both stacks (gVisor through a link/channel endpoint and two pump goroutines); "+
			"repetition k uses seed %d+k for both stacks; in-flight queue %d packets per direction, drop-tail.", *seedFlag, tun.ImpairQueueLimit),
		fmt.Sprintf("%d repetitions per profile and stack, alternating (tinytcp first on odd repetitions, gVisor first on even ones); medians shown. "+
			"rexmit / RTO: the server's retransmitted segments and retransmission timeouts (median).", *reps),
		fmt.Sprintf("tinytcp: its defaults (%v congestion control, SACK, timestamps, window scaling as negotiated), %s.", tcp.DefaultCongestion, buf),
		"gVisor: " + GVisorSetup() + ".",
	}
}
