package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"tinytcp/tests/netns"
)

// The tinytcp binary itself, run as a user would: `tinytcp up` in a fresh
// namespace, curl, ping and tshark against it, Ctrl-C (SIGTERM), and the
// error messages of a setup that cannot work.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tinytcp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by everyone: one test runs the binary as an unprivileged user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tinytcp")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-race", "-o", binary, "tinytcp/cmd/tinytcp")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tinytcp:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startUp runs `tinytcp up ARGS...` in ns and waits for its ready line.
func startUp(t *testing.T, ns *netns.NS, args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"up"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, ns.Do(cmd.Start))
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			// SIGTERM first, so it removes what it made (its control
			// socket under /run/tinytcp); SIGKILL if it does not exit.
			cmd.Process.Signal(syscall.SIGTERM) // our own child, by PID
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }() //nolint:errcheck
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
	})
	var out syncBuffer
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "ready;") {
				ready <- nil
				io.Copy(&out, stdout) //nolint:errcheck
				return
			}
		}
		ready <- fmt.Errorf("tinytcp up exited before it was ready: %s", stderr.String())
	}()
	select {
	case err := <-ready:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("tinytcp up not ready after 30s; stderr: %s", stderr.String())
	}
	return cmd, &out, &stderr
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func inNS(t *testing.T, ns *netns.NS, name string, args ...string) []byte {
	t.Helper()
	return (&host{ns: ns}).run(t, name, args...)
}

// checkPcap opens a capture with tshark, checksum validation on, and fails
// on malformed packets or bad checksums.
func checkPcap(t *testing.T, file string) {
	t.Helper()
	all, err := exec.Command("tshark", "-n", "-r", file).CombinedOutput()
	require.NoError(t, err, "tshark -r: %s", all)
	lines := strings.Count(string(all), "\n")
	assert.Positive(t, lines, "the capture has packets")
	bad, err := exec.Command("tshark", "-n", "-r", file,
		"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-Y", "_ws.malformed || ip.checksum.status == 2 || tcp.checksum.status == 2 || icmp.checksum.status == 2").Output()
	require.NoError(t, err, "tshark: %s", bad)
	assert.Empty(t, strings.TrimSpace(string(bad)), "malformed packets or bad checksums in the capture")
	t.Logf("%s: %d packets, none malformed", filepath.Base(file), lines)
}

func TestCLIUpServesCurlPingAndCleansUp(t *testing.T) {
	t.Parallel()
	ns := netns.New(t)
	pcap := filepath.Join(t.TempDir(), "up.pcap")
	cmd, out, stderr := startUp(t, ns, "--pcap", pcap)
	assert.Contains(t, out.String(), "curl http://10.77.0.2/")

	page := string(inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "30", stackURL+"/"))
	assert.Contains(t, page, "Served by tinytcp")

	file := filepath.Join(t.TempDir(), "bytes")
	inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "240", "-o", file, stackURL+"/bytes?n=50000000")
	f, err := os.Open(file)
	require.NoError(t, err)
	checkPattern(t, f, 50_000_000)
	f.Close()

	up := make([]byte, 50_000_000)
	_, err = rand.Read(up)
	require.NoError(t, err)
	upFile := filepath.Join(t.TempDir(), "upload")
	require.NoError(t, os.WriteFile(upFile, up, 0o600))
	sum := sha256.Sum256(up)
	got := string(inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "240", "--data-binary", "@"+upFile, stackURL+"/upload"))
	assert.Equal(t, fmt.Sprintf("bytes=50000000 sha256=%s\n", hex.EncodeToString(sum[:])), got)

	assert.Contains(t, string(inNS(t, ns, "ping", "-c", "2", "-i", "0.2", "-W", "5", "10.77.0.2")), "2 received")

	// Ctrl-C: the process exits cleanly and the device is gone.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
	assert.Contains(t, out.String(), "stopped")
	require.NoError(t, ns.Do(func() error {
		_, err := netlink.LinkByName("tinytcp0")
		if !errors.As(err, new(netlink.LinkNotFoundError)) {
			return fmt.Errorf("tinytcp0 still there after SIGTERM (err %v)", err)
		}
		return nil
	}))
	checkPcap(t, pcap)
}

func TestCLIGetFromKernelServer(t *testing.T) {
	t.Parallel()
	ns := netns.New(t)
	body := make([]byte, 5_000_000)
	_, err := rand.Read(body)
	require.NoError(t, err)
	var l net.Listener
	require.NoError(t, ns.Do(func() error {
		var err error
		l, err = net.Listen("tcp4", "0.0.0.0:8080")
		return err
	}))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/file" {
			http.NotFound(w, r)
			return
		}
		w.Write(body) //nolint:errcheck
	})}
	go srv.Serve(l)                                          //nolint:errcheck
	t.Cleanup(func() { srv.Shutdown(context.Background()) }) //nolint:errcheck

	pcap := filepath.Join(t.TempDir(), "get.pcap")
	out := (&host{ns: ns}).run(t, binary, "get", "--timeout", "2m", "--pcap", pcap, "http://10.77.0.1:8080/file")
	assert.True(t, bytes.Equal(body, out), "got %d bytes, want the %d served", len(out), len(body))
	checkPcap(t, pcap)

	// A status other than 200 is a failure with a non-zero exit.
	_, err = (&host{ns: ns}).command(t, binary, "get", "--timeout", "1m", "http://10.77.0.1:8080/missing")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404")
}

func TestCLISetupErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func() error
		args  []string
		uid   uint32
		want  string
	}{
		{
			name:  "name taken",
			setup: func() error { return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "tinytcp0"}}) },
			want:  "already exists",
		},
		{
			name: "address in use",
			setup: func() error {
				// A bridge: this kernel may lack the dummy link type.
				d := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "other0"}}
				if err := netlink.LinkAdd(d); err != nil {
					return err
				}
				a, _ := netlink.ParseAddr("10.77.0.1/24")
				return netlink.AddrAdd(d, a)
			},
			want: "already assigned",
		},
		{name: "not root", uid: 65534, want: "root"},
		{name: "stack address on the kernel side", args: []string{"--addr", "10.77.0.1"}, want: "kernel's own address"},
		{name: "bad flag value", args: []string{"--drop-chance", "150"}, want: "percentage"},
		{name: "unknown congestion control", args: []string{"--congestion", "vegas"}, want: "vegas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := netns.New(t)
			if tc.setup != nil {
				require.NoError(t, ns.Do(tc.setup))
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, append([]string{"up"}, tc.args...)...)
			if tc.uid != 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tc.uid, Gid: tc.uid}}
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, ns.Do(cmd.Start))
			err := cmd.Wait()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "tinytcp up must fail; stderr: %s", stderr.String())
			assert.NotZero(t, exit.ExitCode())
			assert.Contains(t, stderr.String(), tc.want)
			// Nothing left behind: no TUN device named tinytcp0.
			require.NoError(t, ns.Do(func() error {
				l, err := netlink.LinkByName("tinytcp0")
				if err == nil && l.Type() == "tuntap" {
					return fmt.Errorf("a TUN device tinytcp0 was left behind")
				}
				return nil
			}))
		})
	}
}
