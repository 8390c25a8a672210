package e2e

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/tests/netns"
)

// The instruments against a live connection with the kernel: `tinytcp
// ladder` and `up --trace=ladder` draw a real handshake and close as RFC
// 9293's figures do, and `tinytcp plot` draws the time-sequence graph of a
// lossy download, which headless Chromium then renders. The captures are
// also read with gopacket, independently of tinytcp's parsers, to check the
// numbers the instruments print.

// The lines of RFC 9293 Figure 6 and Figure 12 (a normal close, the
// kernel's curl closing first) as `tinytcp ladder` prints them, with A the
// kernel's curl and B tinytcp's HTTP server.
var (
	ladderHandshake = []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ +1\. +CLOSED +LISTEN$`),
		regexp.MustCompile(`(?m)^ +2\. +SYN-SENT +--> <SEQ=100><CTL=SYN> +--> SYN-RECEIVED$`),
		regexp.MustCompile(`(?m)^ +3\. +ESTABLISHED +<-- <SEQ=300><ACK=101><CTL=SYN,ACK> +<-- SYN-RECEIVED$`),
		regexp.MustCompile(`(?m)^ +4\. +ESTABLISHED +--> <SEQ=101><ACK=301><CTL=ACK> +--> ESTABLISHED$`),
	}
	ladderClose = []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ +\d+\. +\(Close\)\n +FIN-WAIT-1 +--> <SEQ=\d+><ACK=\d+><CTL=FIN,ACK> +--> CLOSE-WAIT$`),
		regexp.MustCompile(`(?m)^ +TIME-WAIT +<-- <SEQ=\d+><ACK=\d+><CTL=FIN,ACK> +<-- LAST-ACK$`),
		regexp.MustCompile(`(?m)^ +\d+\. +TIME-WAIT +--> <SEQ=\d+><ACK=\d+><CTL=ACK> +--> CLOSED$`),
	}
	// The "..." line and A's FIN, to check against gopacket's count.
	ladderSkipped = regexp.MustCompile(`\.\.\. +\((\d+) segments?: (\d+) bytes A>B, (\d+) bytes B>A`)
	ladderFinA    = regexp.MustCompile(`FIN-WAIT-1 +--> <SEQ=(\d+)>`)
	ladderNumbers = regexp.MustCompile(`(?m)^ *\d+\. `)
)

func TestLadderOfKernelHandshakeAndClose(t *testing.T) {
	t.Parallel()
	ns := netns.New(t)
	pcap := filepath.Join(t.TempDir(), "up.pcap")
	cmd, _, stderr := startUp(t, ns, "--pcap", pcap, "--trace=ladder")
	inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "30", stackURL+"/")

	// The live ladder: the handshake at once, the close when tinytcp's FIN
	// is acknowledged, soon after curl exits.
	lastACK := regexp.MustCompile(`(?m)^#1 +\d+\. +TIME-WAIT +--> .*<CTL=ACK> +--> CLOSED$`)
	deadline := time.Now().Add(10 * time.Second)
	for !lastACK.MatchString(stderr.String()) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	live := stderr.String()
	t.Logf("up --trace=ladder:\n%s", live)
	for _, re := range append(ladderHandshake, ladderClose...) {
		live := regexp.MustCompile(`(?m)^#1 `).ReplaceAllString(live, "")
		assert.Regexp(t, re, live, "the live ladder")
	}
	assert.NotContains(t, live, "Flags [", "--trace=ladder prints no segment trace")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())

	out, err := exec.Command(binary, "ladder", pcap).CombinedOutput()
	require.NoError(t, err, "tinytcp ladder: %s", out)
	ladder := string(out)
	t.Logf("tinytcp ladder:\n%s", ladder)
	for _, re := range append(ladderHandshake, ladderClose...) {
		assert.Regexp(t, re, ladder)
	}
	assert.Regexp(t, `(?m)^ +\d+\. +\(2 MSL\)\n +CLOSED +CLOSED$`, ladder)

	// gopacket's count of the same capture: every segment is on a numbered
	// line or counted on the "..." line, and A's FIN sits just past the
	// bytes A sent (ISN shown as 100, so the FIN is 101 + bytes).
	segs, bytesA, bytesB := countSegments(t, pcap, 80)
	m := ladderSkipped.FindStringSubmatch(ladder)
	require.NotNil(t, m, "a ... line")
	skipped, _ := strconv.Atoi(m[1])
	shown := len(ladderNumbers.FindAllString(ladder, -1)) - 2 // line 1 and "(2 MSL)" are no segments
	assert.Equal(t, segs, skipped+shown, "segments in the ladder, numbered and counted, against gopacket's count")
	assert.Equal(t, strconv.Itoa(bytesB), m[3], "bytes B>A")
	fin := ladderFinA.FindStringSubmatch(ladder)
	require.NotNil(t, fin)
	assert.Equal(t, strconv.Itoa(101+bytesA), fin[1], "A's FIN after its %d bytes", bytesA)
}

// countSegments reads a capture with gopacket and returns the TCP segments
// to or from port, and the payload bytes sent to it and from it.
func countSegments(t *testing.T, file string, port layers.TCPPort) (segs, toPort, fromPort int) {
	t.Helper()
	forEachTCP(t, file, func(tcp *layers.TCP, _ time.Time) {
		switch port {
		case tcp.DstPort:
			toPort += len(tcp.Payload)
		case tcp.SrcPort:
			fromPort += len(tcp.Payload)
		default:
			return
		}
		segs++
	})
	return segs, toPort, fromPort
}

