package demo

// The /session endpoint: HTTP is stateless, so a server that wants to
// remember a visitor keeps the state itself and gives the client only a
// name for it, in a cookie (RFC 6265). This is the smallest honest version
// of that: a bounded in-memory store per server, random 128-bit IDs from
// crypto/rand, and a cookie the page's scripts cannot read (HttpOnly) and
// other sites' requests do not carry (SameSite=Lax).
//
// Left out, on purpose: expiry by time (the store forgets the oldest
// session when full instead), persistence, and sharing between servers;
// docs/book/09-http-state.md discusses those trade-offs.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
)

// SessionCookie is the name of the cookie that carries the session ID.
const SessionCookie = "session"

// MaxSessions bounds a SessionStore: past it, the oldest session is
// forgotten.
const MaxSessions = 10_000

// session is what the server remembers about one visitor.
type session struct {
	visits int // requests seen with this session's cookie, this one included
}

// SessionStore is a server-side session store: a bounded map from session
// ID to state, safe for concurrent handlers. The zero value is not usable;
// call NewSessionStore.
type SessionStore struct {
	mu    sync.Mutex
	max   int                 // most sessions kept
	byID  map[string]*session // session ID (32 hex digits) -> state
	order []string            // IDs oldest first, for eviction
}

// NewSessionStore returns an empty store that keeps at most max sessions.
func NewSessionStore(max int) *SessionStore {
	return &SessionStore{max: max, byID: make(map[string]*session)}
}

// Visit counts one request from the session named id and returns the new
// count and the session's ID. An empty or unknown id starts a new session
// with a fresh random ID.
func (s *SessionStore) Visit(id string) (visits int, sid string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.byID[id]; ok {
		sess.visits++
		return sess.visits, id, nil
	}
	sid, err = newSessionID()
	if err != nil {
		return 0, "", err
	}
	if len(s.order) >= s.max {
		delete(s.byID, s.order[0])
		s.order = s.order[1:]
	}
	s.byID[sid] = &session{visits: 1}
	s.order = append(s.order, sid)
	return 1, sid, nil
}

// Len returns the number of sessions the store holds.
func (s *SessionStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// newSessionID returns 128 random bits in hex: unguessable, so knowing one
// session's name tells nothing about another's.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// handleSession answers GET /session with "visits=N session=PREFIX": the
// visit count of the session named by the cookie, or 1 for a new session,
// whose cookie it sets.
func (s *SessionStore) handleSession(w http.ResponseWriter, r *http.Request) {
	var id string
	if c, err := r.Cookie(SessionCookie); err == nil {
		id = c.Value
	}
	visits, sid, err := s.Visit(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if sid != id {
		http.SetCookie(w, &http.Cookie{
			Name:     SessionCookie,
			Value:    sid,
			Path:     "/",
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		})
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "visits=%d session=%s\n", visits, sid[:8])
}
