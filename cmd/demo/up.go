package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	"tinytcp/stack"
)

// Up brings a host up and serves echo, discard, the byte source and HTTP on
// it until ctx is done, then removes everything. It writes what it serves
// and how to reach it to out.
func Up(ctx context.Context, cfg HostConfig, out io.Writer) error {
	h, err := OpenHost(cfg)
	if err != nil {
		return err
	}
	cfg = h.Config
	stop, err := Serve(h.Stack, cfg.Logger)
	if err != nil {
		h.Close()
		return err
	}
	inst, err := startUpInstruments(h)
	if err != nil {
		stop()
		h.Close()
		return err
	}
	sender := inst.describe(cfg)
	if cfg.StopAndWait {
		sender += "  stop-and-wait: every connection sends one segment, then waits for its ACK\n"
	}
	fmt.Fprintf(out, `tinytcp is up on %s (driver %s, MTU %d)
  kernel side %v, tinytcp answers as %v
  serving: tcp/%d echo, tcp/%d discard, tcp/%d byte source, tcp/%d http, icmp echo,
           udp/%d echo, udp/%d discard
%stry:
  curl http://%v/
  ping %v
ready; press Ctrl-C to stop and remove %s
`, cfg.Dev, driverName(cfg.Driver), cfg.MTU, cfg.Peer, cfg.Addr,
		PortEcho, PortDiscard, PortSource, PortHTTP, PortEcho, PortDiscard, sender, cfg.Addr, cfg.Addr, cfg.Dev)
	<-ctx.Done()
	inst.Close()
	// The stack first: closing it resets the connections still open, so
	// the services' handlers return and stop does not wait for peers that
	// keep a connection open (an idle echo client would hang Ctrl-C).
	err = h.Close()
	stop()
	fmt.Fprintf(out, "stopped; %s removed\n", cfg.Dev)
	return err
}

func driverName(d string) string {
	if d == "" {
		return "wireguard"
	}
	return d
}

// Serve starts the demo services on s, TCP and UDP (udp.go). The returned
// function stops them and waits until they are gone.
func Serve(s *stack.Stack, log interface {
	Error(msg string, args ...any)
}) (stop func(), err error) {
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, port := range []uint16{PortEcho, PortDiscard, PortSource, PortHTTP} {
		l, err := s.Listen(port)
		if err != nil {
			closeAll()
			return nil, err
		}
		listeners = append(listeners, l)
	}
	stopUDP, err := serveUDP(s)
	if err != nil {
		closeAll()
		return nil, err
	}
	srv := NewHTTPServer()
	var wg sync.WaitGroup
	for i, handle := range []func(net.Conn){Echo, Discard, Source} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveEach(listeners[i], handle, log)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(listeners[3]); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	return func() {
		srv.Close()
		closeAll()
		stopUDP()
		wg.Wait()
	}, nil
}
