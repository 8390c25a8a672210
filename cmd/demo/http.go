package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"tinytcp/stack"
)

// The HTTP service on port 80:
//
//	GET  /            a page about the connection the request arrived on
//	GET  /bytes?n=N   exactly N bytes, byte i being i mod 251
//	POST /upload      reads the body, answers "bytes=N sha256=HEX"
//	GET  /session     counts your visits in a server-side session named by
//	                  a cookie (session.go), answers "visits=N session=ID-PREFIX"

type connKey struct{}

// NewHTTPServer returns the demo HTTP server. Serve it on a tinytcp
// listener. Each server has its own session store for /session.
func NewHTTPServer() *http.Server {
	sessions := NewSessionStore(MaxSessions)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", handleIndex)
	mux.HandleFunc("GET /bytes", handleBytes)
	mux.HandleFunc("POST /upload", handleUpload)
	mux.HandleFunc("GET /session", sessions.handleSession)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 30 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>tinytcp</title></head>
<body>
<h1>Served by tinytcp</h1>
<p>This page crossed a hand-written TCP: your kernel's TCP talked to tinytcp's
through a TUN device.</p>
<h2>Your connection, as tinytcp sees it</h2>
<pre>
4-tuple   {{.Local}} &lt;-&gt; {{.Remote}}
state     {{.Info.State}}
snd.una   {{.Info.SndUNA}}   snd.nxt {{.Info.SndNXT}}   snd.wnd {{.Info.SndWND}}
rcv.nxt   {{.Info.RcvNXT}}   rcv.wnd {{.Info.RcvWND}}
iss       {{.Info.ISS}}   irs {{.Info.IRS}}
mss       {{.Info.SendMSS}}   wscale snd {{.Info.SndShift}} rcv {{.Info.RcvShift}}
rtt       srtt {{.Info.SRTT}}   rttvar {{.Info.RTTVAR}}   rto {{.Info.RTO}}
cwnd      {{.Info.CWND}}   ssthresh {{if eq .Info.SSThresh 4294967295}}inf{{else}}{{.Info.SSThresh}}{{end}}   {{.Info.Congestion}}{{if .Info.StopAndWait}}   stop-and-wait: one segment in flight{{end}}
segments  sent {{.Info.Stats.SegmentsSent}}   received {{.Info.Stats.SegmentsReceived}}   retransmitted {{.Info.Stats.Retransmits}}
recovery  fast retransmits {{.Info.Stats.FastRetransmits}}   timeouts {{.Info.Stats.Timeouts}}   tail loss probes {{.Info.Stats.TailLossProbes}}   D-SACKs {{.Info.Stats.DSACKsReceived}}
</pre>
<p>Try <code>/bytes?n=1000000</code> for a megabyte of pattern bytes, or
<code>curl --data-binary @file http://HOST/upload</code>, or
<code>/session</code> for a visit counter kept in a server-side session.</p>
</body></html>
`))

func handleIndex(w http.ResponseWriter, r *http.Request) {
	c, ok := r.Context().Value(connKey{}).(*stack.Conn)
	if !ok {
		http.Error(w, "not a tinytcp connection", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexPage.Execute(w, struct { //nolint:errcheck // the client went away
		Local, Remote net.Addr
		Info          any
	}{c.LocalAddr(), c.RemoteAddr(), c.Info()})
}

// MaxBytes bounds /bytes?n=N (1 TiB): big enough for any benchmark.
const MaxBytes = 1 << 40

func handleBytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > MaxBytes {
		http.Error(w, fmt.Sprintf("n must be a number of bytes from 0 to %d", int64(MaxBytes)), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	io.CopyN(w, &patternReader{}, n) //nolint:errcheck // the client went away
}

func handleUpload(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "bytes=%d sha256=%s\n", n, hex.EncodeToString(h.Sum(nil)))
}
