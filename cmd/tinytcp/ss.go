package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"tinytcp/cmd/demo"
)

// `tinytcp ss`: the connection table of a running `tinytcp up`, read from
// its control socket (or its --metrics address) and printed as Linux's
// `ss -ti` prints the kernel's.

func newSS() *cobra.Command {
	var dev, control, metrics string
	var asJSON, listening, all bool
	var ignored [3]bool
	cmd := &cobra.Command{
		Use:   "ss",
		Short: "Show the connections of a running tinytcp up, as ss -ti shows the kernel's",
		Long: `ss asks a running "tinytcp up" for its connection table and prints it in
the words of Linux's "ss -ti": a line of state, queues and 4-tuple, a line
of TCP internals (ts sack cubic wscale rto rtt mss cwnd ssthresh bytes_sent
bytes_acked bytes_received segs_out segs_in send unacked retrans) with ss's
units (milliseconds, segments), and a line of the RFC 9293 variables
(state snd.una snd.nxt snd.wnd rcv.nxt rcv.wnd iss irs).

Run "ss -ti" beside it to see the kernel's end of the same connection:
its local address is tinytcp's peer address, and the other way round.

By default it shows connected sockets, as ss does; -l shows listeners
(Recv-Q: connections waiting for accept, Send-Q: the backlog), -a everything,
TIME-WAIT included. -t, -i and -n are accepted for ss's sake and change
nothing.

It reads the control socket of the up that runs on --dev in this network
namespace (` + demo.ControlDir + `/DEV.sock; up prints the path), which
needs root, or the HTTP address given to up --metrics.`,
		Example: `  sudo tinytcp ss
  sudo tinytcp ss -a --json | jq '.connections[] | {remote, state, rtt: .tcb.rtt}'
  ss -tin dst 10.77.0.2        # the kernel's end
  tinytcp ss --metrics 127.0.0.1:9100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			table, err := fetchTable(ctx, dev, control, metrics)
			if err != nil {
				return err
			}
			sel := demo.SelectConnected
			switch {
			case all:
				sel = demo.SelectAll
			case listening:
				sel = demo.SelectListening
			}
			table.Connections = demo.Select(table.Connections, sel)
			if table.Connections == nil {
				table.Connections = []demo.Socket{}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(table)
			}
			return demo.WriteSS(cmd.OutOrStdout(), table.Connections)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dev, "dev", "tinytcp0", "the TUN device of the tinytcp up to ask")
	fl.StringVar(&control, "control", "", "the control socket to ask (default: derived from --dev)")
	fl.StringVar(&metrics, "metrics", "", "ask the HTTP address given to up --metrics instead of the control socket")
	fl.BoolVar(&asJSON, "json", false, "print JSON (the document GET /connections serves)")
	fl.BoolVarP(&listening, "listening", "l", false, "show listeners only")
	fl.BoolVarP(&all, "all", "a", false, "show every entry: listeners, SYN-RECV and TIME-WAIT too")
	for i, name := range []string{"tcp", "info", "numeric"} {
		fl.BoolVarP(&ignored[i], name, name[:1], false, "accepted as ss does; always on")
		fl.MarkHidden(name) //nolint:errcheck // the flag exists
	}
	return cmd
}

// fetchTable gets the table from the control socket, or from the metrics
// address when one is given.
func fetchTable(ctx context.Context, dev, control, metrics string) (demo.Table, error) {
	url := "http://tinytcp/connections"
	var where string
	tr := &http.Transport{}
	if metrics != "" {
		addr, err := demo.MetricsListenAddr(metrics)
		if err != nil {
			return demo.Table{}, err
		}
		url = "http://" + addr + "/connections"
		where = "the metrics address " + addr
	} else {
		if control == "" {
			control = demo.ControlPath(dev)
		}
		where = "the control socket " + control
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", control)
		}
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return demo.Table{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return demo.Table{}, unreachable(where, dev, control, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return demo.Table{}, fmt.Errorf("%s answered %s: %s", where, resp.Status, body)
	}
	var t demo.Table
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return demo.Table{}, fmt.Errorf("reading the table from %s: %w", where, err)
	}
	return t, nil
}

// unreachable explains why there is nobody to ask.
func unreachable(where, dev, control string, err error) error {
	switch {
	case control == "":
		return fmt.Errorf("cannot reach %s: %w (is tinytcp up running with --metrics?)", where, err)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no tinytcp up is running on %s here: %s does not exist (start one with sudo tinytcp up --dev %s, or give --control)", dev, control, dev)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%s: permission denied: the control socket is root's, run ss with sudo", control)
	}
	return fmt.Errorf("cannot reach %s (is tinytcp up --dev %s running?): %w", where, dev, err)
}
