package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"tinytcp/cmd/inspect"
)

func newPlot() *cobra.Command {
	var connN int
	var out string
	var list, reverse bool
	cmd := &cobra.Command{
		Use:   "plot FILE.pcap -o seq.svg",
		Short: "Draw the time-sequence graph of a connection in a capture, as an SVG file",
		Long: `plot reads a capture (--pcap of up or get, or any raw-IP pcap) and draws the
time-sequence graph of one connection, the graph of Stevens and tcptrace:
sequence number over time for the data one end sent, each segment a vertical
tick from its first to its last byte (retransmissions in red), the receiver's
ACK line (green), the right edge of its receive window (yellow, ACK plus the
window scaled by the SYNs' window scale), and its SACK blocks (purple).

The direction drawn is the one that carried more data (a download: the
server's); --reverse draws the other. A capture of several connections needs
--conn N; --list lists them. Open the SVG in any browser.`,
		Example: `  sudo tinytcp up --drop-chance 2 --pcap up.pcap   # then: curl -o /dev/null http://10.77.0.2/bytes?n=3000000
  tinytcp plot up.pcap -o seq.svg
  tinytcp plot --list up.pcap`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := readCapture(args[0])
			if err != nil {
				return err
			}
			if list {
				fmt.Fprint(cmd.OutOrStdout(), listConns(c))
				return nil
			}
			if out == "" {
				return errors.New("say where the graph goes: -o FILE.svg")
			}
			conns, err := pickConns(c, connN, false)
			if err != nil {
				return err
			}
			conn := conns[0]
			fromA := sentByA(conn) != reverse
			g := inspect.NewGraph(conn, fromA)
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(f)
			title := fmt.Sprintf("Time-sequence graph of %s (%s)", conn, filepath.Base(args[0]))
			err = errors.Join(g.WriteSVG(w, title), w.Flush(), f.Close())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s > %s, %d segments, %d retransmitted, %d SACK blocks\n",
				out, g.Sender, g.Receiver, len(g.Data), g.Retransmits, len(g.SACK))
			return nil
		},
	}
	cmd.Flags().IntVar(&connN, "conn", 0, "the connection to draw, numbered from 1 in order of first appearance (see --list)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "the SVG file to write")
	cmd.Flags().BoolVar(&list, "list", false, "list the connections in the capture and exit")
	cmd.Flags().BoolVar(&reverse, "reverse", false, "draw the direction that carried less data")
	return cmd
}

// sentByA reports whether end A of conn sent at least as much payload as B.
func sentByA(conn *inspect.Conn) bool {
	var a, b int64
	for _, s := range conn.Segments {
		if s.FromA {
			a += int64(s.Len)
		} else {
			b += int64(s.Len)
		}
	}
	return a >= b
}
