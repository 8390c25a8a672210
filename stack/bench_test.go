package stack_test

import (
	"io"
	"testing"

	"tinytcp/tcp"
)

// BenchmarkStackTransfer is the whole data path on one machine: a bulk
// stream between two stacks over the in-memory pipe (tun.Pipe), device
// loop, demultiplexing, checksums, both TCBs and the net.Conn API
// included. One op is one full-sized segment (1448 bytes of payload beside
// the timestamps); ns/op is the time per segment for sender and receiver
// together, on two cores. No system call is involved.
func BenchmarkStackTransfer(b *testing.B) {
	const segment = tcp.DefaultMSS - 12
	a, c := stackPair(b)
	d, acc := connPair(b, a, c, 9)
	defer d.Close()
	defer acc.Close()
	total := int64(b.N) * segment
	chunk := make([]byte, 64<<10)
	buf := make([]byte, 64<<10)
	b.SetBytes(segment)
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		for left := total; left > 0; {
			n, err := d.Write(chunk[:min(left, int64(len(chunk)))])
			if err != nil {
				errc <- err
				return
			}
			left -= int64(n)
		}
		errc <- nil
	}()
	if _, err := io.CopyBuffer(io.Discard, io.LimitReader(acc, total), buf); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}