// forEachTCP calls f for every TCP segment of a raw-IP capture, decoded by
// gopacket.
func forEachTCP(t *testing.T, file string, f func(*layers.TCP, time.Time)) {
	t.Helper()
	fh, err := os.Open(file)
	require.NoError(t, err)
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	require.NoError(t, err)
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
		pkt := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		if tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			f(tcp, ci.Timestamp)
		}
	}
}

// plotBytes is the download the graph shows: some 2,000 segments, enough
// for a few dozen losses at 2 %.
const plotBytes = 3_000_000

// The colours svg.go draws with, as the screenshot must show them.
var plotColours = []struct {
	name    string
	r, g, b uint8
	min     int // pixels at least
}{
	{"data ticks", 0x1f, 0x3f, 0x9f, 200},
	{"retransmission marks", 0xd6, 0x27, 0x28, 60},
	{"ACK line", 0x2c, 0xa0, 0x2c, 300},
	{"window line", 0xc4, 0x9a, 0x00, 300},
	{"SACK blocks", 0x8e, 0x44, 0xad, 20},
}

func TestPlotOfLossyDownloadRendersInChromium(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	ns := netns.New(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "up.pcap")
	cmd, _, stderr := startUp(t, ns, "--drop-chance", "2", "--pcap", pcap)
	file := filepath.Join(dir, "bytes")
	inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "120", "-o", file, fmt.Sprintf("%s/bytes?n=%d", stackURL, plotBytes))
	f, err := os.Open(file)
	require.NoError(t, err)
	checkPattern(t, f, plotBytes)
	f.Close()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())

	list, err := exec.Command(binary, "plot", "--list", pcap).CombinedOutput()
	require.NoError(t, err, "%s", list)
	assert.Equal(t, 1, strings.Count(string(list), "\n"), "one connection: %s", list)

	svg := filepath.Join(dir, "seq.svg")
	out, err := exec.Command(binary, "plot", pcap, "-o", svg).CombinedOutput()
	require.NoError(t, err, "tinytcp plot: %s", out)
	t.Logf("tinytcp plot: %s", out)

	// The retransmissions, counted by gopacket as the plot defines them: a
	// data segment from the server starting below the highest sequence
	// number it had sent.
	var retransmits, sent int
	var sndMax uint32
	forEachTCP(t, pcap, func(tcp *layers.TCP, _ time.Time) {
		if tcp.SrcPort != 80 || (len(tcp.Payload) == 0 && !tcp.SYN && !tcp.FIN) {
			return
		}
		end := tcp.Seq + uint32(len(tcp.Payload))
		if tcp.SYN || tcp.FIN {
			end++
		}
		if sent > 0 && int32(tcp.Seq-sndMax) < 0 {
			retransmits++
		}
		if sent == 0 || int32(end-sndMax) > 0 {
			sndMax = end
		}
		sent++
	})
	require.Positive(t, retransmits, "2%% loss on %d segments retransmits some", sent)
	assert.Contains(t, string(out), fmt.Sprintf("%d segments, %d retransmitted", sent, retransmits), "the plot's counts against gopacket's")

	// Well-formed XML of a sane size, whatever the segment count.
	data, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.Less(t, len(data), 1<<20, "SVG size")
	dec := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the SVG is XML")
	}

	// The browser: a screenshot with every element's colour on it.
	shot := filepath.Join(dir, "seq.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	browser := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "chromium"), "--window-size=1200,800", "--screenshot="+shot, "file://"+svg)
	msg, err := browser.CombinedOutput()
	require.NoError(t, err, "chromium: %s", msg)
	img := readPNG(t, shot)
	require.Equal(t, image.Rect(0, 0, 1200, 800), img.Bounds(), "screenshot size")
	assert.Greater(t, luminanceStdDev(img), 10.0, "the screenshot is not blank")
	for _, c := range plotColours {
		n := countNear(img, c.r, c.g, c.b)
		t.Logf("%s: %d pixels", c.name, n)
		assert.GreaterOrEqual(t, n, c.min, "pixels of the %s colour in the screenshot", c.name)
	}
	if keep := os.Getenv("TINYTCP_PLOT_PNG"); keep != "" {
		png, err := os.ReadFile(shot)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(keep, png, 0o644))
		require.NoError(t, os.WriteFile(strings.TrimSuffix(keep, ".png")+".svg", data, 0o644))
	}
}

// findChromium returns the path of a Chromium binary. .ci/run installs
// one, so its absence fails the test rather than skipping it.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium to render the SVG in: apt-get install chromium (.ci/run installs it)")
	return ""
}

func readPNG(t *testing.T, file string) image.Image {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	return img
}

// luminanceStdDev is the standard deviation of the image's grey levels: 0
// for a blank page.
func luminanceStdDev(img image.Image) float64 {
	var sum, sq, n float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			sum += l
			sq += l * l
			n++
		}
	}
	mean := sum / n
	return math.Sqrt(sq/n - mean*mean)
}

// countNear counts the pixels within a small distance of a colour, so that
// anti-aliased edges count but other elements' colours do not.
func countNear(img image.Image, r, g, b uint8) int {
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			dr := float64(pr>>8) - float64(r)
			dg := float64(pg>>8) - float64(g)
			db := float64(pb>>8) - float64(b)
			if dr*dr+dg*dg+db*db < 30*30 {
				n++
			}
		}
	}
	return n
}
