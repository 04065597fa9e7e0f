// Admin changes made outside the daemon: the admin commands record an
// action in the same transaction as the change, and the server acts on it.

package daemon

import (
	"context"
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
	// changed, and onlineRefresh how often it rewrites the table anyway,
	// so idle times in `chatd who` stay close.
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
				s.apply(ctx, a)
				cursor = a.ID
			}
			if len(acts) < actionBatch {
				break
			}
		}
	}
}

// apply carries out one admin action on the sessions online.
func (s *Server) apply(ctx context.Context, a chatd.Action) {
	o := s.hub.lookup(a.User)
	switch a.Kind {
	case chatd.ActionNotice:
		o = nil
	case chatd.ActionUserDel, chatd.ActionPasswd, chatd.ActionKick:
		// These end the session that was online when the change was
		// made; one that logged in after it (with the new password, or a
		// new account of the same name) stays. Times are stored to the
		// millisecond.
		if o != nil && !o.loginAt.Before(a.Time.Add(time.Millisecond)) {
			o = nil
		}
	}
	s.metrics.action(a.Kind)
	s.log.Info("admin action", "id", a.ID, "action", string(a.Kind), "user", a.User, "by", a.By,
		"text", chatd.CleanText(a.Text), "online", o != nil)
	switch a.Kind {
	case chatd.ActionNotice:
		fanout(s.hub.sessions(), noticeEvent(chatd.CleanText(a.Text), a.Time), nil, nil)
	case chatd.ActionUserDel:
		s.names.forget(a.User)
		if o != nil {
			o.end(byeKicked, "your account was deleted by an admin")
		}
	case chatd.ActionPasswd:
		if o != nil {
			o.end(byeKicked, "your password was changed by an admin; log in again with the new one")
		}
	case chatd.ActionKick:
		if o != nil {
			text := "kicked by an admin"
			if r := chatd.CleanText(a.Text); r != "" {
				text += ": " + r
			}
			o.end(byeKicked, text)
		}
	case chatd.ActionBan:
		if o == nil {
			return
		}
		b, err := s.store.BanOf(ctx, a.User)
		if err != nil {
			s.log.Error("read ban", "user", a.User, "err", err)
			return
		}
		if b != nil && b.ActiveAt(s.now()) {
			s.kickBanned(a.User, b)
		}
	case chatd.ActionUserMod:
		if o == nil {
			return
		}
		u, err := s.store.UserByName(ctx, a.User)
		if err != nil {
			return // deleted meanwhile; its own action ends the session
		}
		if o.admin.Swap(u.Admin) == u.Admin {
			return
		}
		text := "you are no longer a server admin"
		if u.Admin {
			text = "you are now a server admin"
		}
		o.send(noticeEvent(text, a.Time))
	}
}

// syncOnline keeps the online-sessions table that `chatd who` reads in
// step with the hub: rewritten within onlinePoll of a change, and every
// onlineRefresh for the idle times. It empties the table when it stops.
func (s *Server) syncOnline(ctx context.Context) {
	t := time.NewTicker(onlinePoll)
	defer t.Stop()
	written := ^uint64(0)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			ctx, cancel := s.finishCtx() // at shutdown: ends with the grace
			err := s.store.SetOnline(ctx, nil)
			cancel()
			if err != nil {
				s.log.Error("clear online sessions", "err", err)
			}
			return
		case <-t.C:
		}
		if s.hub.generation() == written && time.Since(last) < onlineRefresh {
			continue
		}
		snap, gen := s.hub.snapshot()
		if err := s.store.SetOnline(ctx, snap); err != nil {
			if ctx.Err() == nil {
				s.log.Error("write online sessions", "err", err)
			}
			continue
		}
		written, last = gen, time.Now()
	}
}
