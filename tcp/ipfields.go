package tcp

// What TCP asks of IP for its packets (RFC 9293 §3.9.1.1 and §3.9.2): the
// time to live (MUST-49: configurable) and the DiffServ field (MUST-48:
// the application can set it). TCP only carries them; the stack writes
// them into each IPv4 header it builds for the connection.

// IPFields are the per-connection IPv4 header settings. The zero TTL means
// the stack's default (64).
type IPFields struct {
	TTL uint8 // time to live
	// DSCP is the Differentiated Services code point (RFC 2474), the
	// upper six bits of the old type-of-service byte. The lower two are
	// ECN's (RFC 3168) and not the application's to set.
	DSCP uint8
}

// IPFields returns the IPv4 header settings for this connection's packets.
func (c *Conn) IPFields() IPFields { return c.cfg.IP }

// SetIPFields changes them for the packets sent from now on.
func (c *Conn) SetIPFields(f IPFields) { c.cfg.IP = f }
