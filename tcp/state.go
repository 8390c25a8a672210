package tcp

// The connection states of RFC 9293 §3.3.2.
//
//	                        +---------+ ---------\      active OPEN
//	                        |  CLOSED |            \    -----------
//	                        +---------+<---------\   \   create TCB
//	                          |     ^              \   \  snd SYN
//	             passive OPEN |     |   CLOSE        \   \
//	             ------------ |     | ----------       \   \
//	              create TCB  |     | delete TCB         \   \
//	                          V     |                      \   \
//	      rcv RST (note 1)  +---------+            CLOSE    |    \
//	   -------------------->|  LISTEN |          ---------- |     |
//	  /                     +---------+          delete TCB |     |
//	 /           rcv SYN      |     |     SEND              |     |
//	|           -----------   |     |    -------            |     V
//	+--------+   snd SYN,ACK  /       \   snd SYN          +--------+
//	|        |<-----------------           ------------------>|        |
//	|  SYN   |                    rcv SYN                     |  SYN   |
//	|  RCVD  |<-----------------------------------------------|  SENT  |
//	|        |                  snd SYN,ACK                   |        |
//	|        |------------------           -------------------|        |
//	+--------+   rcv ACK of SYN  \       /  rcv SYN,ACK       +--------+
//	   |         --------------   |     |   -----------
//	   |                x         |     |     snd ACK
//	   |                          V     V
//	   |  CLOSE                 +---------+
//	   | -------                |  ESTAB  |
//	   | snd FIN                +---------+
//	   |                 CLOSE    |     |    rcv FIN
//	   V                -------   |     |    -------
//	+---------+         snd FIN  /       \   snd ACK         +---------+
//	|  FIN    |<----------------          ------------------>|  CLOSE  |
//	| WAIT-1  |------------------                            |   WAIT  |
//	+---------+          rcv FIN  \                          +---------+
//	  | rcv ACK of FIN   -------   |                          CLOSE  |
//	  | --------------   snd ACK   |                         ------- |
//	  V        x                   V                         snd FIN V
//	+---------+               +---------+                    +---------+
//	|FINWAIT-2|               | CLOSING |                    | LAST-ACK|
//	+---------+               +---------+                    +---------+
//	  |              rcv ACK of FIN |                 rcv ACK of FIN |
//	  |  rcv FIN     -------------- |    Timeout=2MSL -------------- |
//	  |  -------            x       V    ------------        x       V
//	   \ snd ACK              +---------+delete TCB          +---------+
//	     -------------------->|TIME-WAIT|------------------->| CLOSED  |
//	                          +---------+                    +---------+
//
//	              Figure 5: TCP Connection State Diagram (RFC 9293)
//
// Note 1: the transition from SYN-RECEIVED to LISTEN on receiving a RST is
// conditional on having reached SYN-RECEIVED after a passive OPEN.

// State is the state of a connection.
type State uint8

// The eleven states, plus CLOSED as the zero value ("no connection state at
// all", RFC 9293 §3.3.2).
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{
	StateClosed:      "CLOSED",
	StateListen:      "LISTEN",
	StateSynSent:     "SYN-SENT",
	StateSynReceived: "SYN-RECEIVED",
	StateEstablished: "ESTABLISHED",
	StateFinWait1:    "FIN-WAIT-1",
	StateFinWait2:    "FIN-WAIT-2",
	StateCloseWait:   "CLOSE-WAIT",
	StateClosing:     "CLOSING",
	StateLastAck:     "LAST-ACK",
	StateTimeWait:    "TIME-WAIT",
}

// String returns the RFC spelling of the state, e.g. "SYN-RECEIVED".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// Synchronized reports whether the state is one of the synchronized states
// of RFC 9293 §3.5.2 (ESTABLISHED and every state after it), where both
// sides know each other's initial sequence number.
func (s State) Synchronized() bool { return s >= StateEstablished }

// canSendData reports whether SEND may put new data on the wire: only while
// this side has not yet sent its FIN.
func (s State) canSendData() bool { return s == StateEstablished || s == StateCloseWait }

// canReceiveData reports whether the text of a segment is accepted (RFC 9293
// §3.10.7.4, seventh check): while the peer has not yet sent its FIN.
func (s State) canReceiveData() bool {
	return s == StateEstablished || s == StateFinWait1 || s == StateFinWait2
}
