// Watchers (PROTOCOL.md 13): watch, unwatch and watching. A watcher hears
// of the watched user's logins, logouts and away changes however many
// users are online (scale.go); the lists are kept in the store and the
// registry indexes them for the sessions online.

package daemon

import (
	"context"
	"strings"

	"chatd"
)

// watchArg is the one user name of a watch or unwatch.
func watchArg(cmd, args string) (string, error) {
	name := strings.TrimSpace(args)
	if name == "" || strings.ContainsAny(name, " \t") {
		return "", chatd.Errorf(chatd.EBadArgs, "usage: %s USER", cmd)
	}
	return name, nil
}

func cmdWatch(ctx context.Context, s *session, args string) error {
	name, err := watchArg("watch", args)
	if err != nil {
		return err
	}
	added, err := s.srv.store.Watch(ctx, s.user, name)
	if err != nil {
		return err
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if added {
		if err := s.rewatch(ctx); err != nil {
			return err
		}
	}
	text := "you are watching " + u.Name
	if !added {
		text = "you were watching " + u.Name + " already"
	}
	s.reply(okEvent("watch", text, nil, f("user", u.Name)))
	return nil
}

func cmdUnwatch(ctx context.Context, s *session, args string) error {
	name, err := watchArg("unwatch", args)
	if err != nil {
		return err
	}
	removed, err := s.srv.store.Unwatch(ctx, s.user, name)
	if err != nil {
		return err
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if removed {
		if err := s.rewatch(ctx); err != nil {
			return err
		}
	}
	text := "you no longer watch " + u.Name
	if !removed {
		text = "you were not watching " + u.Name
	}
	s.reply(okEvent("unwatch", text, nil, f("user", u.Name)))
	return nil
}

// rewatch hands the user's stored list to every session of theirs, on
// every node.
func (s *session) rewatch(ctx context.Context) error {
	list, err := s.srv.store.Watching(ctx, s.user)
	if err != nil {
		return err
	}
	return s.srv.effect(ctx, &note{Kind: noteWatch, User: s.user, Names: list})
}

func cmdWatching(ctx context.Context, s *session, _ string) error {
	list, err := s.srv.store.Watching(ctx, s.user)
	if err != nil {
		return err
	}
	users := make([]object, 0, len(list))
	body := make([]string, 0, len(list))
	for _, name := range list {
		p, err := s.srv.community.find(ctx, name)
		if err != nil {
			return err
		}
		state, line := "offline", "offline"
		var away any
		switch {
		case p != nil && p.Away != nil:
			state, away = "away", *p.Away
			line = "away: " + *p.Away
		case p != nil:
			state, line = "online", "online"
		}
		users = append(users, object{f("user", name), f("state", state), f("away", away)})
		body = append(body, "  "+name+": "+line)
	}
	text := "you watch nobody"
	if len(list) > 0 {
		text = "you watch:"
	}
	s.reply(okEvent("watching", text, body, f("users", users)))
	return nil
}
