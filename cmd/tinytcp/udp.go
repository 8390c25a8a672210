package main

import (
	"encoding/json"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"tinytcp/cmd/demo"
)

// The kernel-side clients of the UDP chapter: udp-send sends numbered
// datagrams to a UDP echo and counts what comes back; udp-vs-tcp does the
// same over UDP and over TCP and prints them side by side. Both use the
// kernel's sockets and need no root: run them beside `sudo tinytcp up`.

// compareFlags are the flags udp-send and udp-vs-tcp share.
type compareFlags struct {
	count, size    int
	interval, wait time.Duration
	json           bool
}

func (f *compareFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.count, "count", 1000, "records to send")
	fl.IntVar(&f.size, "size", 64, "bytes per record (at least 4: the record number comes first)")
	fl.DurationVar(&f.interval, "interval", time.Millisecond, "gap between datagrams")
	fl.DurationVar(&f.wait, "wait", 500*time.Millisecond, "after the last datagram, how long to wait for late ones")
	fl.BoolVar(&f.json, "json", false, "print the numbers as JSON instead of a table")
}

func (f *compareFlags) config(udp, tcp string) demo.CompareConfig {
	return demo.CompareConfig{UDP: udp, TCP: tcp, Count: f.count, Size: f.size, Interval: f.interval, Wait: f.wait}
}

func runCompare(cmd *cobra.Command, f *compareFlags, cfg demo.CompareConfig) error {
	ctx, cancel := signalContext()
	defer cancel()
	res, err := demo.Compare(ctx, cfg)
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(cmd.OutOrStdout())
}

func newUDPSend() *cobra.Command {
	var f compareFlags
	var to string
	cmd := &cobra.Command{
		Use:   "udp-send",
		Short: "Send numbered UDP datagrams to an echo service and count what comes back",
		Long: `udp-send sends --count numbered datagrams from the kernel side to a UDP echo
service (tinytcp's, on 10.77.0.2:7, by default) and counts the echoes: how
many came back, how many never did, how many came twice, and how many came
after a higher-numbered one. It uses the kernel's UDP and needs no root; run
it beside "sudo tinytcp up", whose impairment flags decide what the link
does. A closed port answers with ICMP port unreachable, which the kernel
reports as "connection refused".`,
		Example: `  sudo tinytcp up --drop-chance 5 --dup-chance 5 --reorder-chance 5   # terminal 1
  tinytcp udp-send --to 10.77.0.2:7 --count 1000                      # terminal 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCompare(cmd, &f, f.config(to, ""))
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&to, "to", net.JoinHostPort(demo.DefaultAddr.String(), strconv.Itoa(demo.PortEcho)), "host:port of the UDP echo")
	return cmd
}

func newUDPVsTCP() *cobra.Command {
	var f compareFlags
	var to string
	cmd := &cobra.Command{
		Use:   "udp-vs-tcp",
		Short: "Send the same numbered records over UDP and over TCP to the echo services, and compare",
		Long: `udp-vs-tcp sends --count numbered records of --size bytes from the kernel
side to the echo service on port 7 of --to, first as UDP datagrams, then
over one TCP connection, and prints what came back of each: UDP shows the
link as it is (records lost, duplicated, reordered), TCP delivers the whole
stream in order and pays in retransmissions and time. Run it beside "sudo
tinytcp up" with impairment flags; it needs no root.`,
		Example: `  sudo tinytcp up --drop-chance 5 --dup-chance 5 --reorder-chance 5   # terminal 1
  tinytcp udp-vs-tcp --count 1000                                     # terminal 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			port := strconv.Itoa(demo.PortEcho)
			return runCompare(cmd, &f, f.config(net.JoinHostPort(to, port), net.JoinHostPort(to, port)))
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&to, "to", demo.DefaultAddr.String(), "address of the host serving echo on udp/7 and tcp/7")
	return cmd
}
