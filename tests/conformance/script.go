package conformance

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"tinytcp/tcp"
)

// A scenario is a text file, one step per line, read top to bottom like an
// RFC figure. The harness is the remote host ("the peer"); the stack under
// test is "the stack". Sequence numbers are relative: the peer's to its
// own ISN (its SYN is seq 0, its first data byte seq 1), the stack's to
// the ISS it chose (learned from its SYN), so every stack's numbers line
// up. Data the peer sends is the pattern byte(seq mod 251), which read
// checks.
//
//	# title: Passive open (RFC 9293 Figure 6)           header lines start with '#'
//	# requirements: MUST-10, MUST-14                    labels of rfc9293-requirements.md
//	# xfail tinytcp: issue 4, timestamps not sent yet    expected to fail on a backend, and why
//	# deviation linux: RFC 9293 §3.10.7.4 allows ...     a documented difference, with the RFC text
//
//	listen 80                         socket calls on the stack
//	inject SYN seq=0 win=65535 mss=1460 wscale=7
//	expect SYN,ACK seq=0 ack=1 opts=mss,wscale within=1s
//	inject ACK seq=1 ack=1 win=65535
//	accept
//	state ESTABLISHED
//
// Steps:
//
//	listen PORT [backlog=N] [rcvbuf=N] [sndbuf=N] [usertimeout=D] [ttl=N] [dscp=N]
//	connect PORT [nodelay] [rcvbuf=N] [sndbuf=N] [usertimeout=D] [ttl=N] [dscp=N]
//	                                              the stack dials the peer at PORT (non-blocking)
//	accept | accept-none                          a connection is ready / none is
//	write N | write "TEXT"                        the stack's application writes
//	write N urgent | write "TEXT" urgent          ... as urgent data (send with MSG_OOB): the urgent
//	                                              pointer moves to its end (RFC 9293 §3.8.5)
//	read N | read-none | read-eof | read-error reset|refused|timeout|host-unreachable|net-unreachable
//	shutdown-write | close
//	state NAME                                    RFC 9293 state of the current socket
//	error reset|refused|timeout|host-unreachable|net-unreachable|none
//	                                              what the connection failed with
//	wait DURATION                                 let time pass
//	inject FLAGS [seq=N] [ack=N] [win=N] [len=N] [mss=N] [wscale=N] [sackok] [ts=VAL,ECR|echo]
//	       [sack=L-R,...] [badsum] [dport=N] [sport=N] [urg=N] [rawopts=HEX] [src=ADDR] [dst=ADDR]
//	expect FLAGS [seq=N] [ack=N] [win=N] [len=N] [urg=N] [opts=LIST] [ttl=N] [tos=N] [within=D] [after=D] [tol=D]
//	inject-icmp unreach|quench|time-exceeded|param-problem [code=N] [mtu=N] [seq=N]
//	                                              an ICMP error quoting the stack's latest segment
//	                                              (seq= rewrites its sequence number; see icmp.go)
//	soft-error NAME|none                          the ICMP soft error the stack reports (SO_ERROR)
//	expect-none [for=D]
//	settle [for=D]                                take every segment sent within D; only ACKs allowed
//	fill-window [max=N]                           send exactly the window the stack offers, again and
//	                                              again, until it offers none (a reader that never reads)
//	read-all                                      read everything there is (at least one byte)
//	urgent N | urgent none                        the application has been told of urgent data: N bytes
//	                                              from its read position through the last urgent byte
//	                                              (MUST-33; Linux tells once that byte has arrived)
//
// In inject, sack=L-R lists SACK blocks of the stack's data, numbered like
// ack= (relative to the stack's ISS); in expect, sack=L-R,... lists the
// blocks the stack sends, in order, relative to the peer's ISN.
//
// FLAGS are SYN, ACK, FIN, RST, PSH, URG joined by commas, or "none"; in
// expect, a flag with "?" (PSH?) may be present or not (RFC 9293 §3.9.1
// leaves PSH to the sender's judgement, and stacks judge differently). In
// expect, seq/ack/win/len/urg/opts are compared only when given (urg=N: the
// urgent pointer SEG.UP, which needs URG in FLAGS); opts lists
// exactly the options present (mss, wscale, sackok, ts, sack; "-" for
// none); after=D checks the gap since the previous event, within tol
// (default a quarter of D). N may be "abs:N" for an absolute number, and
// seq= of inject and ack= of expect may be "next": the peer's next new
// byte, or "acked": the last byte the stack acknowledged. win=nonzero in expect asks for an open window.
// "connect" makes the new socket current, "accept" makes the accepted one
// current; "on=listener" on a socket call picks the listener instead.

// Scenario is one parsed scenario file.
type Scenario struct {
	Name         string            // file name without extension
	Title        string            // from "# title:"
	Requirements []string          // from "# requirements:"
	XFail        map[string]string // backend -> why it is expected to fail
	Deviation    map[string]string // backend -> the documented difference
	Steps        []Step
}

// Step is one line of a scenario.
type Step struct {
	Line  int
	Cmd   string
	Flags tcp.Flags         // inject, expect
	Maybe tcp.Flags         // expect: flags that may be present or not
	Args  []string          // positional arguments
	KV    map[string]string // key=value arguments; bare words are key=""
	Text  string            // the line as written, for messages
}

