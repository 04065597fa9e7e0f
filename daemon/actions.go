// Admin changes made outside the daemon: the admin commands record an
// action in the same transaction as the change, and the server acts on it.

package daemon

import (
	"context"
	"sync/atomic"
	"time"

	"chatd"
)

const (
	// actionPoll is how often the server looks for new admin actions: a
	// read of the actions table by primary key past the last id seen.
	actionPoll = 500 * time.Millisecond
	// actionBatch bounds the actions read at once.
	actionBatch = 100
	// actionRetention is how long acted-on actions are kept.
	actionRetention = 24 * time.Hour
	// onlinePoll is how often the server checks whether who is online
	// changed, and onlineRefresh how often it rewrites the rows of the
	// sessions active since, so idle times in `chatd who` stay close.
	onlinePoll    = time.Second
	onlineRefresh = 15 * time.Second
)

// watchActions acts on every admin action recorded after start (the
// cursor), within actionPoll of its commit. Each is logged once.
func (s *Server) watchActions(ctx context.Context, cursor int64) {
	t := time.NewTicker(actionPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			acts, err := s.store.ActionsAfter(ctx, cursor, actionBatch)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("read admin actions", "err", err)
				}
				break
			}
			for _, a := range acts {
				s.act(ctx, a)
				cursor = a.ID
			}
			if len(acts) < actionBatch {
				break
			}
		}
	}
}

// act carries out one admin action on this node's sessions, as notes
// applied here: every node reads the actions itself.
func (s *Server) act(ctx context.Context, a chatd.Action) {
	// Deleting, a password change and a kick end the session that was
	// online when the change was made; one that logged in after it (with
	// the new password, or a new account of the same name) stays. Times
	// are stored to the millisecond.
	before := a.Time.Add(time.Millisecond)
	p := s.hub.find(a.User, "")
	online := p != nil
	switch a.Kind {
	case chatd.ActionNotice:
		online = false
	case chatd.ActionUserDel, chatd.ActionPasswd, chatd.ActionKick:
		online = online && p.Since.Before(before)
	}
	s.metrics.action(a.Kind)
	s.log.Info("admin action", "id", a.ID, "action", string(a.Kind), "user", a.User, "by", a.By,
		"text", chatd.CleanText(a.Text), "online", online)
	switch a.Kind {
	case chatd.ActionNotice:
		s.apply(&note{Kind: noteNotice, ID: actionID(a.ID, a.Time), Text: chatd.CleanText(a.Text), Time: a.Time})
	case chatd.ActionUserDel:
		s.names.forget(a.User)
		s.apply(&note{Kind: noteEnd, User: a.User, Time: before, Room: byeKicked, Text: "your account was deleted by an admin"})
	case chatd.ActionPasswd:
		s.apply(&note{Kind: noteEnd, User: a.User, Time: before, Room: byeKicked,
			Text: "your password was changed by an admin; log in again with the new one"})
	case chatd.ActionKick:
		text := "kicked by an admin"
		if r := chatd.CleanText(a.Text); r != "" {
			text += ": " + r
		}
		s.apply(&note{Kind: noteEnd, User: a.User, Time: before, Room: byeKicked, Text: text})
	case chatd.ActionBan:
		if !online {
			return
		}
		b, err := s.store.BanOf(ctx, a.User)
		if err != nil {
			s.log.Error("read ban", "user", a.User, "err", err)
			return
		}
		if b != nil && b.ActiveAt(s.now()) {
			s.apply(&note{Kind: noteEnd, User: a.User, Room: byeBanned, Text: banText(b)})
		}
	case chatd.ActionUserMod:
		if !online {
			return
		}
		u, err := s.store.UserByName(ctx, a.User)
		if err != nil {
			return // deleted meanwhile; its own action ends the session
		}
		s.apply(&note{Kind: noteAdmin, ID: actionID(a.ID, a.Time), User: a.User, Flag: u.Admin, Time: a.Time})
	}
}

// syncOnline keeps the online-sessions table that `chatd who` reads in
// step with the hub: within onlinePoll of a login, logout or room change
// it writes the rows of the sessions that moved (hub.onlineChanges), and
// every onlineRefresh (server clock) those of the sessions active since
// the last refresh, for their idle times. A server at rest writes nothing.
// The table is written whole at first and after a failed write. It empties
// the table when it stops.
func (s *Server) syncOnline(ctx context.Context) {
	t := time.NewTicker(onlinePoll)
	defer t.Stop()
	full := true
	refreshed := s.now() // the first write is whole: every idle time in it
	// unfreed is how many rows were written since memory was last handed
	// back, the last of them at lastWrite (see restQuiet).
	var unfreed int
	var lastWrite time.Time
	pacer := s.gcPacer()
	defer pacer.rest()
	for {
		select {
		case <-ctx.Done():
			if s.handedOver.Load() {
				return // the new process keeps the table
			}
			ctx, cancel := s.finishCtx() // at shutdown: ends with the grace
			err := s.store.SetOnline(ctx, nil)
			cancel()
			if err != nil {
				s.log.Error("clear online sessions", "err", err)
			}
			return
		case <-t.C:
		}
		now := s.now()
		if now.Before(refreshed) {
			refreshed = now // the clock went back
		}
		active := int64(-1)
		refresh := now.Sub(refreshed) >= onlineRefresh
		if refresh {
			active = activeFrom(refreshed)
		}
		gone, put, all := s.hub.onlineChanges(full, active)
		var err error
		if all {
			err = s.store.SetOnline(ctx, put)
		} else {
			err = s.store.UpdateOnline(ctx, gone, put)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("write online sessions", "err", err)
			}
			full = true // what moved meanwhile is lost: write it all next time
			continue
		}
		full = false
		if refresh {
			refreshed = now
		}
		if h := onlineSynced.Load(); h != nil {
			(*h)(s, refresh, len(gone)+len(put))
		}
		if s.manageMemory {
			s.applyMemoryLimit() // room for what the sessions now hold
		}
		switch n := len(gone) + len(put); {
		case n > 0:
			unfreed, lastWrite = unfreed+n, time.Now()
			pacer.wave(n)
		case time.Since(lastWrite) >= restQuiet:
			pacer.rest()
			if s.freeRestMemory(unfreed) {
				unfreed = 0
			}
		}
	}
}

// activeFrom is the activity (session.lastActive, server clock in unix
// nanoseconds) that counts as since a pass over everyone's activity at
// last (syncOnline's refresh, flushSeen): a line stamps lastActive a
// moment before it stores it, so a second's overlap catches one the pass
// read too early.
func activeFrom(last time.Time) int64 {
	return last.Add(-time.Second).UnixNano()
}

// onlineSynced, set only by tests, runs after each write of syncOnline
// that succeeded (nothing to write included): whether it was a refresh
// and how many rows it deleted or wrote.
var onlineSynced atomic.Pointer[func(s *Server, refresh bool, rows int)]
