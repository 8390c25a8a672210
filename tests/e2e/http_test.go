package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCurlIndexPage(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	out := string(h.run(t, "curl", "-sS", "--fail", "--max-time", "30", stackURL+"/"))
	assert.Contains(t, out, "Served by tinytcp")
	assert.Contains(t, out, "ESTABLISHED", "the page shows the state of the very connection")
	assert.Contains(t, out, "10.77.0.2:80")
}

func TestCurlDownload50MB(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	const n = 50_000_000
	file := filepath.Join(t.TempDir(), "bytes")
	h.run(t, "curl", "-sS", "--fail", "--max-time", "240", "-o", file, fmt.Sprintf("%s/bytes?n=%d", stackURL, n))
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	checkPattern(t, f, n)
}

func TestCurlUpload50MB(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	data := make([]byte, 50_000_000)
	_, err := rand.Read(data)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "upload")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	out := h.run(t, "curl", "-sS", "--fail", "--max-time", "240", "--data-binary", "@"+file, stackURL+"/upload")
	sum := sha256.Sum256(data)
	assert.Equal(t, fmt.Sprintf("bytes=%d sha256=%s\n", len(data), hex.EncodeToString(sum[:])), string(out))
}

func TestGoClientDownloadAndSmallBodies(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	client := h.httpClient()
	for _, n := range []int64{0, 1, 250, 251, 252, 1460, 65535, 65536, 1 << 20} {
		resp, err := client.Get(fmt.Sprintf("%s/bytes?n=%d", stackURL, n))
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		checkPattern(t, resp.Body, n)
		resp.Body.Close()
	}
	resp, err := client.Get(stackURL + "/bytes?n=-1")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
}

func TestManySequentialConnections(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	client := h.httpClient()
	for i := 0; i < 300; i++ {
		resp, err := client.Post(stackURL+"/upload", "text/plain", strings.NewReader(fmt.Sprint(i)))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		require.Equal(t, fmt.Sprintf("bytes=%d sha256=%s\n", len(fmt.Sprint(i)), hex.EncodeToString(sum[:])), string(body))
	}
	assert.Equal(t, uint64(300), h.h.Stack.Counters.Get("tcp.PassiveConnectionOpenings"))
	assert.Zero(t, h.h.Stack.Counters.Get("tcp.ChecksumErrors"))
}

func TestEchoAndClientCloses(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	c := h.dial(t, "10.77.0.2:7")
	msg := bytes.Repeat([]byte("echo through a hand-written TCP\n"), 100_000)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.True(t, bytes.Equal(msg, got))
	// The client (the kernel) closes its sending side first; the echo
	// server sees EOF, closes too, and the client reads EOF.
	require.NoError(t, c.(interface{ CloseWrite() error }).CloseWrite())
	rest, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Empty(t, rest)
}

func TestServerClosesFirst(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	// HTTP/1.0 without keep-alive: the server closes after the response.
	c := h.dial(t, "10.77.0.2:80")
	_, err := c.Write([]byte("GET /bytes?n=100000 HTTP/1.0\r\n\r\n"))
	require.NoError(t, err)
	all, err := io.ReadAll(c)
	require.NoError(t, err, "the kernel reads the response to EOF after tinytcp's FIN")
	i := bytes.Index(all, []byte("\r\n\r\n"))
	require.Positive(t, i)
	checkPattern(t, bytes.NewReader(all[i+4:]), 100000)
}

func TestDiscardAndSource(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	d := h.dial(t, "10.77.0.2:9")
	_, err := d.Write(make([]byte, 5<<20))
	require.NoError(t, err)
	require.NoError(t, d.Close())

	s := h.dial(t, "10.77.0.2:19")
	checkPattern(t, io.LimitReader(s, 3<<20), 3<<20)
	require.NoError(t, s.Close())
}

func TestPing(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	out := string(h.run(t, "ping", "-c", "3", "-i", "0.2", "-W", "5", "10.77.0.2"))
	assert.Contains(t, out, "3 received")
	assert.GreaterOrEqual(t, h.h.Stack.Counters.Get("icmp.EchoReplySent"), uint64(3))
}