// LoadScenarios reads every *.tcp file in dir, sorted by name.
func LoadScenarios(dir string) ([]*Scenario, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tcp"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []*Scenario
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc, err := ParseScenario(strings.TrimSuffix(filepath.Base(f), ".tcp"), fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// ParseScenario parses one scenario.
func ParseScenario(name string, r io.Reader) (*Scenario, error) {
	sc := &Scenario{Name: name, XFail: map[string]string{}, Deviation: map[string]string{}}
	in := bufio.NewScanner(r)
	for n := 1; in.Scan(); n++ {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if err := sc.header(strings.TrimSpace(strings.TrimPrefix(line, "#"))); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, n, err)
			}
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 && !strings.Contains(line[:i], `"`) {
			line = strings.TrimSpace(line[:i])
		}
		st, err := parseStep(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		st.Line = n
		sc.Steps = append(sc.Steps, st)
	}
	if sc.Title == "" {
		return nil, fmt.Errorf("%s: no '# title:' line", name)
	}
	return sc, in.Err()
}

func (sc *Scenario) header(h string) error {
	key, val, ok := strings.Cut(h, ":")
	if !ok {
		return nil // a plain comment
	}
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	switch {
	case key == "title":
		sc.Title = val
	case key == "requirements":
		for _, r := range strings.Split(val, ",") {
			if r = strings.TrimSpace(r); r != "" {
				sc.Requirements = append(sc.Requirements, r)
			}
		}
	case strings.HasPrefix(key, "xfail "):
		sc.XFail[strings.TrimSpace(strings.TrimPrefix(key, "xfail "))] = val
	case strings.HasPrefix(key, "deviation "):
		sc.Deviation[strings.TrimSpace(strings.TrimPrefix(key, "deviation "))] = val
	}
	return nil
}

var stepArity = map[string]bool{
	"listen": true, "connect": true, "accept": true, "accept-none": true, "write": true,
	"read": true, "read-none": true, "read-eof": true, "read-error": true,
	"shutdown-write": true, "close": true, "state": true, "error": true, "wait": true,
	"inject": true, "inject-icmp": true, "soft-error": true, "expect": true, "expect-none": true, "read-all": true, "fill-window": true, "settle": true,
	"urgent": true,
}

func parseStep(line string) (Step, error) {
	words, err := splitWords(line)
	if err != nil {
		return Step{}, err
	}
	st := Step{Cmd: words[0], KV: map[string]string{}, Text: line}
	if !stepArity[st.Cmd] {
		return st, fmt.Errorf("unknown step %q", st.Cmd)
	}
	rest := words[1:]
	if st.Cmd == "inject" || st.Cmd == "expect" {
		if len(rest) == 0 {
			return st, fmt.Errorf("%s needs flags", st.Cmd)
		}
		if st.Flags, st.Maybe, err = parseFlags(rest[0]); err != nil {
			return st, err
		}
		if st.Maybe != 0 && st.Cmd == "inject" {
			return st, fmt.Errorf("optional flags (?) only make sense in expect")
		}
		rest = rest[1:]
	}
	for _, w := range rest {
		if k, v, ok := strings.Cut(w, "="); ok && !strings.HasPrefix(w, `"`) {
			st.KV[k] = v
		} else if isKeyword(w) {
			st.KV[w] = ""
		} else {
			st.Args = append(st.Args, w)
		}
	}
	return st, nil
}

func isKeyword(w string) bool {
	switch w {
	case "nodelay", "sackok", "badsum", "urgent":
		return true
	}
	return false
}

// splitWords splits on spaces, keeping "quoted text" as one word (quotes
// kept, so write can tell text from a count).
func splitWords(line string) ([]string, error) {
	var words []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", line)
			}
			words = append(words, line[:end+2])
			line = line[end+2:]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		words = append(words, line[:end])
		line = line[end:]
	}
	return words, nil
}

var flagNames = map[string]tcp.Flags{
	"SYN": tcp.FlagSYN, "ACK": tcp.FlagACK, "FIN": tcp.FlagFIN, "RST": tcp.FlagRST,
	"PSH": tcp.FlagPSH, "URG": tcp.FlagURG, "ECE": tcp.FlagECE, "CWR": tcp.FlagCWR,
}

func parseFlags(s string) (must, maybe tcp.Flags, err error) {
	if s == "none" {
		return 0, 0, nil
	}
	for _, name := range strings.Split(s, ",") {
		optional := strings.HasSuffix(name, "?")
		b, ok := flagNames[strings.TrimSuffix(name, "?")]
		if !ok {
			return 0, 0, fmt.Errorf("unknown flag %q in %q", name, s)
		}
		if optional {
			maybe |= b
		} else {
			must |= b
		}
	}
	return must, maybe, nil
}

// flagString spells flags the way scenarios do: "SYN,ACK".
func flagString(f tcp.Flags) string {
	if f == 0 {
		return "none"
	}
	var parts []string
	for _, name := range []string{"SYN", "FIN", "RST", "PSH", "URG", "ECE", "CWR", "ACK"} {
		if f.Has(flagNames[name]) {
			parts = append(parts, name)
		}
	}
	return strings.Join(parts, ",")
}

// number parses N or abs:N; abs reports which.
func number(s string) (n uint32, abs bool, err error) {
	if v, ok := strings.CutPrefix(s, "abs:"); ok {
		s, abs = v, true
	}
	u, err := strconv.ParseUint(s, 10, 32)
	return uint32(u), abs, err
}

func (st *Step) duration(key string, def time.Duration) (time.Duration, error) {
	v, ok := st.KV[key]
	if !ok {
		return def, nil
	}
	return time.ParseDuration(v)
}

func (st *Step) integer(key string, def int) (int, error) {
	v, ok := st.KV[key]
	if !ok {
		return def, nil
	}
	return strconv.Atoi(v)
}
