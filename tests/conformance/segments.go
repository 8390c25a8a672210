package conformance

// The segment steps of the runner: inject builds a segment from the peer
// in relative numbers and hands it to the stack; expect and expect-none
// read what the stack sent and compare it with the script.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// seqField resolves seq=N (relative to base) or seq=abs:N.
func (r *runner) seqField(st *Step, key string, base tcp.Seq, known bool) (tcp.Seq, bool, error) {
	v, ok := st.KV[key]
	if !ok {
		return 0, false, nil
	}
	switch v {
	case "next":
		return r.peerNext, true, nil // the peer's next new byte
	case "acked":
		return r.stackAck, true, nil // the last byte the stack acknowledged
	}
	n, abs, err := number(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s=%q: %w", key, v, err)
	}
	if abs {
		return tcp.Seq(n), true, nil
	}
	if !known {
		return 0, false, fmt.Errorf("%s=%s is relative to a sequence number not seen yet", key, v)
	}
	return base.Add(n), true, nil
}

func (r *runner) inject(st *Step) error {
	seg := tcp.Segment{SrcPort: r.peerPort, DstPort: r.stackPort, Flags: st.Flags, Window: 65535}
	var err error
	if p, ok := st.KV["dport"]; ok {
		n, _, err := number(p)
		if err != nil {
			return err
		}
		seg.DstPort = uint16(n)
	}
	if p, ok := st.KV["sport"]; ok {
		n, _, err := number(p)
		if err != nil {
			return err
		}
		seg.SrcPort = uint16(n)
	}
	if s, ok, err := r.seqField(st, "seq", peerISN, true); err != nil {
		return err
	} else if ok {
		seg.Seq = s
	} else {
		seg.Seq = peerISN
	}
	if a, ok, err := r.seqField(st, "ack", r.stackISS, r.issKnown); err != nil {
		return err
	} else if ok {
		seg.Ack = a
	}
	w, err := st.integer("win", 65535)
	if err != nil {
		return err
	}
	seg.Window = uint16(w)
	if u, err := st.integer("urg", 0); err != nil {
		return err
	} else {
		seg.Urgent = uint16(u)
	}
	if err := r.injectOptions(st, &seg.Options); err != nil {
		return err
	}
	n, err := st.integer("len", 0)
	if err != nil {
		return err
	}
	seg.Payload = make([]byte, n)
	first := seg.Seq.Sub(peerISN)
	for i := range seg.Payload {
		seg.Payload[i] = byte((first + uint32(i)) % 251)
	}
	if seg.Flags.Has(tcp.FlagSYN) {
		r.peerWS = seg.Options.HasWindowScale
		r.peerNext = seg.Seq
	}
	if seg.Seq == r.peerNext {
		r.peerNext = seg.End()
	}
	_, bad := st.KV["badsum"]
	var raw []byte
	if v, ok := st.KV["rawopts"]; ok {
		if raw, err = hex.DecodeString(v); err != nil || len(raw)%4 != 0 {
			return fmt.Errorf("rawopts=%q: want hex, a multiple of 4 bytes", v)
		}
		seg.Options = tcp.Options{}
	}
	src, dst := PeerAddr, StackAddr
	for _, a := range []struct {
		key  string
		addr *netip.Addr
	}{{"src", &src}, {"dst", &dst}} {
		if v, ok := st.KV[a.key]; ok {
			if *a.addr, err = netip.ParseAddr(v); err != nil || !a.addr.Is4() {
				return fmt.Errorf("%s=%q: want an IPv4 address", a.key, v)
			}
		}
	}
	pkt := buildPacketFrom(&seg, raw, bad, src, dst)
	r.trace = append(r.trace, fmt.Sprintf("%s < %s", fmtTime(r.inst.Now()), r.describe(&seg)))
	if err := r.inst.Inject(pkt); err != nil {
		return err
	}
	r.last = r.inst.Now()
	return nil
}

