// The SSH key commands (PROTOCOL.md section 12): a user lists, adds and
// deletes the public keys they log in with over SSH (ssh.go).

package daemon

import (
	"context"
	"fmt"
	"strings"

	"chatd"
)

func cmdKeys(ctx context.Context, s *session, args string) error {
	if strings.TrimSpace(args) != "" {
		return chatd.Errorf(chatd.EBadArgs, "usage: keys (lists your SSH keys)")
	}
	keys, err := s.srv.store.Keys(ctx, s.user)
	if err != nil {
		return err
	}
	list := []object{}
	var body []string
	for _, k := range keys {
		list = append(list, object{f("type", k.Type), f("fingerprint", k.Fingerprint),
			f("comment", k.Comment), f("added", stamp(k.Added))})
		line := fmt.Sprintf("  %s %s, added %s", k.Type, k.Fingerprint, s.textTime(k.Added))
		if k.Comment != "" {
			line += ": " + k.Comment
		}
		body = append(body, line)
	}
	text := fmt.Sprintf("you have %d SSH key%s:", len(keys), plural(len(keys)))
	if len(keys) == 0 {
		text = "you have no SSH keys (keyadd adds one)"
	}
	s.reply(okEvent("keys", text, body, f("keys", list)))
	return nil
}

func cmdKeyAdd(ctx context.Context, s *session, args string) error {
	if strings.TrimSpace(args) == "" {
		return chatd.Errorf(chatd.EBadArgs, "usage: keyadd KEY (one line of authorized_keys, like the contents of ~/.ssh/id_ed25519.pub)")
	}
	k, err := chatd.ParseSSHKey(args)
	if err != nil {
		return err
	}
	k.User = s.user
	if err := s.srv.store.AddKey(ctx, k); err != nil {
		return err
	}
	s.srv.connLog.Info("ssh key added", "user", s.user, "fingerprint", k.Fingerprint, "addr", s.addr)
	s.reply(okEvent("keyadd", fmt.Sprintf("added your %s key %s", k.Type, k.Fingerprint), nil,
		f("key_type", k.Type), f("fingerprint", k.Fingerprint)))
	return nil
}

func cmdKeyDel(ctx context.Context, s *session, args string) error {
	fp := strings.TrimSpace(args)
	if fp == "" || strings.ContainsAny(fp, " \t") {
		return chatd.Errorf(chatd.EBadArgs, "usage: keydel FINGERPRINT (as keys shows it: SHA256:...)")
	}
	if err := s.srv.store.DeleteKey(ctx, s.user, fp); err != nil {
		if chatd.ErrorCode(err) == chatd.EBadArgs {
			err = chatd.Errorf(chatd.EBadArgs, "you have no key with the fingerprint %s (keys lists yours)", fp)
		}
		return err
	}
	s.srv.connLog.Info("ssh key deleted", "user", s.user, "fingerprint", fp, "addr", s.addr)
	s.reply(okEvent("keydel", "deleted your key "+fp, nil, f("fingerprint", fp)))
	return nil
}
