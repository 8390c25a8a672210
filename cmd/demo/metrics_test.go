package demo

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/stack"
	"tinytcp/tcp"
)

func TestPrometheusName(t *testing.T) {
	for _, tc := range []struct{ counter, want string }{
		{"tcp.SegmentsSent", "tinytcp_tcp_segments_sent_total"},
		{"tcp.ListenOverflowSynDrop", "tinytcp_tcp_listen_overflow_syn_drop_total"},
		{"ip.PacketsReceived", "tinytcp_ip_packets_received_total"},
		{"drop.ip_not_for_us", "tinytcp_drop_ip_not_for_us_total"},
		{"tcp.bad_option_ignored", "tinytcp_tcp_bad_option_ignored_total"},
		{"icmp.EchoReplySent", "tinytcp_icmp_echo_reply_sent_total"},
		{"tcp.RTOExpired", "tinytcp_tcp_rto_expired_total"},
		{"tcp.SACKRecovery", "tinytcp_tcp_sack_recovery_total"},
		{"tcp.Retransmits2", "tinytcp_tcp_retransmits2_total"},
		{"odd-name!", "tinytcp_odd_name__total"},
	} {
		assert.Equal(t, tc.want, PrometheusName(tc.counter), tc.counter)
	}
}

// parsePrometheus reads the text format strictly enough for the tests:
// every sample has a TYPE line before it and a number after it.
func parsePrometheus(t *testing.T, text string) map[string]float64 {
	t.Helper()
	types := map[string]string{}
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, ok := strings.Cut(f, " ")
			require.True(t, ok, line)
			require.Contains(t, []string{"counter", "gauge"}, typ, line)
			types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		require.True(t, ok, line)
		name, _, _ := strings.Cut(series, "{")
		require.Contains(t, types, name, "sample before its TYPE: %s", line)
		v, err := strconv.ParseFloat(value, 64)
		require.NoError(t, err, line)
		samples[series] = v
	}
	return samples
}

func TestWritePrometheus(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WritePrometheus(&b,
		map[string]uint64{"tcp.SegmentsSent": 12, "drop.ip_fragment": 1},
		[]stack.ConnInfo{{Info: tcp.Info{State: tcp.StateListen}}, {Info: tcp.Info{State: tcp.StateEstablished}}, {Info: tcp.Info{State: tcp.StateEstablished}}}))
	text := b.String()
	assert.Contains(t, text, "# HELP tinytcp_tcp_segments_sent_total tinytcp counter tcp.SegmentsSent\n# TYPE tinytcp_tcp_segments_sent_total counter\ntinytcp_tcp_segments_sent_total 12\n")
	m := parsePrometheus(t, text)
	assert.Equal(t, 12.0, m["tinytcp_tcp_segments_sent_total"])
	assert.Equal(t, 1.0, m["tinytcp_drop_ip_fragment_total"])
	assert.Equal(t, 2.0, m[`tinytcp_connections{state="ESTABLISHED"}`])
	assert.Equal(t, 1.0, m[`tinytcp_connections{state="LISTEN"}`])
	assert.Equal(t, 0.0, m[`tinytcp_connections{state="TIME-WAIT"}`])
}

func TestMetricsListenAddr(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "9100", want: "127.0.0.1:9100"},
		{in: ":9100", want: "127.0.0.1:9100"},
		{in: "127.0.0.1:9100", want: "127.0.0.1:9100"},
		{in: "[::1]:9100", want: "[::1]:9100"},
		{in: "0.0.0.0:9100", want: "0.0.0.0:9100"},
		{in: "localhost:", err: "no port"},
	} {
		got, err := MetricsListenAddr(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	assert.True(t, isLoopback("127.0.0.1:9100"))
	assert.True(t, isLoopback("[::1]:9100"))
	assert.False(t, isLoopback("0.0.0.0:9100"))
}
