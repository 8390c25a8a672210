package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/tests/netns"
)

// `tinytcp up --metrics ADDR`: the counters in Prometheus' text format and
// as expvar JSON, pprof, and the connection page that shows the TCB of the
// connection that asked for it.

const metricsURL = "http://127.0.0.1:9100"

// scrape fetches /metrics and parses it: every sample must follow its TYPE
// line and carry a number.
func scrape(t *testing.T, c *http.Client) map[string]float64 {
	t.Helper()
	body, ctype := get(t, c, metricsURL+"/metrics")
	assert.True(t, strings.HasPrefix(ctype, "text/plain; version=0.0.4"), "Content-Type %q", ctype)
	types := map[string]string{}
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			require.Contains(t, []string{"counter", "gauge"}, typ, line)
			types[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		require.True(t, ok, line)
		name, _, _ := strings.Cut(series, "{")
		require.Regexp(t, `^[a-zA-Z_:][a-zA-Z0-9_:]*$`, name)
		require.Contains(t, types, name, "sample before its TYPE line: %s", line)
		if types[name] == "counter" {
			assert.True(t, strings.HasSuffix(name, "_total"), name)
		}
		v, err := strconv.ParseFloat(value, 64)
		require.NoError(t, err, line)
		samples[series] = v
	}
	return samples
}

func get(t *testing.T, c *http.Client, url string) (body, contentType string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, b)
	return string(b), resp.Header.Get("Content-Type")
}

func TestMetricsCountersPprofAndConnectionPage(t *testing.T) {
	t.Parallel()
	ns := netns.New(t)
	_, out, _ := startUp(t, ns, "--metrics", "9100") // a port alone: loopback
	assert.Contains(t, out.String(), "metrics: "+metricsURL+"/metrics")
	h := &host{ns: ns}
	client := h.httpClient()

	before := scrape(t, client)
	assert.Equal(t, 4.0, before[`tinytcp_connections{state="LISTEN"}`], "echo, discard, source, http")

	body, _ := get(t, client, stackURL+"/bytes?n=200000")
	require.Len(t, body, 200_000)

	after := scrape(t, client)
	for _, name := range []string{
		"tinytcp_tcp_segments_sent_total",
		"tinytcp_tcp_valid_segments_received_total",
		"tinytcp_tcp_passive_connection_openings_total",
		"tinytcp_ip_packets_sent_total",
	} {
		assert.Greater(t, after[name], before[name], "%s grows with traffic", name)
	}
	assert.GreaterOrEqual(t, after["tinytcp_tcp_segments_sent_total"], 200_000.0/1460, "a segment per MSS at least")

	// expvar JSON: the same counters under their gVisor names.
	vars, ctype := get(t, client, metricsURL+"/debug/vars")
	assert.Equal(t, "application/json", ctype)
	var v struct {
		Cmdline  []string          `json:"cmdline"`
		Memstats map[string]any    `json:"memstats"`
		Tinytcp  map[string]uint64 `json:"tinytcp"`
	}
	require.NoError(t, json.Unmarshal([]byte(vars), &v))
	assert.Equal(t, "up", v.Cmdline[1])
	assert.Contains(t, v.Memstats, "HeapAlloc")
	assert.GreaterOrEqual(t, float64(v.Tinytcp["tcp.SegmentsSent"]), after["tinytcp_tcp_segments_sent_total"])

	// pprof, on the server's own mux.
	index, _ := get(t, client, metricsURL+"/debug/pprof/")
	assert.Contains(t, index, "goroutine")
	goroutines, _ := get(t, client, metricsURL+"/debug/pprof/goroutine?debug=1")
	assert.Contains(t, goroutines, "tinytcp/stack")

	// /connections: the table ss reads.
	conns, _ := get(t, client, metricsURL+"/connections")
	assert.Contains(t, conns, `"ss_state": "LISTEN"`)

	// The connection page shows the TCB of the very connection that
	// asked: its 4-tuple, ESTABLISHED, and the request's bytes received.
	c := h.dial(t, "10.77.0.2:80")
	_, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: 10.77.0.2\r\n\r\n")
	require.NoError(t, err)
	page, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Contains(t, string(page), "10.77.0.2:80 &lt;-&gt; "+c.LocalAddr().String())
	assert.Contains(t, string(page), "ESTABLISHED")
}
