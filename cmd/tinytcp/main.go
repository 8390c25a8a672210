// Command tinytcp runs the tinytcp stack on a TUN device.
//
//	sudo tinytcp up                      serve echo, discard, a byte source and HTTP on 10.77.0.2
//	sudo tinytcp get http://10.77.0.1:8080/file
//	                                     fetch a URL with tinytcp as the client
//
// Run `tinytcp help` for everything else.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"tinytcp/cmd/demo"
	"tinytcp/tcp"
	"tinytcp/tun"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tinytcp:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tinytcp",
		Short: "A hand-written TCP/IP stack in Go, with the Linux kernel as its peer",
		Long: `tinytcp is an IPv4/TCP stack written by hand in Go. It runs in user space on a
Linux TUN device, so the kernel's own TCP is its peer: curl talks to the
kernel, the kernel talks through the TUN device to tinytcp.

  sudo tinytcp up          then, in another terminal:  curl http://10.77.0.2/
  sudo tinytcp get URL     tinytcp is the client, the kernel side the server

Creating a TUN device needs root (or CAP_NET_ADMIN).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUp(), newGet(), newSS(), newUDPSend(), newUDPVsTCP(), newPlot(), newLadder())
	return root
}

// linkFlags are the flags up and get share: the device and the link.
type linkFlags struct {
	driver, dev, addr, peer, pcap string
	mtu                           int
	verbose                       bool
	trace                         string // "", traceSegments or traceLadder (ladder.go)
	drop, corrupt, dup, reorder   float64
	delay                         time.Duration
	rate                          int
	seed                          int64
}

func (f *linkFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.driver, "driver", "wireguard", "TUN backend: wireguard, water, or offload (64 KiB super-packets with the kernel's TSO; no impairments or capture)")
	fl.StringVar(&f.dev, "dev", "tinytcp0", "name of the TUN device to create")
	fl.StringVar(&f.addr, "addr", demo.DefaultAddr.String(), "the stack's IPv4 address (not put on the device)")
	fl.StringVar(&f.peer, "peer", demo.DefaultPeer.String(), "kernel-side address/prefix put on the device")
	fl.IntVar(&f.mtu, "mtu", 1500, "device MTU")
	fl.StringVar(&f.pcap, "pcap", "", "write every packet the stack sends and receives to this pcap file")
	fl.StringVar(&f.trace, "trace", "", "print one line per TCP segment and state change to stderr; --trace=ladder prints handshakes and closes as RFC 9293 draws them")
	fl.Lookup("trace").NoOptDefVal = traceSegments
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log debug messages")
	fl.Float64Var(&f.drop, "drop-chance", 0, "percent of packets to drop, each direction")
	fl.Float64Var(&f.corrupt, "corrupt-chance", 0, "percent of packets to corrupt (one bit or one byte)")
	fl.Float64Var(&f.dup, "dup-chance", 0, "percent of packets to duplicate")
	fl.Float64Var(&f.reorder, "reorder-chance", 0, "percent of packets to hold back behind the next one")
	fl.DurationVar(&f.delay, "delay", 0, "one-way delay added to every packet, e.g. 50ms")
	fl.IntVar(&f.rate, "rate", 0, "link rate limit in bytes per second (0: unlimited)")
	fl.Int64Var(&f.seed, "seed", 1, "seed of the impairments' random choices")
}

func (f *linkFlags) hostConfig() (demo.HostConfig, error) {
	addr, err := netip.ParseAddr(f.addr)
	if err != nil {
		return demo.HostConfig{}, fmt.Errorf("--addr: %w", err)
	}
	peer, err := netip.ParsePrefix(f.peer)
	if err != nil {
		return demo.HostConfig{}, fmt.Errorf("--peer wants an address with a prefix length, like 10.77.0.1/24: %w", err)
	}
	for name, pct := range map[string]float64{"--drop-chance": f.drop, "--corrupt-chance": f.corrupt, "--dup-chance": f.dup, "--reorder-chance": f.reorder} {
		if pct < 0 || pct > 100 {
			return demo.HostConfig{}, fmt.Errorf("%s is a percentage from 0 to 100, not %v", name, pct)
		}
	}
	if f.delay < 0 || f.rate < 0 {
		return demo.HostConfig{}, errors.New("--delay and --rate cannot be negative")
	}
	if f.driver != tun.DriverWireguard && f.driver != tun.DriverWater && f.driver != tun.DriverOffload {
		return demo.HostConfig{}, fmt.Errorf("--driver is wireguard, water or offload, not %q", f.driver)
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	cfg := demo.HostConfig{
		Driver: f.driver, Dev: f.dev, Addr: addr, Peer: peer, MTU: f.mtu, PcapFile: f.pcap,
		Impair: tun.ImpairConfig{
			DropChance: f.drop, CorruptChance: f.corrupt, DupChance: f.dup, ReorderChance: f.reorder,
			Delay: f.delay, Rate: f.rate, Seed: f.seed,
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if err := setTrace(&cfg, f.trace); err != nil {
		return demo.HostConfig{}, err
	}
	return cfg, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newUp() *cobra.Command {
	var f linkFlags
	var stopAndWait bool
	var control, metrics, congestion string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create the TUN device and serve echo (7), discard (9), a byte source (19) and HTTP (80)",
		Long: `up creates the TUN device (tinytcp0), gives the kernel side 10.77.0.1/24 and
