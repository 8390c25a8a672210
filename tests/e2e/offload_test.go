package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/cmd/demo"
	"tinytcp/tun"
)

// Offload mode against the kernel (tun/offload.go, stack/offload.go): the
// same 50 MB download and upload as http_test.go, through curl, with the
// stack on the "offload" TUN driver. The bytes must be identical, and the
// counters must show that super-packets crossed the device both ways: the
// stack handed the kernel segments of many MSS to cut (TSO), and the
// kernel handed the stack its own TSO packets whole. The ordinary
// checksum check must have dropped nothing: every packet the kernel sent
// either carried a partial checksum the device vouches for, or a full one.

func TestOffloadDownloadAndUpload(t *testing.T) {
	t.Parallel()
	h := upHost(t, func(c *demo.HostConfig) { c.Driver = tun.DriverOffload })
	const n = 50_000_000

	file := filepath.Join(t.TempDir(), "bytes")
	h.run(t, "curl", "-sS", "--fail", "--max-time", "240", "-o", file, fmt.Sprintf("%s/bytes?n=%d", stackURL, n))
	f, err := os.Open(file)
	require.NoError(t, err)
	checkPattern(t, f, n)
	f.Close()

	data := make([]byte, n)
	_, err = rand.Read(data)
	require.NoError(t, err)
	up := filepath.Join(t.TempDir(), "upload")
	require.NoError(t, os.WriteFile(up, data, 0o600))
	out := h.run(t, "curl", "-sS", "--fail", "--max-time", "240", "--data-binary", "@"+up, stackURL+"/upload")
	sum := sha256.Sum256(data)
	assert.Equal(t, fmt.Sprintf("bytes=%d sha256=%s\n", len(data), hex.EncodeToString(sum[:])), string(out))

	c := h.h.Stack.Counters.Snapshot()
	t.Logf("super-packets sent %d, received %d; packets sent %d, received %d",
		c["offload.SuperPacketsSent"], c["offload.SuperPacketsReceived"], c["ip.PacketsSent"], c["ip.PacketsReceived"])
	assert.Positive(t, c["offload.SuperPacketsSent"], "super-packets handed to the kernel")
	assert.Positive(t, c["offload.SuperPacketsReceived"], "super-packets from the kernel")
	assert.Less(t, c["ip.PacketsSent"], uint64(n/1460/4), "fewer packets than segments on the wire: the kernel cut them")
	assert.Zero(t, c["drop.tcp_bad_checksum"], "segments dropped for a bad checksum")
	assert.Zero(t, c["drop.packet_oversized"], "segments too large for the device")
}

// The offload driver refuses impairments and captures, which cannot handle
// super-packets, instead of silently corrupting them.
func TestOffloadRefusesMiddlewares(t *testing.T) {
	_, err := demo.OpenHost(demo.HostConfig{Driver: tun.DriverOffload, PcapFile: filepath.Join(t.TempDir(), "x.pcap")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "offload driver")
	_, err = demo.OpenHost(demo.HostConfig{Driver: tun.DriverOffload, Impair: tun.ImpairConfig{DropChance: 1}})
	require.Error(t, err)
}