func (r *runner) injectOptions(st *Step, o *tcp.Options) error {
	if v, ok := st.KV["mss"]; ok {
		n, _, err := number(v)
		if err != nil {
			return err
		}
		o.MSS = uint16(n)
	}
	if v, ok := st.KV["wscale"]; ok {
		n, _, err := number(v)
		if err != nil {
			return err
		}
		o.HasWindowScale, o.WindowScale = true, uint8(n)
	}
	_, o.SACKPermitted = st.KV["sackok"]
	if v, ok := st.KV["ts"]; ok {
		val, ecr, _ := strings.Cut(v, ",")
		a, _, err := number(val)
		if err != nil {
			return err
		}
		b := r.stackTSVal // ecr "echo": the stack's latest timestamp
		if ecr != "echo" {
			if b, _, err = number(ecr); err != nil {
				return err
			}
		}
		o.HasTimestamps, o.TSVal, o.TSEcr = true, a, b
	}
	if v, ok := st.KV["sack"]; ok {
		for _, blk := range strings.Split(v, ",") {
			l, rgt, _ := strings.Cut(blk, "-")
			a, _, err := number(l)
			if err != nil {
				return err
			}
			b, _, err := number(rgt)
			if err != nil {
				return err
			}
			if int(o.NumSACK) < len(o.SACK) {
				// The peer SACKs the stack's data: relative to the
				// stack's ISS, as ack= is.
				o.SACK[o.NumSACK] = tcp.SACKBlock{Left: r.stackISS.Add(a), Right: r.stackISS.Add(b)}
				o.NumSACK++
			}
		}
	}
	return nil
}

// buildPacket makes the IPv4 packet for a segment from the peer. rawOpts,
// if any, replace the options with bytes as given (for malformed ones).
func buildPacket(seg *tcp.Segment, rawOpts []byte, badSum bool) []byte {
	return buildPacketFrom(seg, rawOpts, badSum, PeerAddr, StackAddr)
}

// buildPacketFrom is buildPacket with other IPv4 addresses, for the
// address-validation scenarios (src= and dst= of inject).
func buildPacketFrom(seg *tcp.Segment, rawOpts []byte, badSum bool, src, dst netip.Addr) []byte {
	hl := seg.HeaderLen() + len(rawOpts)
	n := hl + len(seg.Payload)
	pkt := make([]byte, ip.HeaderMinLen+n)
	b := pkt[ip.HeaderMinLen:]
	seg.MarshalHeader(b)
	copy(b[tcp.HeaderMinLen:], rawOpts)
	b[12] = byte(hl/4) << 4
	copy(b[hl:], seg.Payload)
	sum := ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(src, dst, ip.ProtocolTCP, n)))
	if badSum {
		sum ^= 0xbeef
	}
	tcp.Header(b).SetChecksum(sum)
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: 64, Protocol: ip.ProtocolTCP, Src: src, Dst: dst, DontFragment: true}
	f.Encode(pkt)
	return pkt
}

// nextSegment waits for the stack's next TCP segment to the peer,
// skipping anything else it sends (ICMP, other addresses).
func (r *runner) nextSegment(wait time.Duration) (*tcp.Segment, time.Duration, bool, error) {
	deadline := r.inst.Now() + wait
	for {
		left := deadline - r.inst.Now()
		if left < 0 {
			left = 0
		}
		pkt, at, ok := r.inst.Next(left)
		if !ok {
			return nil, 0, false, nil
		}
		h, err := ip.ParseIPv4(pkt)
		if err != nil {
			return nil, at, true, fmt.Errorf("the stack sent a bad IPv4 packet: %w", err)
		}
		if h.Protocol() != ip.ProtocolTCP {
			continue
		}
		if h.Dst() != PeerAddr {
			// Every connection of a scenario is with the peer: a segment
			// elsewhere (say, a RST to a broadcast source) is a failure.
			return nil, at, true, fmt.Errorf("the stack sent a segment to %v", h.Dst())
		}
		b := h.Payload()
		if ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(h.Src(), h.Dst(), ip.ProtocolTCP, len(b)))) != 0 {
			return nil, at, true, errors.New("the stack sent a segment with a bad checksum")
		}
		seg := new(tcp.Segment)
		if err := tcp.ParseSegment(b, seg); err != nil {
			return nil, at, true, fmt.Errorf("the stack sent a bad segment: %w", err)
		}
		seg.Payload = append([]byte(nil), seg.Payload...)
		r.lastSent = pkt
		r.lastTTL, r.lastTOS = h.TTL(), h.TOS()
		r.noteWindow(seg)
		return seg, at, true, nil
	}
}

