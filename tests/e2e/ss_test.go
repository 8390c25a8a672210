package e2e

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/cmd/demo"
	"tinytcp/tests/netns"
)

// `tinytcp ss` against a live connection with the kernel: tinytcp's end of
// it as ss prints, and the kernel's end as the kernel's own `ss -tin`
// prints, must be the same connection seen from both sides.

// ssFields splits an info line of ss -ti (the kernel's or tinytcp's) into
// its fields: "key:value" and the words "send RATE" and "state NAME";
// flags such as "ts" or "sack" map to "".
func ssFields(line string) map[string]string {
	f := map[string]string{}
	words := strings.Fields(line)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if k, v, ok := strings.Cut(w, ":"); ok {
			f[k] = v
			continue
		}
		if (w == "send" || w == "pacing_rate" || w == "delivery_rate") && i+1 < len(words) {
			f[w] = words[i+1]
			i++
			continue
		}
		f[w] = ""
	}
	return f
}

// rfcFields splits tinytcp's RFC line ("state ESTABLISHED snd.una 1 ...")
// into its pairs.
func rfcFields(t *testing.T, line string) map[string]string {
	t.Helper()
	words := strings.Fields(line)
	require.Zero(t, len(words)%2, "pairs of name and value: %q", line)
	f := map[string]string{}
	for i := 0; i < len(words); i += 2 {
		f[words[i]] = words[i+1]
	}
	return f
}

// ssBlock finds the block of the entry whose header line names both
// addresses, and returns its header and info lines.
func ssBlock(t *testing.T, out, local, remote string) (header string, info []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		fs := strings.Fields(l)
		if len(fs) >= 5 && fs[3] == local && fs[4] == remote {
			for _, more := range lines[i+1:] {
				if !strings.HasPrefix(more, "\t") {
					break
				}
				info = append(info, strings.TrimSpace(more))
			}
			return l, info
		}
	}
	t.Fatalf("no entry %s %s in:\n%s", local, remote, out)
	return "", nil
}