answers as 10.77.0.2 with tinytcp's own TCP:

  tcp/7   echo          everything sent comes back
  tcp/9   discard       everything sent is read and dropped
  tcp/19  byte source   bytes until you close (byte i is i mod 251)
  tcp/80  http          GET /            a page about your connection
                        GET /bytes?n=N   N bytes of the same pattern
                        POST /upload     answers "bytes=N sha256=HEX" for the body
                        GET /session     a visit counter kept in a cookie-named session
  icmp    echo          ping answers
  udp/7   echo          every datagram comes back (tinytcp udp-send, udp-vs-tcp)
  udp/9   discard       every datagram is read and dropped

--stop-and-wait makes tinytcp send one segment at a time and wait for its
ACK, the discipline the sliding window replaced: run a download with and
without it on the same link (e.g. --delay 20ms) to see what the window buys.

Ctrl-C (or SIGTERM) removes the device.`,
		Example: `  sudo tinytcp up
  curl http://10.77.0.2/
  curl -o /dev/null http://10.77.0.2/bytes?n=100000000
  curl --data-binary @bigfile http://10.77.0.2/upload
  sudo tinytcp up --drop-chance 2 --delay 20ms --pcap up.pcap --trace
  sudo tinytcp up --delay 20ms --stop-and-wait
  sudo tinytcp up --drop-chance 1 --delay 10ms --congestion newreno`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.hostConfig()
			if err != nil {
				return err
			}
			cfg.StopAndWait = stopAndWait
			cfg.Congestion = congestion
			cfg.Control, cfg.Metrics = control, metrics
			ctx, cancel := signalContext()
			defer cancel()
			return demo.Up(ctx, cfg, cmd.OutOrStdout())
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&stopAndWait, "stop-and-wait", false, "send one segment at a time and wait for its ACK (to compare with the sliding window)")
	cmd.Flags().StringVar(&congestion, "congestion", tcp.DefaultCongestion, "congestion control of every connection: "+tcp.CongestionCubic+" or "+tcp.CongestionNewReno)
	cmd.Flags().StringVar(&metrics, "metrics", "", "serve /metrics (Prometheus), /debug/vars (expvar JSON), /debug/pprof/ and /connections over HTTP on ADDR; a port alone (9100, :9100) binds 127.0.0.1, a host other than loopback must be named and opens pprof to the network")
	cmd.Flags().StringVar(&control, "control", "", `control socket "tinytcp ss" reads (default `+demo.ControlDir+`/DEV.sock; "none" for none)`)
	return cmd
}

func newGet() *cobra.Command {
	var f linkFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "get URL",
		Short: "Create the TUN device and fetch URL with tinytcp as the HTTP client",
		Long: `get brings the device up as up does, then fetches URL over HTTP with tinytcp
as the client: the SYN comes from tinytcp (an active open) and the server is
whatever listens on the kernel side, e.g. python3 -m http.server 8080. The
body goes to standard output; a failure or a status other than 200 exits
non-zero.`,
		Example: `  python3 -m http.server 8080 --bind 10.77.0.1 &   # after the device exists
  sudo tinytcp get http://10.77.0.1:8080/file > file`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.hostConfig()
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			if timeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return demo.Get(ctx, cfg, args[0], writerOnly{cmd.OutOrStdout()})
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: never)")
	return cmd
}

// writerOnly hides ReadFrom so io.Copy cannot bypass errors of the target.
type writerOnly struct{ io.Writer }