func (r *runner) expect(st *Step) error {
	within, err := st.duration("within", defaultWithin)
	if err != nil {
		return err
	}
	after, err := st.duration("after", -1)
	if err != nil {
		return err
	}
	if after >= 0 && within < after*2 {
		within = after * 2
	}
	seg, at, ok, err := r.nextSegment(within)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no segment within %v, want %s", within, flagString(st.Flags))
	}
	if seg.Flags.Has(tcp.FlagSYN) && !r.issKnown {
		r.stackISS, r.issKnown = seg.Seq, true
	}
	r.trace = append(r.trace, fmt.Sprintf("%s > %s", fmtTime(at), r.describe(seg)))
	gap := at - r.last
	r.last = at
	var problems []string
	if seg.Flags&^st.Maybe != st.Flags {
		want := flagString(st.Flags)
		if st.Maybe != 0 {
			want += " (and maybe " + flagString(st.Maybe) + ")"
		}
		problems = append(problems, fmt.Sprintf("flags %s, want %s", flagString(seg.Flags), want))
	}
	if want, ok, err := r.seqField(st, "seq", r.stackISS, r.issKnown); err != nil {
		return err
	} else if ok && seg.Seq != want {
		problems = append(problems, fmt.Sprintf("seq %d, want %d", seg.Seq.Sub(r.stackISS), want.Sub(r.stackISS)))
	}
	if want, ok, err := r.seqField(st, "ack", peerISN, true); err != nil {
		return err
	} else if ok && (!seg.Flags.Has(tcp.FlagACK) || seg.Ack != want) {
		problems = append(problems, fmt.Sprintf("ack %d, want %d", seg.Ack.Sub(peerISN), want.Sub(peerISN)))
	}
	if w, ok := st.KV["win"]; ok && w == "nonzero" {
		if seg.Window == 0 {
			problems = append(problems, "win 0, want an open window")
		}
	} else if ok {
		if want, err := st.integer("win", 0); err != nil {
			return err
		} else if int(seg.Window) != want {
			problems = append(problems, fmt.Sprintf("win %d, want %s", seg.Window, w))
		}
	}
	if _, ok := st.KV["len"]; ok {
		if want, err := st.integer("len", 0); err != nil {
			return err
		} else if len(seg.Payload) != want {
			problems = append(problems, fmt.Sprintf("len %d, want %d", len(seg.Payload), want))
		}
	}
	for _, f := range []struct {
		key string
		got uint8
	}{{"ttl", r.lastTTL}, {"tos", r.lastTOS}} {
		if _, ok := st.KV[f.key]; ok {
			if want, err := st.integer(f.key, 0); err != nil {
				return err
			} else if int(f.got) != want {
				problems = append(problems, fmt.Sprintf("IPv4 %s %d, want %d", f.key, f.got, want))
			}
		}
	}
	if _, ok := st.KV["urg"]; ok {
		if want, err := st.integer("urg", 0); err != nil {
			return err
		} else if !seg.Flags.Has(tcp.FlagURG) || int(seg.Urgent) != want {
			problems = append(problems, fmt.Sprintf("urgent pointer %d (URG %v), want %d", seg.Urgent, seg.Flags.Has(tcp.FlagURG), want))
		}
	}
	if want, ok := st.KV["sack"]; ok {
		// The stack SACKs the peer's data: blocks relative to the peer's
		// ISN, in the order sent (a D-SACK block first, RFC 2883).
		var got []string
		for _, b := range seg.Options.SACKBlocks() {
			got = append(got, fmt.Sprintf("%d-%d", b.Left.Sub(peerISN), b.Right.Sub(peerISN)))
		}
		if g := strings.Join(got, ","); g != want {
			problems = append(problems, fmt.Sprintf("SACK blocks %q, want %q", g, want))
		}
	}
	if want, ok := st.KV["opts"]; ok {
		if got := optionList(&seg.Options); got != normaliseList(want) {
			problems = append(problems, fmt.Sprintf("options %s, want %s", got, normaliseList(want)))
		}
	}
	if after >= 0 {
		tol, err := st.duration("tol", after/4)
		if err != nil {
			return err
		}
		if gap < after-tol || gap > after+tol {
			problems = append(problems, fmt.Sprintf("sent %v after the previous event, want %v ± %v", gap, after, tol))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("got %s: %s", r.describe(seg), strings.Join(problems, "; "))
	}
	return nil
}

func (r *runner) expectNone(st *Step) error {
	d, err := st.duration("for", time.Second)
	if err != nil {
		return err
	}
	seg, at, ok, err := r.nextSegment(d)
	if err != nil {
		return err
	}
	if ok {
		r.trace = append(r.trace, fmt.Sprintf("%s > %s", fmtTime(at), r.describe(seg)))
		return fmt.Errorf("got %s, want nothing for %v", r.describe(seg), d)
	}
	return nil
}

// optionList names the options present, sorted: "mss,sackok,ts,wscale".
func optionList(o *tcp.Options) string {
	var l []string
	if o.MSS != 0 {
		l = append(l, "mss")
	}
	if o.HasWindowScale {
		l = append(l, "wscale")
	}
	if o.SACKPermitted {
		l = append(l, "sackok")
	}
	if o.HasTimestamps {
		l = append(l, "ts")
	}
	if o.NumSACK > 0 {
		l = append(l, "sack")
	}
	if len(l) == 0 {
		return "-"
	}
	slices.Sort(l)
	return strings.Join(l, ",")
}

