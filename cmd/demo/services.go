// Package demo is what `tinytcp up` serves and how `tinytcp get` fetches:
// the classic small services of RFC 862 (echo, port 7), RFC 863 (discard,
// port 9) and a byte source on port 19 in the spirit of RFC 864 (chargen),
// plus an HTTP server on port 80, all on a tinytcp stack. The commands in
// cmd/tinytcp and the end-to-end tests both use it.
package demo

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Well-known ports of the demo services.
const (
	PortEcho    = 7
	PortDiscard = 9
	PortSource  = 19
	PortHTTP    = 80
)

// serveEach accepts connections on l and runs handle for each in its own
// goroutine until l is closed. It waits for the handlers before returning.
func serveEach(l net.Listener, handle func(net.Conn), log interface{ Error(string, ...any) }) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Error("accept failed", "addr", l.Addr(), "err", err)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			handle(c)
		}()
	}
}

// Echo sends back everything it receives (RFC 862), then closes when the
// peer does.
func Echo(c net.Conn) {
	io.Copy(c, c) //nolint:errcheck // the peer going away ends the service
}

// Discard reads and throws away everything (RFC 863).
func Discard(c net.Conn) {
	io.Copy(io.Discard, c) //nolint:errcheck
}

// Source writes the byte pattern of /bytes (byte i is i mod 251) until the
// peer closes the connection or stops reading and resets it.
func Source(c net.Conn) {
	done := make(chan struct{})
	go func() {
		// Anything the peer sends is ignored; its FIN or RST ends the
		// service.
		io.Copy(io.Discard, c) //nolint:errcheck
		close(done)
		c.Close()
	}()
	var p patternReader
	buf := make([]byte, 32<<10)
	for {
		select {
		case <-done:
			return
		default:
		}
		p.Read(buf) //nolint:errcheck // never fails
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// patternReader produces byte i = i mod 251 for i = 0, 1, 2, ...
// (251 is prime, so the pattern never lines up with power-of-two buffer
// sizes and a misplaced block shows up in a check).
type patternReader struct{ off int }

// patternPeriod is the length of the repeating pattern.
const patternPeriod = 251

// patternBlock holds the pattern from 0 for long enough that any aligned
// slice of up to 64 KiB can be copied from it in one go.
var patternBlock = func() []byte {
	b := make([]byte, patternPeriod+64<<10)
	for i := range b {
		b[i] = byte(i % patternPeriod)
	}
	return b
}()

func (p *patternReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c := copy(b[n:], patternBlock[p.off%patternPeriod:])
		n += c
		p.off += c
	}
	return n, nil
}
