package demo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"

	"tinytcp/stack"
	"tinytcp/tun"
)

// The defaults of the contract in DESIGN.md: device tinytcp0, the kernel at
// 10.77.0.1/24, the stack answering as 10.77.0.2.
var (
	DefaultPeer = netip.MustParsePrefix("10.77.0.1/24")
	DefaultAddr = netip.MustParseAddr("10.77.0.2")
)

// HostConfig says how to bring a tinytcp host up on a TUN device.
type HostConfig struct {
	Driver string       // "wireguard" (default), "water" or "offload" (super-packets; no impairment or capture)
	Dev    string       // interface name; default "tinytcp0"
	Addr   netip.Addr   // the stack's address; default 10.77.0.2
	Peer   netip.Prefix // the kernel side's address and prefix; default 10.77.0.1/24
	MTU    int          // default 1500

	Impair    tun.ImpairConfig // link impairments, applied both ways
	PcapFile  string           // write a capture of what the stack sent and received
	Trace     io.Writer        // segment trace
	Logger    *slog.Logger
	StackTune func(*stack.Config) // optional last word on the stack's settings

	// StopAndWait makes every connection send one segment at a time
	// (tcp.Config.StopAndWait), to compare with the sliding window.
	StopAndWait bool
	// Congestion names every connection's congestion control
	// (tcp.Config.Congestion); empty for the default, CUBIC.
	Congestion string

	// Control is the path of the control socket Up serves for `tinytcp
	// ss` (control.go): "" for ControlPath(Dev), "none" for none. Metrics
	// is the address of Up's metrics server (metrics.go), "" for none.
	// OpenHost ignores both.
	Control, Metrics string
}

func (c *HostConfig) setDefaults() {
	if c.Dev == "" {
		c.Dev = "tinytcp0"
	}
	if !c.Addr.IsValid() {
		c.Addr = DefaultAddr
	}
	if !c.Peer.IsValid() {
		c.Peer = DefaultPeer
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// validate checks that the stack's address sits in the kernel's prefix but
// is not the kernel's own address: the stack's address must not be on the
// device, or the kernel would keep the traffic for itself.
func (c *HostConfig) validate() error {
	if !c.Addr.Is4() || !c.Peer.Addr().Is4() {
		return fmt.Errorf("only IPv4 is supported (addr %v, peer %v)", c.Addr, c.Peer)
	}
	if !c.Peer.Contains(c.Addr) {
		return fmt.Errorf("the stack address %v is outside the kernel-side prefix %v: choose --addr inside it", c.Addr, c.Peer)
	}
	if c.Peer.Addr() == c.Addr {
		return fmt.Errorf("the stack address %v is the kernel's own address: choose a different --addr", c.Addr)
	}
	if c.Driver == tun.DriverOffload && (c.Impair != (tun.ImpairConfig{Seed: c.Impair.Seed}) || c.PcapFile != "") {
		return errors.New("the offload driver carries 64 KiB super-packets, which link impairments and --pcap do not handle: use the default driver with them")
	}
	return nil
}

// Host is a running tinytcp host: a TUN device, its middlewares and a stack.
type Host struct {
	Stack  *stack.Stack
	Config HostConfig
	pcap   *os.File
	pcapW  *bufio.Writer
}

// OpenHost creates the device and starts a stack on it. On failure nothing
// is left behind.
func OpenHost(cfg HostConfig) (*Host, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dev, err := tun.Open(tun.Config{Driver: cfg.Driver, Name: cfg.Dev, Peer: cfg.Peer, MTU: cfg.MTU})
	if err != nil {
		return nil, err
	}
	h := &Host{Config: cfg}
	if cfg.Driver == tun.DriverOffload {
		// The stack must see the offload device itself (stack/offload.go):
		// a middleware would hand it super-packets as plain ones.
		if err := h.start(dev); err != nil {
			return nil, err
		}
		return h, nil
	}
	dev = tun.NewImpair(dev, cfg.Impair)
	if cfg.PcapFile != "" {
		f, err := os.Create(cfg.PcapFile)
		if err != nil {
			dev.Close()
			return nil, fmt.Errorf("creating the capture file: %w", err)
		}
		h.pcap = f
		h.pcapW = bufio.NewWriterSize(f, 1<<20)
		pdev, err := tun.NewPcap(dev, h.pcapW)
		if err != nil {
			dev.Close()
			f.Close()
			return nil, fmt.Errorf("starting the capture: %w", err)
		}
		dev = pdev
	}
	if err := h.start(dev); err != nil {
		return nil, err
	}
	return h, nil
}

// start starts the stack on dev; on failure it closes dev and the capture.
func (h *Host) start(dev tun.Device) error {
	cfg := h.Config
	scfg := stack.Config{Device: dev, Addr: cfg.Addr, Trace: cfg.Trace, Logger: cfg.Logger}
	scfg.TCP.StopAndWait = cfg.StopAndWait
	scfg.TCP.Congestion = cfg.Congestion
	if cfg.StackTune != nil {
		cfg.StackTune(&scfg)
	}
	s, err := stack.New(scfg)
	if err != nil {
		dev.Close()
		h.closePcap()
		return err
	}
	h.Stack = s
	return nil
}

// Close stops the stack and removes the device.
func (h *Host) Close() error {
	err := h.Stack.Close()
	return errors.Join(err, h.closePcap())
}

func (h *Host) closePcap() error {
	if h.pcap == nil {
		return nil
	}
	return errors.Join(h.pcapW.Flush(), h.pcap.Close())
}
