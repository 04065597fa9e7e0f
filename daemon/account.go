// Account commands: what a user sets for themselves (blocks, password).

package daemon

import (
	"context"
	"fmt"
	"strings"

	"chatd"
)

func (s *session) eachTarget(ctx context.Context, cmd, args string, op func(context.Context, string, string) error, done string) error {
	names, rest, ok := targets(args)
	if !ok || rest != "" {
		return badArgs(cmd)
	}
	// A single name fails as a whole; a list reports each failing name on
	// its own line and goes on.
	var okNames []string
	for _, n := range names {
		if err := op(ctx, s.user, n); err != nil {
			if len(names) == 1 {
				return err
			}
			s.fail(cmd, err)
			continue
		}
		okNames = append(okNames, s.registered(ctx, n))
	}
	// The in-memory list filters fan-out: it must be current before the
	// user is told the change is done.
	list, err := s.srv.store.Blocked(ctx, s.user)
	if err != nil {
		return err
	}
	s.setBlocks(list)
	// The user's other sessions (duplicate_login = "multi") filter with
	// the same list.
	s.srv.apply(&note{Kind: noteBlocks, User: s.user, Names: nonNil(list)})
	text := fmt.Sprintf("%d of %d %s", len(okNames), len(names), done)
	if len(names) == 1 {
		text = fmt.Sprintf("%s %s", okNames[0], done)
	}
	s.reply(okEvent(cmd, text, nil, f("users", nonNil(okNames))))
	return nil
}

// registered returns name in its registered spelling, or as given when it
// cannot be looked up.
func (s *session) registered(ctx context.Context, name string) string {
	if u, err := s.srv.store.UserByName(ctx, name); err == nil {
		return u.Name
	}
	return name
}

func cmdBlock(ctx context.Context, s *session, args string) error {
	return s.eachTarget(ctx, "block", args, s.srv.store.Block, "blocked")
}

func cmdUnblock(ctx context.Context, s *session, args string) error {
	return s.eachTarget(ctx, "unblock", args, s.srv.store.Unblock, "unblocked")
}

func cmdBlocked(ctx context.Context, s *session, _ string) error {
	list, err := s.srv.store.Blocked(ctx, s.user)
	if err != nil {
		return err
	}
	text := "you block: " + strings.Join(list, ", ")
	if len(list) == 0 {
		text = "you block nobody"
	}
	s.reply(okEvent("blocked", text, nil, f("blocked", nonNil(list))))
	return nil
}

// ---- passwd ----

func cmdPasswd(ctx context.Context, s *session, args string) error {
	if args != "" {
		return chatd.Errorf(chatd.EBadArgs, "usage: passwd (you will be asked for the passwords)")
	}
	old, ok := s.ask("old_password", true)
	if !ok {
		return nil
	}
	pw, ok := s.ask("new_password", true)
	if !ok {
		return nil
	}
	repeat, ok := s.ask("repeat_password", true)
	if !ok {
		return nil
	}
	u, err := s.srv.store.UserByName(ctx, s.user)
	if err != nil {
		return err
	}
	// The old password is a login in disguise: the same check and lockout
	// apply, so an unattended session cannot be used to guess it.
	if err := s.checkPassword(ctx, u.Name, u.PassHash, old); err != nil {
		if chatd.ErrorCode(err) == chatd.EBadCredentials {
			err = chatd.Errorf(chatd.EBadCredentials, "the old password is wrong; nothing changed")
		}
		return err
	}
	if err := s.srv.cfg().Accounts.CheckPassword(pw); err != nil {
		return err
	}
	if pw != repeat {
		return chatd.Errorf(chatd.EPasswordMismatch, "the two new passwords differ; nothing changed")
	}
	hash, err := s.hashPassword(pw)
	if err != nil {
		return err
	}
	if err := s.srv.store.SetPassword(ctx, s.user, hash); err != nil {
		return err
	}
	s.reply(okEvent("passwd", "your password was changed", nil))
	return nil
}

func cmdSet(ctx context.Context, s *session, args string) error {
	key, value := splitWord(args)
	if key == "" {
		st := s.prefs()
		var body []string
		var list []field
		for _, k := range chatd.SettingKeys {
			body = append(body, fmt.Sprintf("  %-11s %s", k, st.Get(k)))
			list = append(list, f(k, st.Get(k)))
		}
		s.reply(okEvent("set", "your settings:", body, f("settings", object(list))))
		return nil
	}
	if value == "" || strings.ContainsAny(value, " \t") {
		return badArgs("set")
	}
	st := *s.prefs()
	stored, err := st.Set(key, value)
	if err != nil {
		return err
	}
	key = strings.ToLower(key)
	if err := s.srv.store.SetSetting(ctx, s.user, key, stored); err != nil {
		return err
	}
	s.settings.Store(&st)
	if key == chatd.SettingBot {
		if err := s.srv.markBot(ctx, s.user, st.Bot); err != nil {
			return err
		}
	}
	s.reply(okEvent("set", fmt.Sprintf("%s is now %s", key, stored), nil, f("key", key), f("value", stored)))
	return nil
}
