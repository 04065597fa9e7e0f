// Server admin commands: ban, unban, shutdown.

package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"chatd"
)

// parseBanDuration reads a ban length; see chatd.ParseBanDuration.
func parseBanDuration(w string) (time.Duration, bool) {
	d, err := chatd.ParseBanDuration(w)
	return d, err == nil
}

func cmdBan(ctx context.Context, s *session, args string) error {
	name, rest := splitWord(args)
	if name == "" {
		return badArgs("ban")
	}
	if chatd.Key(name) == chatd.Key(s.user) {
		return chatd.Errorf(chatd.ESelf, "you cannot ban yourself")
	}
	var dur time.Duration
	if w, after := splitWord(rest); w != "" {
		if d, ok := parseBanDuration(w); ok {
			dur, rest = d, after
		} else if w[0] >= '0' && w[0] <= '9' {
			// "ban bob 30 spam" must not become a permanent ban by a typo.
			return chatd.Errorf(chatd.EBadArgs, "%q is not a duration: write it like 30m, 2h or 7d (or permanent)", w)
		}
	}
	now := s.srv.now()
	b := chatd.Ban{User: name, Reason: chatd.CleanText(rest), By: s.user, Created: now}
	if dur > 0 {
		b.Expires = now.Add(dur)
	}
	if err := s.srv.store.Ban(ctx, b); err != nil {
		return err
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err == nil {
		name = u.Name
	}
	until := "for good"
	if dur > 0 {
		until = "until " + s.textTime(b.Expires)
	}
	s.srv.log.Info("ban", "user", name, "by", s.user, "until", b.Expires)
	if err := s.srv.endUser(ctx, name, byeBanned, banText(&b)); err != nil {
		return err
	}
	s.reply(okEvent("ban", fmt.Sprintf("%s is banned %s", name, until), nil,
		f("user", name), f("until", jsonTime(b.Expires)), f("reason", b.Reason)))
	return nil
}

func cmdUnban(ctx context.Context, s *session, args string) error {
	name := strings.TrimSpace(args)
	if name == "" || strings.ContainsAny(name, " \t") {
		return badArgs("unban")
	}
	if err := s.srv.store.Unban(ctx, name); err != nil {
		return err
	}
	name = s.registered(ctx, name)
	s.reply(okEvent("unban", name+" is no longer banned", nil, f("user", name)))
	return nil
}

func cmdShutdown(_ context.Context, s *session, args string) error {
	msg := chatd.CleanText(strings.TrimSpace(args))
	if msg == "" {
		msg = "the server is shutting down"
	}
	s.reply(okEvent("shutdown", "shutting down", nil))
	s.srv.log.Info("shutdown requested", "by", s.user)
	s.srv.Shutdown(msg)
	return nil
}
