//go:build linux

// Open: creating and configuring the kernel side of the link, with netlink.
//
// Open checks before it creates (the name is free, the kernel-side address
// and its prefix are not used by any interface or route), so that a clash is
// reported in words the user can act on, and nothing is half-made. It then
// creates the TUN interface with the chosen driver and, in this order:
// turns IPv6 address generation off (so the kernel sends no router
// solicitations or other IPv6 chatter into the link: without a link-local
// address it has nothing to send them from), sets the MTU, adds the peer
// address (which also installs the connected route), and sets the link up.
// Any failure after creation closes the device; a TUN interface made
// without IFF_TUN_PERSIST disappears with its last file descriptor, so
// nothing is left behind, even after kill -9.
//
// Everything Open does runs on the calling goroutine, with its OS thread
// locked for the duration: /dev/net/tun and the netlink socket are opened on
// that thread, so the interface is made in the thread's network namespace. A
// caller that has locked its thread and moved it into another namespace
// (setns) gets the device in that namespace, and may use the device from any
// goroutine afterwards.
//
// Left out: IPv6 on the link (tinytcp speaks IPv4 only), persistence, and
// ownership for unprivileged use.

package tun

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Config says which interface Open creates and how the kernel side of it is
// configured. The zero value is the default setup: `tinytcp0` with
// 10.77.0.1/24, MTU 1500, wireguard backend.
type Config struct {
	Driver string       // "wireguard" (default), "water" or "offload" (offload.go)
	Name   string       // interface name, default "tinytcp0"
	Peer   netip.Prefix // address and prefix of the kernel side, default 10.77.0.1/24
	MTU    int          // default 1500
}

// The drivers Config.Driver names, and the values Config's zero fields
// stand for.
const (
	DriverWireguard = "wireguard"
	DriverWater     = "water"
	DefaultName     = "tinytcp0"
	DefaultMTU      = 1500
	DefaultPeer     = "10.77.0.1/24" // the kernel side's address and prefix
)

// drivers are the values Config.Driver may take.
var drivers = []string{DriverWireguard, DriverWater, DriverOffload}

// openOptions are the seams tests use; production code passes the zero value.
type openOptions struct {
	tunPath     string                  // clone device, default /dev/net/tun
	afterCreate func(name string) error // runs between creation and configuration
}

// Open creates the TUN interface cfg describes in the calling thread's
// network namespace, configures it and returns it. Its errors match
// ErrPermission, ErrNoTunDevice, ErrNameTaken, ErrAddressInUse or
// ErrInvalidConfig with errors.Is where one applies; their text says what to
// do. Closing the device removes the interface.
func Open(cfg Config) (Device, error) {
	return open(cfg, openOptions{})
}

// open is Open with the seams tests use.
func open(cfg Config, o openOptions) (Device, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.tunPath == "" {
		o.tunPath = tunCloneDevice
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("tun: opening a netlink socket: %w", err)
	}
	defer h.Close()

	if err := preflight(h, cfg); err != nil {
		return nil, err
	}

	var dev Device
	switch cfg.Driver {
	case DriverWater:
		dev, err = openWater(cfg.Name, cfg.MTU)
	case DriverOffload:
		dev, err = openOffload(o.tunPath, cfg.Name, cfg.MTU)
	default:
		dev, err = openWireguard(o.tunPath, cfg.Name, cfg.MTU)
	}
	if err != nil {
		return nil, err
	}
	if o.afterCreate != nil {
		err = o.afterCreate(cfg.Name)
	}
	if err == nil {
		err = configure(h, cfg)
	}
	if err != nil {
		dev.Close()
		return nil, err
	}
	return dev, nil
}

// withDefaults fills the zero fields and checks the rest.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Driver == "" {
		cfg.Driver = DriverWireguard
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if !cfg.Peer.IsValid() {
		cfg.Peer = netip.MustParsePrefix(DefaultPeer)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	bad := func(format string, args ...any) (Config, error) {
		return cfg, newSetupError(ErrInvalidConfig, nil, format, args...)
	}
	switch {
	case !slices.Contains(drivers, cfg.Driver):
		return bad("unknown TUN driver %q: use one of %q", cfg.Driver, drivers)
	case len(cfg.Name) >= unix.IFNAMSIZ || cfg.Name == "." || cfg.Name == ".." ||
		strings.ContainsAny(cfg.Name, "/: \t\n"):
		return bad("invalid interface name %q: at most %d characters, no '/', ':' or spaces", cfg.Name, unix.IFNAMSIZ-1)
	case !cfg.Peer.Addr().Is4() || cfg.Peer.Bits() < 1:
		return bad("peer %s is not an IPv4 address with a prefix length (like 10.77.0.1/24)", cfg.Peer)
	case !cfg.Peer.Addr().IsGlobalUnicast():
		return bad("peer %s is not a unicast address", cfg.Peer)
	case cfg.MTU < 68 || cfg.MTU > 65535:
		return bad("MTU %d out of range: IPv4 needs 68 to 65535", cfg.MTU)
	}
	return cfg, nil
}

