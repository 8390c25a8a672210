package stack_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"tinytcp/stack"
	"tinytcp/tcp"
	"tinytcp/tun"
)

// Two stacks joined by an in-memory link: the settings of RFC 9293's user
// interface, per listener (tcp.Config) and per connection (the setters, as
// on *net.TCPConn).
func ExampleStack_ListenWith() {
	da, db := tun.Pipe(1500)
	client, _ := stack.New(stack.Config{Device: da, Addr: netip.MustParseAddr("10.0.0.1")})
	defer client.Close()
	server, _ := stack.New(stack.Config{Device: db, Addr: netip.MustParseAddr("10.0.0.2")})
	defer server.Close()

	// Every connection this listener accepts starts with these settings.
	l, _ := server.ListenWith(7, 0, &tcp.Config{
		NoDelay:        true,             // Nagle off (MUST-17)
		RecvBufferSize: 64 << 10,         // the largest window it offers
		UserTimeout:    30 * time.Second, // R2 as a time (MUST-21)
		KeepAlive:      tcp.KeepAlive{Enabled: true, Idle: time.Minute},
		IP:             tcp.IPFields{TTL: 32, DSCP: 46},
	})
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.Copy(c, c) // echo
			c.Close()
		}
	}()

	c, _ := client.Dial(context.Background(), netip.MustParseAddrPort("10.0.0.2:7"))
	// And these are set on one connection.
	c.SetNoDelay(true)
	c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Hour, Interval: time.Minute, Count: 5})
	c.SetUserTimeout(time.Minute)
	c.SetDSCP(10)
	c.SetLinger(5) // Close waits up to 5 s for everything to be acknowledged

	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(c, buf)
	c.CloseWrite()
	io.Copy(io.Discard, c)
	fmt.Printf("echoed %q; user timeout %v\n", buf, c.Info().UserTimeout)
	c.Close()
	fmt.Println("after a lingering Close:", c.State())
	// Output:
	// echoed "hello"; user timeout 1m0s
	// after a lingering Close: TIME-WAIT
}
