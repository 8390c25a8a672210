package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"tinytcp/cmd/demo"
	"tinytcp/cmd/inspect"
	"tinytcp/stack"
	"tinytcp/tun"
)

// The trace modes of `--trace`: the full segment trace (`--trace` alone,
// or `--trace=segments`) and the live ladder (`--trace=ladder`).
const (
	traceSegments = "segments"
	traceLadder   = "ladder"
)

// setTrace sets up the trace that --trace asked for: the stack's segment
// trace, or a live ladder tap between the stack and the link
// (inspect.LadderTap), both on standard error.
func setTrace(cfg *demo.HostConfig, mode string) error {
	switch mode {
	case "":
	case traceSegments:
		cfg.Trace = os.Stderr
	case traceLadder:
		if cfg.Driver == tun.DriverOffload {
			return fmt.Errorf("--trace=%s reads every packet, which the offload driver does not allow; use --driver wireguard", traceLadder)
		}
		tune := cfg.StackTune
		cfg.StackTune = func(sc *stack.Config) {
			if tune != nil {
				tune(sc)
			}
			sc.Device = inspect.NewLadderTap(sc.Device, os.Stderr)
		}
	default:
		return fmt.Errorf("--trace is %q (every segment, the default) or %q (handshakes and closes as RFC 9293 draws them), not %q", traceSegments, traceLadder, mode)
	}
	return nil
}

func newLadder() *cobra.Command {
	var connN int
	var absolute bool
	cmd := &cobra.Command{
		Use:   "ladder FILE.pcap",
		Short: "Print the handshake and close of each connection in a capture as RFC 9293 draws them",
		Long: `ladder reads a capture (--pcap of up or get, or any raw-IP pcap) and prints,
for each TCP connection, its handshake and its close as a sequence diagram in
the style of RFC 9293's figures: one numbered line per segment with SYN, FIN
or RST or that changes a state, the state of each end after it, and one "..."
line counting the segments in between.

TCP Peer A is the end that sent the first SYN. Sequence numbers are relative,
as in the RFC's figures: A's ISN is shown as 100 and B's as 300. --absolute
shows the numbers on the wire. The states are inferred from the segments, as
seen where the capture was taken.

up --trace=ladder prints the same lines live.`,
		Example: `  sudo tinytcp up --pcap up.pcap      # then: curl http://10.77.0.2/
  tinytcp ladder up.pcap
  tinytcp ladder --conn 2 --absolute up.pcap`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := readCapture(args[0])
			if err != nil {
				return err
			}
			conns, err := pickConns(c, connN, true)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for i, conn := range conns {
				if i > 0 {
					fmt.Fprintln(out)
				}
				if len(conns) > 1 || connN > 0 {
					n := connN
					if n == 0 {
						n = i + 1
					}
					fmt.Fprintf(out, "connection %d: %s\n", n, conn.Summary())
				}
				if err := inspect.WriteLadder(out, conn, absolute); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&connN, "conn", 0, "the connection to draw, numbered from 1 in order of first appearance (default: all)")
	cmd.Flags().BoolVar(&absolute, "absolute", false, "show sequence numbers as on the wire, not relative to ISNs of 100 and 300")
	return cmd
}

// readCapture reads a capture file into connections.
func readCapture(file string) (*inspect.Capture, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := inspect.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(c.Conns) == 0 {
		return nil, fmt.Errorf("%s: no TCP segments in the capture (%d other packets)", file, c.Skipped)
	}
	return c, nil
}

// pickConns returns connection n (from 1), or all of them for n 0 when all
// is set; otherwise the only one, or an error listing them.
func pickConns(c *inspect.Capture, n int, all bool) ([]*inspect.Conn, error) {
	switch {
	case n > 0 && n <= len(c.Conns):
		return c.Conns[n-1 : n], nil
	case n == 0 && (all || len(c.Conns) == 1):
		return c.Conns, nil
	}
	msg := fmt.Sprintf("the capture holds %d connections; pick one with --conn N:", len(c.Conns))
	if n != 0 {
		msg = fmt.Sprintf("there is no connection %d; the capture holds %d:", n, len(c.Conns))
	}
	return nil, fmt.Errorf("%s\n%s", msg, listConns(c))
}

// listConns is the numbered list of a capture's connections.
func listConns(c *inspect.Capture) string {
	var s string
	for i, conn := range c.Conns {
		s += fmt.Sprintf("%3d  %s\n", i+1, conn.Summary())
	}
	return s
}