func TestSSShowsBothEndsOfAKernelConnection(t *testing.T) {
	t.Parallel()
	ns := netns.New(t)
	const dev = "ttss0"
	cmd, out, stderr := startUp(t, ns, "--dev", dev, "--metrics", "127.0.0.1:9100")
	h := &host{ns: ns}

	// The control socket: where the banner says, root's alone.
	var path string
	require.NoError(t, ns.Do(func() error { path = demo.ControlPath(dev); return nil }))
	assert.Contains(t, out.String(), "tinytcp ss --dev "+dev+" (control socket "+path+")")
	assert.Contains(t, path, "/netns-", "a namespace of its own gets a path of its own")
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSocket|0o600, st.Mode()&(os.ModeType|os.ModePerm))

	// A kernel connection to echo, with data both ways.
	c := h.dial(t, "10.77.0.2:7")
	msg := []byte("hello, tinytcp\n")
	_, err = c.Write(msg)
	require.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, len(msg)))
	require.NoError(t, err)
	kernel := c.LocalAddr().String()
	n := strconv.Itoa(len(msg))

	// tinytcp's end.
	text := string(h.run(t, binary, "ss", "--dev", dev))
	t.Logf("tinytcp ss:\n%s", text)
	assert.True(t, strings.HasPrefix(text, "State "), "a header first")
	header, info := ssBlock(t, text, "10.77.0.2:7", kernel)
	assert.Equal(t, "ESTAB", strings.Fields(header)[0])
	require.Len(t, info, 2, "an ss line and an RFC line")
	ours := ssFields(info[0])
	for _, k := range []string{"rto", "rtt", "mss", "cwnd", "bytes_sent", "bytes_acked", "bytes_received", "segs_out", "segs_in"} {
		assert.Contains(t, ours, k, "field %s in %q", k, info[0])
	}
	assert.Contains(t, ours, "cubic")
	assert.Regexp(t, `^\d+(\.\d+)?/\d+(\.\d+)?$`, ours["rtt"])
	assert.Equal(t, n, ours["bytes_acked"])
	assert.Equal(t, n, ours["bytes_received"])
	rfc := rfcFields(t, info[1])
	assert.Equal(t, "ESTABLISHED", rfc["state"])
	for _, k := range []string{"snd.una", "snd.nxt", "snd.wnd", "rcv.nxt", "rcv.wnd", "iss", "irs"} {
		_, err := strconv.ParseUint(rfc[k], 10, 32)
		assert.NoError(t, err, "%s in %q", k, info[1])
	}

	// The kernel's end of the same connection, from its own ss.
	kout := string(h.run(t, "ss", "-tin", "dst", "10.77.0.2"))
	t.Logf("ss -tin:\n%s", kout)
	kheader, kinfo := ssBlock(t, kout, kernel, "10.77.0.2:7")
	assert.Equal(t, "ESTAB", strings.Fields(kheader)[0])
	require.NotEmpty(t, kinfo)
	theirs := ssFields(kinfo[0])
	assert.Equal(t, theirs["bytes_received"], ours["bytes_acked"], "what the kernel received, tinytcp saw acknowledged")
	assert.Equal(t, theirs["bytes_sent"], ours["bytes_received"], "what the kernel sent, tinytcp received")
	if ws, ok := theirs["wscale"]; ok {
		a, b, _ := strings.Cut(ws, ",")
		assert.Equal(t, b+","+a, ours["wscale"], "the two ends' window scales, crossed")
	}

	// --json: the same entry, for machines.
	var table demo.Table
	require.NoError(t, json.Unmarshal(h.run(t, binary, "ss", "--dev", dev, "--json"), &table))
	assert.Equal(t, dev, table.Dev)
	var sk *demo.Socket
	for i := range table.Connections {
		if table.Connections[i].Remote == kernel {
			sk = &table.Connections[i]
		}
	}
	require.NotNil(t, sk, "the kernel's connection in %+v", table)
	assert.Equal(t, "ESTABLISHED", sk.State)
	assert.Equal(t, "10.77.0.2:7", sk.Local)
	require.NotNil(t, sk.TCB)
	assert.Equal(t, uint64(len(msg)), sk.TCB.BytesAcked)
	assert.Positive(t, sk.TCB.RTT)
	assert.Equal(t, rfc["snd.nxt"], strconv.FormatUint(uint64(sk.TCB.SndNXT), 10))

	// -l: the listeners with their backlog; --metrics: the same table
	// over HTTP.
	listen := string(h.run(t, binary, "ss", "--dev", dev, "-l"))
	lheader, _ := ssBlock(t, listen, "10.77.0.2:7", "0.0.0.0:*")
	assert.Equal(t, []string{"LISTEN", "0", "128"}, strings.Fields(lheader)[:3])
	assert.NotContains(t, listen, "ESTAB")
	viaHTTP := string(h.run(t, binary, "ss", "--metrics", "127.0.0.1:9100", "-tin"))
	ssBlock(t, viaHTTP, "10.77.0.2:7", kernel)

	// Ctrl-C, with the echo connection still open, exits and removes the
	// socket and the namespace's directory.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "the control socket is removed")
	_, err = os.Stat(filepath.Dir(path))
	assert.ErrorIs(t, err, os.ErrNotExist, "the namespace's directory is removed")
}

func TestSSWithoutUpNamesTheSocket(t *testing.T) {
	t.Parallel()
	ns := netns.New(t)
	_, err := (&host{ns: ns}).command(t, binary, "ss", "--dev", "nothing0")
	require.Error(t, err)
	assert.Regexp(t, regexp.MustCompile(`no tinytcp up is running on nothing0 here: /run/tinytcp/netns-\d+/nothing0\.sock does not exist`), err.Error())
}