func normaliseList(s string) string {
	if s == "-" || s == "" {
		return "-"
	}
	l := strings.Split(s, ",")
	slices.Sort(l)
	return strings.Join(l, ",")
}

// describe prints a segment in the scenario's own terms: relative numbers.
func (r *runner) describe(seg *tcp.Segment) string {
	var b strings.Builder
	fromPeer := seg.SrcPort == r.peerPort && seg.DstPort == r.stackPort
	seqBase, ackBase := r.stackISS, peerISN
	if fromPeer {
		seqBase, ackBase = peerISN, r.stackISS
	}
	fmt.Fprintf(&b, "%s seq=%d", flagString(seg.Flags), seg.Seq.Sub(seqBase))
	if seg.Flags.Has(tcp.FlagACK) {
		fmt.Fprintf(&b, " ack=%d", seg.Ack.Sub(ackBase))
	}
	fmt.Fprintf(&b, " win=%d len=%d", seg.Window, len(seg.Payload))
	if seg.Flags.Has(tcp.FlagURG) {
		fmt.Fprintf(&b, " urg=%d", seg.Urgent)
	}
	fmt.Fprintf(&b, " opts=%s", optionList(&seg.Options))
	return b.String()
}

func fmtTime(d time.Duration) string {
	return fmt.Sprintf("%8.3fs", d.Seconds())
}

// noteWindow remembers the window a segment from the stack advertises:
// unscaled on a SYN (RFC 7323 §2.2), scaled afterwards if both SYNs
// offered window scaling.
func (r *runner) noteWindow(seg *tcp.Segment) {
	if seg.Options.HasTimestamps {
		r.stackTSVal = seg.Options.TSVal
	}
	if seg.Flags.Has(tcp.FlagSYN) {
		if r.peerWS && seg.Options.HasWindowScale {
			r.stackShift = seg.Options.WindowScale
		}
		r.stackWnd = uint32(seg.Window)
		return
	}
	if seg.Flags.Has(tcp.FlagRST) {
		return
	}
	r.stackWnd = uint32(seg.Window) << r.stackShift
	if seg.Flags.Has(tcp.FlagACK) {
		r.stackAck = seg.Ack
		// The window starts at the acknowledged byte; what the peer sent
		// beyond it is in flight and uses part of it.
		if inFlight := r.peerNext.Sub(seg.Ack); inFlight <= r.stackWnd {
			r.stackWnd -= inFlight
		} else {
			r.stackWnd = 0
		}
	}
}

// settle takes every segment the stack sends within d; they must be pure
// ACKs (window updates included).
func (r *runner) settle(d time.Duration) error {
	for {
		seg, at, ok, err := r.nextSegment(d)
		if err != nil || !ok {
			return err
		}
		r.trace = append(r.trace, fmt.Sprintf("%s > %s", fmtTime(at), r.describe(seg)))
		if seg.Flags&^tcp.FlagPSH != tcp.FlagACK || len(seg.Payload) > 0 {
			return fmt.Errorf("got %s while settling, want only ACKs", r.describe(seg))
		}
	}
}

// fillWindow sends the stack, in segments of up to 1000 bytes, exactly as
// much as it offers, again and again, until it offers nothing: what a
// receiver that never reads must end up doing (RFC 9293 §3.8.6).
func (r *runner) fillWindow(st *Step) error {
	limit, err := st.integer("max", 8<<20)
	if err != nil {
		return err
	}
	sent := 0
	for r.stackWnd > 0 {
		for w := r.stackWnd; w > 0; {
			n := min(w, 1000)
			seg := tcp.Segment{SrcPort: r.peerPort, DstPort: r.stackPort, Seq: r.peerNext, Ack: r.stackISS.Add(1),
				Flags: tcp.FlagACK | tcp.FlagPSH, Window: 65535, Payload: make([]byte, n)}
			first := seg.Seq.Sub(peerISN)
			for i := range seg.Payload {
				seg.Payload[i] = byte((first + uint32(i)) % 251)
			}
			if err := r.inst.Inject(buildPacket(&seg, nil, false)); err != nil {
				return err
			}
			r.peerNext = seg.End()
			w -= n
			sent += int(n)
		}
		r.stackWnd = 0
		if err := r.settle(300 * time.Millisecond); err != nil {
			return err
		}
		if sent > limit {
			return fmt.Errorf("the window is still open after %d bytes", sent)
		}
	}
	r.trace = append(r.trace, fmt.Sprintf("%s < filled the window: %d bytes", fmtTime(r.inst.Now()), sent))
	r.last = r.inst.Now()
	return nil
}
