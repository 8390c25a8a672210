// Package ip is the network layer of tinytcp: the IPv4 header (RFC 791) as
// a checked byte view with a builder (ipv4.go), the Internet checksum of
// RFC 1071 that IPv4, ICMP and TCP share (checksum.go), the ICMPv4 messages
// a host must handle (icmp.go, RFC 792 and RFC 1122 §3.2.2), the UDP header
// of RFC 768 (udp.go), and the names under which the stack counts the
// packets it drops (reasons.go).
//
// Every parser checks lengths once and returns a view; after that no
// accessor can panic. Nothing here allocates on the packet path. Malformed
// input is reported with sentinel errors, never a panic.
//
// Not here: fragment reassembly (fragments are recognised with
// IPv4.IsFragment and, for now, dropped by the stack), IP options (carried,
// never interpreted), IPv6, and routing.
package ip
