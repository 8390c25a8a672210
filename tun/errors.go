// The errors Open returns, each a sentinel to test with errors.Is and a
// message that tells the user what to do about it.
//
// A setup error's text is the actionable sentence alone ("interface
// tinytcp0 already exists: choose another name with --dev or remove it"), so
// the CLI can print it as it is; errors.Is finds both the sentinel and the
// system error underneath (unix.EPERM, unix.EBUSY, ...).
//
// Left out: errors of the data path. Read and Write return ErrClosed (in
// device.go) or the system's error, wrapped with the device name.

package tun

import (
	"errors"
	"fmt"
)

var (
	// ErrPermission means the process may not create or configure a TUN
	// interface.
	ErrPermission = errors.New("creating a TUN device needs root or CAP_NET_ADMIN: run with sudo")
	// ErrNoTunDevice means the kernel offers no TUN driver.
	ErrNoTunDevice = errors.New("/dev/net/tun is missing: load the tun module (modprobe tun)")
	// ErrNameTaken means an interface of the requested name exists already.
	ErrNameTaken = errors.New("tun: interface name taken")
	// ErrAddressInUse means the requested kernel-side address, or a prefix
	// overlapping it, is on another interface or in the routing table.
	ErrAddressInUse = errors.New("tun: address in use")
	// ErrInvalidConfig means a Config field is out of range.
	ErrInvalidConfig = errors.New("tun: invalid config")
)

// setupError carries an actionable message, the sentinel that classifies it,
// and the underlying cause, if any.
type setupError struct {
	msg   string
	kind  error
	cause error
}

func (e *setupError) Error() string { return e.msg }

// Unwrap lets errors.Is see both the sentinel and the cause.
func (e *setupError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// newSetupError formats an actionable message classified by kind.
func newSetupError(kind, cause error, format string, args ...any) error {
	return &setupError{msg: fmt.Sprintf(format, args...), kind: kind, cause: cause}
}
