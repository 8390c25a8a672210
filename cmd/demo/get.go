package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
)

// Get brings a host up, fetches url over HTTP with the stack as the client
// (an active open to the kernel side), copies the body to w and removes
// everything. A status other than 200 is an error.
func Get(ctx context.Context, cfg HostConfig, url string, w io.Writer) error {
	h, err := OpenHost(cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, fmt.Errorf("tinytcp dials IPv4 addresses only, not %q: %w", addr, err)
			}
			return h.Stack.Dial(ctx, ap)
		},
		DisableKeepAlives: true,
		Proxy:             nil,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	return nil
}
