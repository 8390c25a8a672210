package tcp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"
)

// Initial sequence number selection, RFC 9293 §3.4.1 and RFC 6528.
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// "M is the 4 microsecond timer" (MUST-8: a clock-driven component) and F is
// a pseudorandom function of the connection's 4-tuple keyed with a secret
// that never leaves the stack (MUST-9: not computable from outside). F here
// is SHA-256 over the key and the tuple, truncated to 32 bits. A fresh
// random key per ISNGenerator (per stack) is SHLD-1's "randomized" part.
//
// The clock component keeps numbers of successive incarnations of one
// 4-tuple increasing, so an old duplicate from a previous connection is
// unlikely to fall into the new one's window; the keyed hash keeps an
// off-path attacker from predicting the ISN of a connection it cannot see.

// ISNSource chooses initial sequence numbers. Tests inject a fixed one.
type ISNSource interface {
	ISN(local, remote netip.AddrPort, now time.Time) Seq
}

// ISNGenerator computes initial sequence numbers. Its zero value is not
// usable; call NewISNGenerator.
type ISNGenerator struct {
	key   [16]byte
	epoch time.Time // origin of the 4 µs clock M
}

// NewISNGenerator returns a generator with a fresh random secret key.
func NewISNGenerator() *ISNGenerator {
	g := &ISNGenerator{epoch: time.Unix(0, 0)}
	if _, err := rand.Read(g.key[:]); err != nil {
		panic("tcp: no randomness for the ISN key: " + err.Error()) // crypto/rand never fails on Linux
	}
	return g
}

// NewFixedISNGenerator returns a generator with the given key, for tests
// that need reproducible sequence numbers.
func NewFixedISNGenerator(key [16]byte) *ISNGenerator {
	return &ISNGenerator{key: key, epoch: time.Unix(0, 0)}
}

// ISN returns the initial sequence number for a connection from local to
// remote at time now.
func (g *ISNGenerator) ISN(local, remote netip.AddrPort, now time.Time) Seq {
	var msg [16 + 2*18]byte
	copy(msg[:16], g.key[:])
	putAddrPort(msg[16:34], local)
	putAddrPort(msg[34:52], remote)
	h := sha256.Sum256(msg[:])
	f := binary.BigEndian.Uint32(h[:4])
	m := uint32(now.Sub(g.epoch).Microseconds() / 4)
	return Seq(m + f)
}

func putAddrPort(b []byte, ap netip.AddrPort) {
	a := ap.Addr().As16()
	copy(b, a[:])
	binary.BigEndian.PutUint16(b[16:], ap.Port())
}
