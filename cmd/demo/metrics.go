package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"slices"
	"strings"
	"unicode"

	"tinytcp/stack"
	"tinytcp/tcp"
)

// The instruments of a running host, served over HTTP by the control socket
// (control.go) and by `up --metrics ADDR`:
//
//	GET /connections   the connection table as JSON (Table), what `tinytcp ss` reads
//	GET /metrics       the stack's counters in Prometheus' text format
//	GET /debug/vars    the counters as expvar-style JSON, with cmdline and memstats
//	GET /debug/pprof/  the runtime's profiles (net/http/pprof)
//
// Counters keep gVisor's tcpip.Stats names ("tcp.SegmentsSent" is gVisor's
// Stats.TCP.SegmentsSent); Prometheus gets them mechanically converted
// (tinytcp_tcp_segments_sent_total) with the original name in the HELP
// line. Everything hangs off the handler: no expvar.Publish, no
// http.DefaultServeMux, so several hosts can serve in one process.

// NewInstrumentsHandler returns the handler of h's instruments.
func NewInstrumentsHandler(h *Host) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, `tinytcp on %s (%v)
  /connections   the connection table as JSON (tinytcp ss --json)
  /metrics       counters, Prometheus text format
  /debug/vars    counters, expvar JSON
  /debug/pprof/  profiles
`, h.Config.Dev, h.Stack.Addr())
	})
	mux.HandleFunc("GET /connections", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, NewTable(h.Config.Dev, h.Stack))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		WritePrometheus(w, h.Stack.Counters.Snapshot(), h.Stack.Connections()) //nolint:errcheck // the client went away
	})
	mux.HandleFunc("GET /debug/vars", func(w http.ResponseWriter, _ *http.Request) {
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		writeJSON(w, map[string]any{
			"cmdline":  os.Args,
			"memstats": &mem,
			"tinytcp":  h.Stack.Counters.Snapshot(),
		})
	})
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client went away
}

// PrometheusName converts a counter's name to a Prometheus metric name:
// "tcp.SegmentsSent" becomes "tinytcp_tcp_segments_sent_total",
// "drop.ip_not_for_us" "tinytcp_drop_ip_not_for_us_total".
func PrometheusName(counter string) string {
	var b strings.Builder
	b.WriteString("tinytcp_")
	rs := []rune(counter)
	for i, r := range rs {
		switch {
		case unicode.IsUpper(r):
			// A word starts at an upper-case letter after a lower-case one
			// or a digit, or at the last capital of an acronym
			// ("RTOExpired": rto_expired).
			if i > 0 && rs[i-1] != '.' && rs[i-1] != '_' &&
				(!unicode.IsUpper(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	b.WriteString("_total")
	return b.String()
}

// WritePrometheus writes the counters, then gauges of the connection table
// (connections by state), in Prometheus' text exposition format.
func WritePrometheus(w io.Writer, counters map[string]uint64, table []stack.ConnInfo) error {
	var b strings.Builder
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range counters {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		p := PrometheusName(n)
		fmt.Fprintf(&b, "# HELP %s tinytcp counter %s\n# TYPE %s counter\n%s %d\n", p, n, p, p, counters[n])
	}
	var byState [tcp.StateTimeWait + 1]int
	for _, ci := range table {
		if int(ci.Info.State) < len(byState) {
			byState[ci.Info.State]++
		}
	}
	b.WriteString("# HELP tinytcp_connections Entries of the connection table by RFC 9293 state (listeners as LISTEN).\n# TYPE tinytcp_connections gauge\n")
	for s, n := range byState {
		if tcp.State(s) == tcp.StateClosed {
			continue
		}
		fmt.Fprintf(&b, "tinytcp_connections{state=%q} %d\n", tcp.State(s).String(), n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MetricsListenAddr completes the --metrics address: a port alone, or an
// address without a host, binds the loopback address, so the counters and
// profiles are not offered to the network unless a host is named.
func MetricsListenAddr(addr string) (string, error) {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--metrics %q: %w", addr, err)
	}
	if port == "" {
		return "", fmt.Errorf("--metrics %q: no port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// isLoopback reports whether a listen address is on the loopback interface.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
