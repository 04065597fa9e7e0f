// The sessions an upgrade cannot hand to the new process: they are told
// to reconnect (PROTOCOL.md section 14).

package daemon

import (
	"context"
	"time"
)

// restartText is the text of the bye a session that cannot move gets.
const restartText = "the server is restarting; reconnect now"

// movesOnUpgrade reports whether the session's connection can be handed
// to a new process: a plain TCP socket (telnet, nc, IRC without TLS),
// whose whole state is the socket and the session's own. A TLS session's
// keys, a WebSocket that net/http took over and an SSH channel live in
// this process and end with it.
func (s *session) movesOnUpgrade() bool {
	switch s.info.Listener {
	case "plain", "irc":
		return true
	}
	return false
}

// restartUnmovable ends every session that cannot move to the new process
// (TLS, WebSocket, IRC over TLS or WebSocket, SSH, logged in or still at
// the login prompt) with bye reason "restart", in its dialect: a JSON or
// text bye, IRC's ERROR, the text bye and the channel's exit status over
// SSH. Whatever was queued to a session is written before its bye. It
// returns how many sessions it told, and does not wait for them to end;
// each finishes as any session that ends does (last seen written, gone
// from the registry), and Serve's stop waits for them as for any other.
//
// The clients come back at once, so nothing is said to others that a
// normal disconnect would not say: a user whose other sessions stay
// online shows no change, one whose last session this was shows a
// logout (and a login when the client is back).
//
// An upgrade calls it once the new process is ready and this one no
// longer accepts connections, so that the clients reconnect to the new
// process; the plain sessions it hands over are not touched.
func (s *Server) restartUnmovable() int {
	n := 0
	for _, sess := range s.allConns() {
		if sess.movesOnUpgrade() {
			continue
		}
		sess.end(byeRestart, restartText)
		n++
	}
	if n > 0 {
		s.log.Info("told the sessions that cannot move to reconnect", "sessions", n)
	}
	return n
}

// waitUnmovable waits until no session that cannot move is left on this
// server (each told by restartUnmovable has finished: its logout shown,
// last seen written) or ctx ends; it reports whether none is left. An
// upgrade that waits for it before it hands the plain sessions over moves
// them with the logouts already in their queued output.
func (s *Server) waitUnmovable(ctx context.Context) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		left := false
		for _, sess := range s.allConns() {
			if !sess.movesOnUpgrade() {
				left = true
				break
			}
		}
		if !left {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}