// preflight checks that the name and the peer's prefix are free in the
// namespace, and names the interface that holds them if not.
func preflight(h *netlink.Handle, cfg Config) error {
	_, err := h.LinkByName(cfg.Name)
	if err == nil {
		return nameTaken(cfg.Name, nil)
	}
	var notFound netlink.LinkNotFoundError
	if !errors.As(err, &notFound) {
		return fmt.Errorf("tun: looking up %s: %w", cfg.Name, err)
	}

	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("tun: listing addresses: %w", err)
	}
	peer := cfg.Peer.Addr()
	for _, a := range addrs {
		if p, ok := toPrefix(a.IPNet); ok && p.Addr() == peer {
			return newSetupError(ErrAddressInUse, nil,
				"%s is already assigned to %s: choose another prefix with --peer", peer, linkName(h, a.LinkIndex))
		}
	}
	network := cfg.Peer.Masked()
	for _, a := range addrs {
		if p, ok := toPrefix(a.IPNet); ok && p.Overlaps(network) {
			return newSetupError(ErrAddressInUse, nil,
				"%s overlaps %s on %s: choose another prefix with --peer", network, p, linkName(h, a.LinkIndex))
		}
	}

	routes, err := retryDump(func() ([]netlink.Route, error) { return h.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("tun: listing routes: %w", err)
	}
	for _, r := range routes {
		p, ok := toPrefix(r.Dst)
		if !ok || p.Bits() == 0 { // the default route overlaps everything
			continue
		}
		if p.Overlaps(network) {
			return newSetupError(ErrAddressInUse, nil,
				"%s overlaps the route to %s on %s: choose another prefix with --peer", network, p, linkName(h, r.LinkIndex))
		}
	}
	return nil
}

// configure sets up the new interface: no IPv6 address generation (before
// the link is up, so no router solicitation ever leaves), MTU, address, up.
func configure(h *netlink.Handle, cfg Config) error {
	link, err := h.LinkByName(cfg.Name)
	if err != nil {
		return configError("looking up", cfg.Name, err)
	}
	err = h.LinkSetIP6AddrGenMode(link, nl.IN6_ADDR_GEN_MODE_NONE)
	if err != nil && !errors.Is(err, unix.EAFNOSUPPORT) && !errors.Is(err, unix.EOPNOTSUPP) {
		// EAFNOSUPPORT/EOPNOTSUPP: the kernel has no IPv6, which is as good.
		return configError("turning IPv6 address generation off", cfg.Name, err)
	}
	if err := h.LinkSetMTU(link, cfg.MTU); err != nil {
		return configError(fmt.Sprintf("setting MTU %d", cfg.MTU), cfg.Name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{
		IP:   cfg.Peer.Addr().AsSlice(),
		Mask: net.CIDRMask(cfg.Peer.Bits(), 32),
	}}
	if err := h.AddrAdd(link, addr); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return newSetupError(ErrAddressInUse, err,
				"%s is already in use: choose another prefix with --peer", cfg.Peer)
		}
		return configError(fmt.Sprintf("adding address %s", cfg.Peer), cfg.Name, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return configError("setting the link up", cfg.Name, err)
	}
	return nil
}

// retryDump repeats a netlink dump that the kernel interrupted because the
// table changed under it.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var err error
	for range 5 {
		var list []T
		list, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return list, err
		}
	}
	return nil, err
}

// toPrefix converts an IPv4 net.IPNet from netlink to a netip.Prefix.
func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// linkName names the interface with index i, for error messages.
func linkName(h *netlink.Handle, i int) string {
	if i == 0 {
		return "no interface"
	}
	l, err := h.LinkByIndex(i)
	if err != nil {
		return fmt.Sprintf("interface #%d", i)
	}
	return l.Attrs().Name
}

// isMissingDevice reports whether err says there is no TUN driver.
func isMissingDevice(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

// isPermission reports whether err is the kernel refusing for lack of
// privilege.
func isPermission(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

// classifyOpenError explains a failure to open the clone device.
func classifyOpenError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		if path == tunCloneDevice {
			return &setupError{msg: ErrNoTunDevice.Error(), kind: ErrNoTunDevice, cause: err}
		}
		return newSetupError(ErrNoTunDevice, err, "%s is missing: load the tun module (modprobe tun)", path)
	case isPermission(err):
		return &setupError{msg: ErrPermission.Error(), kind: ErrPermission, cause: err}
	}
	return fmt.Errorf("tun: opening %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
}

// classifyCreateError explains a failure of TUNSETIFF (or water's
// equivalent) to create interface name.
func classifyCreateError(name string, err error) error {
	switch {
	case isPermission(err):
		return &setupError{msg: ErrPermission.Error(), kind: ErrPermission, cause: err}
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST), errors.Is(err, unix.EINVAL):
		// EBUSY: a TUN of that name exists (IFF_TUN_EXCL); EINVAL: a
		// non-TUN interface has the name.
		return nameTaken(name, err)
	}
	return fmt.Errorf("tun: creating %s: %w", name, err)
}

// nameTaken is the error for an interface name that is in use.
func nameTaken(name string, cause error) error {
	return newSetupError(ErrNameTaken, cause,
		"interface %s already exists: choose another name with --dev or remove it", name)
}

// configError wraps a failure to configure the new interface, classifying a
// lack of privilege as ErrPermission.
func configError(step, name string, err error) error {
	if isPermission(err) {
		return &setupError{msg: ErrPermission.Error(), kind: ErrPermission, cause: err}
	}
	return fmt.Errorf("tun: %s on %s: %w", step, name, err)
}
