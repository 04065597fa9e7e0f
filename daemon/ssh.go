// The SSH listener (PROTOCOL.md section 12, docs/ssh.md): SSH is one more
// transport. The handshake logs the user in through the same gate as the
// telnet prompt (login.go: lockout, the hash queue, registration), then
// the session channel becomes a Conn (sshconn.go) that ServeConn serves
// like any other; enter applies bans and the duplicate-login policy.

package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"chatd"
)

// loadHostKey reads the SSH host key at path, or writes a new ed25519 key
// there (mode 0600) when the file does not exist. A key file that group or
// others may read or write is refused, as OpenSSH refuses one: anyone who
// can read it can pose as the server.
func loadHostKey(path string) (signer ssh.Signer, created bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeHostKey(path); err != nil {
			return nil, false, err
		}
		created = true
		fi, err = os.Stat(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("ssh.host_key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("ssh.host_key: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, false, fmt.Errorf("ssh.host_key: %s is open to group or others (mode %04o); the host key must be private: chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("ssh.host_key: cannot read the host key: %w", err)
	}
	signer, err = ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("ssh.host_key: %s is not a private key chatd can use (an unencrypted OpenSSH or PEM key): %w", path, err)
	}
	return signer, created, nil
}

// writeHostKey writes a new ed25519 private key in OpenSSH format to path,
// which must not exist.
func writeHostKey(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("ssh.host_key: generate a key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "chatd host key")
	if err != nil {
		return fmt.Errorf("ssh.host_key: encode the new key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("ssh.host_key: write a new key: %w", err)
	}
	if _, err := f.Write(pem.EncodeToMemory(block)); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("ssh.host_key: write a new key to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("ssh.host_key: write a new key to %s: %w", path, err)
	}
	return nil
}

// listenSSH loads the host key and binds ssh.listen, unless Options gave
// the socket; nothing when SSH is off. Every socket it accepts takes a
// connection slot at once (countAccepts), so a client that never finishes
// its handshake counts like any other.
func (s *Server) listenSSH() error {
	cfg := s.cfg()
	if s.sshLn == nil && cfg.SSH.Listen == "" {
		return nil
	}
	path := cfg.SSHHostKeyPath()
	signer, created, err := loadHostKey(path)
	if err != nil {
		return err
	}
	if created {
		s.log.Info("wrote a new SSH host key", "path", path, "fingerprint", ssh.FingerprintSHA256(signer.PublicKey()))
	}
	s.sshKey = signer
	if s.sshLn == nil {
		if s.sshLn, err = net.Listen("tcp", cfg.SSH.Listen); err != nil {
			return fmt.Errorf("listen on %s (ssh.listen): %w", cfg.SSH.Listen, err)
		}
	}
	s.keepRaw("ssh", s.sshLn)
	s.sshLn = s.countAccepts("ssh", s.sshLn, nil, nil)
	return nil
}

// SSHAddr is the bound SSH address, or nil when SSH is off.
func (s *Server) SSHAddr() net.Addr {
	if s.sshLn == nil {
		return nil
	}
	return s.sshLn.Addr()
}

// sshAcceptLoop serves each SSH connection on a goroutine of its own until
// ln is closed; it returns when every one of them has.
func (s *Server) sshAcceptLoop(ctx context.Context, ln net.Listener) {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		nc, err := ln.Accept() // the counting listener waits out errors
		if err != nil {
			return
		}
		conns.Go(func() { s.serveSSH(ctx, nc) })
	}
}

// Extensions of ssh.Permissions that say how the handshake logged in.
const (
	permUser = "chatd-user" // the account's name as the client typed it
	permKey  = "chatd-key"  // the fingerprint of the key it logged in with, if any
)

// serveSSH runs one SSH connection: the handshake within login_timeout,
// then its one session channel as a chatd session.
func (s *Server) serveSSH(ctx context.Context, nc net.Conn) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("ssh connection panic", "addr", nc.RemoteAddr().String(), "panic", p)
			nc.Close()
		}
	}()
	addr := hostOf(nc.RemoteAddr().String())
	// The gate's view of the client while it logs in: its address, its
	// login deadline and its end, as for a telnet session before login.
	gate := newSession(s, nil, ConnInfo{Addr: addr, Listener: "ssh"})
	deadline := s.loginDeadline(gate)
	nc.SetDeadline(deadline)
	// Until the session starts, a server that stops closes the connection.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.sshConfig(gate))
	close(gate.done) // no hash waits for this client any more
	if err != nil {
		s.log.Debug("ssh handshake", "addr", addr, "err", err)
		nc.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	user := sc.Permissions.Extensions[permUser]
	if fp := sc.Permissions.Extensions[permKey]; fp != "" {
		gate.recordKeyLogin(user)
		s.log.Debug("ssh key accepted", "user", user, "fingerprint", fp, "addr", addr)
	}
	// The account as it is now: it may have changed during the handshake.
	lctx, cancel := context.WithDeadline(context.Background(), deadline)
	u, err := s.store.UserByName(lctx, user)
	cancel()
	if err != nil {
		s.log.Error("ssh login: read the account", "user", user, "err", err)
		sc.Close()
		return
	}
	// Opening the session channel and asking for a shell or a command
	// still belong to the login: the same deadline holds.
	nc.SetDeadline(time.Time{})
	timer := time.AfterFunc(time.Until(deadline), func() { sc.Close() })
	conn, info, ok := s.openSSHSession(sc, chans, addr)
	if !timer.Stop() || !stop() || !ok {
		sc.Close()
		return
	}
	info.account = u
	s.ServeConn(ctx, conn, info)
}

// sshConfig is the server side of one handshake: public keys from the
// store, passwords through the gate (password and keyboard-interactive),
// and registration when accounts.registration is open.
func (s *Server) sshConfig(gate *session) *ssh.ServerConfig {
	// A failed step counts in chatd_logins_total as a failed telnet login
	// does (session.fail).
	refuse := func(err error) error {
		s.metrics.login(string(chatd.ErrorCode(err)))
		return sshRefusal(err)
	}
	c := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-chatd",
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			ctx, cancel := gate.authCtx()
			defer cancel()
			if err := gate.checkKey(ctx, meta.User(), key); err != nil {
				return nil, refuse(err)
			}
			return &ssh.Permissions{Extensions: map[string]string{permUser: meta.User(), permKey: ssh.FingerprintSHA256(key)}}, nil
		},
		PasswordCallback: func(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			ctx, cancel := gate.authCtx()
			defer cancel()
			if err := gate.sshPassword(ctx, meta.User(), string(pw), false); err != nil {
				return nil, refuse(err)
			}
			return &ssh.Permissions{Extensions: map[string]string{permUser: meta.User()}}, nil
		},
		KeyboardInteractiveCallback: func(meta ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			ctx, cancel := gate.authCtx()
			defer cancel()
			if err := gate.sshInteractive(ctx, meta.User(), client); err != nil {
				return nil, refuse(err)
			}
			return &ssh.Permissions{Extensions: map[string]string{permUser: meta.User()}}, nil
		},
	}
	c.AddHostKey(s.sshKey)
	return c
}

// authCtx bounds one authentication step's database work by the login
// deadline.
func (s *session) authCtx() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), s.srv.loginDeadline(s))
}

// sshRefusal is what the client is told when a step fails: a wrong key
// or password only "permission denied" (the client's own words); anything
// a person can act on (locked out, busy, a weak new password) also as a
// banner line.
func sshRefusal(err error) error {
	switch chatd.ErrorCode(err) {
	case chatd.EBadCredentials:
		return err
	case chatd.EInternal:
		return &ssh.BannerError{Err: err, Message: "chatd: internal error; try again later\r\n"}
	}
	var ce *chatd.Error
	if errors.As(err, &ce) {
		return &ssh.BannerError{Err: err, Message: "chatd: " + ce.Message + "\r\n"}
	}
	return &ssh.BannerError{Err: err, Message: "chatd: internal error; try again later\r\n"}
}

// checkKey decides a public key offered for name: it is one of the
// account's keys, and the name is not locked out. A key that is not is a
// failed attempt, counted toward the lockout like a wrong password. The
// success is recorded once the handshake is over (recordKeyLogin): the
// client has yet to prove it holds the private key.
func (s *session) checkKey(ctx context.Context, name string, key ssh.PublicKey) error {
	defer s.srv.nameLocks.lock(chatd.Key(name))()
	if until, _, err := s.lockState(ctx, name); err != nil {
		return err
	} else if !until.IsZero() {
		return lockedOut(until)
	}
	keys, err := s.srv.store.Keys(ctx, name)
	if err != nil && chatd.ErrorCode(err) != chatd.ENoSuchUser {
		return err
	}
	offered := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	for _, k := range keys {
		if k.Key == offered {
			return nil
		}
	}
	if err := s.srv.store.RecordAttempt(ctx, name, s.addr, s.srv.now(), false); err != nil {
		s.srv.log.Error("record login attempt", "user", name, "err", err)
	}
	s.srv.connLog.Info("login failed", "user", name, "addr", s.addr, "via", "ssh key")
	if until, _, err := s.lockState(ctx, name); err != nil {
		return err
	} else if !until.IsZero() {
		return lockedOut(until)
	}
	return chatd.Errorf(chatd.EBadCredentials, "wrong key")
}

// recordKeyLogin records the successful login by key of name, which
// resets its count of failures as a right password does.
func (s *session) recordKeyLogin(name string) {
	ctx, cancel := s.authCtx()
	defer cancel()
	defer s.srv.nameLocks.lock(chatd.Key(name))()
	if err := s.srv.store.RecordAttempt(ctx, name, s.addr, s.srv.now(), true); err != nil {
		s.srv.log.Error("record login attempt", "user", name, "err", err)
	}
}

// sshPassword checks name's password, as the telnet prompt does
// (checkPassword: lockout, the hash queue, a dummy hash for an unknown
// name). interactive says keyboard-interactive asked for it: with
// registration open, an unknown name is sent there (sshInteractive) and
// the password method refuses it uncounted.
func (s *session) sshPassword(ctx context.Context, name, pw string, interactive bool) error {
	u, err := s.srv.store.UserByName(ctx, name)
	switch {
	case err == nil:
	case chatd.ErrorCode(err) != chatd.ENoSuchUser:
		return err
	case s.srv.cfg().Accounts.Registration == "open" && !interactive:
		// Not a secret with registration open: say how to create it.
		return chatd.Errorf(chatd.ENoSuchUser, "there is no account named %s yet; to create it, log in by keyboard-interactive (ssh -o PreferredAuthentications=keyboard-interactive)", name)
	}
	return s.checkLogin(ctx, u, name, pw, "via", "ssh password")
}

// sshInteractive is keyboard-interactive: the password of an account, or,
// with registration open and no account of that name, a new password
// asked twice, as the telnet prompt asks.
func (s *session) sshInteractive(ctx context.Context, name string, client ssh.KeyboardInteractiveChallenge) error {
	_, err := s.srv.store.UserByName(ctx, name)
	if chatd.ErrorCode(err) != chatd.ENoSuchUser || s.srv.cfg().Accounts.Registration != "open" {
		if err != nil && chatd.ErrorCode(err) != chatd.ENoSuchUser {
			return err
		}
		answers, err := client("", "", []string{"Password: "}, []bool{false})
		if err != nil || len(answers) != 1 {
			return chatd.Errorf(chatd.EBadCredentials, "no password given")
		}
		return s.sshPassword(ctx, name, answers[0], true)
	}
	if err := s.srv.cfg().Accounts.CheckName(name); err != nil {
		return err
	}
	answers, err := client(name, fmt.Sprintf("There is no account named %s yet. To create it, choose a password.", name),
		[]string{"New password: ", "Repeat the password: "}, []bool{false, false})
	if err != nil || len(answers) != 2 || answers[0] == "" {
		return chatd.Errorf(chatd.EBadCredentials, "no password given")
	}
	if err := s.srv.cfg().Accounts.CheckPassword(answers[0]); err != nil {
		return err
	}
	if answers[0] != answers[1] {
		return chatd.Errorf(chatd.EPasswordMismatch, "the two passwords differ")
	}
	hash, err := s.hashPassword(answers[0])
	if err != nil {
		return err
	}
	u, err := s.srv.store.CreateUser(ctx, name, hash, false)
	if chatd.ErrorCode(err) == chatd.EUserExists {
		return chatd.Errorf(chatd.EBadName, "%s was registered by someone else a moment ago", name)
	} else if err != nil {
		return err
	}
	s.srv.connLog.Info("registered", "user", u.Name, "addr", s.addr, "via", "ssh")
	s.srv.metrics.login("registered")
	return nil
}

// openSSHSession waits for the client's session channel and its shell or
// exec request, and returns the Conn that serves it. Any other channel is
// refused; a second session channel too (one SSH connection is one chatd
// session). An exec of anything but "json" gets an error and exit status
// 1.
func (s *Server) openSSHSession(sc *ssh.ServerConn, chans <-chan ssh.NewChannel, addr string) (*sshConn, ConnInfo, bool) {
	var ch ssh.Channel
	var reqs <-chan *ssh.Request
	for nc := range chans {
		if nc.ChannelType() != "session" || ch != nil {
			nc.Reject(ssh.Prohibited, "chatd serves one session per connection, nothing else")
			continue
		}
		var err error
		if ch, reqs, err = nc.Accept(); err != nil {
			return nil, ConnInfo{}, false
		}
		break
	}
	if ch == nil {
		return nil, ConnInfo{}, false
	}
	go func() {
		for nc := range chans {
			nc.Reject(ssh.Prohibited, "chatd serves one session per connection, nothing else")
		}
	}()
	var pty *ptyRequest
	for req := range reqs {
		switch req.Type {
		case "pty-req":
			p, ok := parsePtyRequest(req.Payload)
			if ok {
				pty = &p
			}
			req.Reply(ok, nil)
		case "shell":
			req.Reply(true, nil)
			info := ConnInfo{Addr: addr, Listener: "ssh"}
			return newSSHConn(sc, ch, reqs, pty, s.sshLineLimit, s.completer()), info, true
		case "exec":
			var cmd struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &cmd); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			if strings.TrimSpace(cmd.Command) != "json" {
				fmt.Fprintf(ch.Stderr(), "chatd: unknown command %q; the one command is json (JSON lines for scripts), or log in without one for the chat\r\n", cmd.Command)
				ch.CloseWrite()
				exitStatus(ch, 1)
				ch.Close()
				waitClosed(sc) // the client closes once it has the status
				return nil, ConnInfo{}, false
			}
			info := ConnInfo{Addr: addr, Listener: "ssh", JSON: true}
			return newSSHConn(sc, ch, reqs, nil, s.sshLineLimit, nil), info, true
		default: // env, subsystem, agent or X11 forwarding: not served
			req.Reply(false, nil)
		}
	}
	return nil, ConnInfo{}, false
}

// waitClosed waits, at most lingerTime, for the client to close the
// connection.
func waitClosed(sc *ssh.ServerConn) {
	done := make(chan struct{})
	go func() { sc.Wait(); close(done) }()
	t := time.NewTimer(lingerTime)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		sc.Close() // and the goroutine above ends
	}
}

// sshLineLimit is server.max_line_bytes in force.
func (s *Server) sshLineLimit() int { return s.cfg().Server.MaxLineBytes }

// exitStatus tells the client how the command ended.
func exitStatus(ch ssh.Channel, code uint32) {
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
}

// ptyRequest is what a pty-req asks for (RFC 4254 6.2).
type ptyRequest struct {
	Term          string
	Width, Height uint32
	PixW, PixH    uint32
	Modes         string
}

func parsePtyRequest(payload []byte) (ptyRequest, bool) {
	var p ptyRequest
	if err := ssh.Unmarshal(payload, &p); err != nil {
		return p, false
	}
	return p, true
}

// completer is what Tab completes in the shell: the names of everyone
// online and the rooms (with and without their #).
func (s *Server) completer() func(prefix string) []string {
	return func(prefix string) []string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var words []string
		if !strings.HasPrefix(prefix, "#") {
			if names, err := s.onlineNames(ctx); err == nil {
				words = append(words, names...)
			}
		}
		if rooms, err := s.store.Rooms(ctx); err == nil {
			for _, r := range rooms {
				if strings.HasPrefix(prefix, "#") {
					words = append(words, "#"+r.Name)
				} else {
					words = append(words, r.Name)
				}
			}
		}
		var out []string
		low := strings.ToLower(prefix)
		for _, w := range words {
			if strings.HasPrefix(strings.ToLower(w), low) && !containsFold(out, w) {
				out = append(out, w)
			}
		}
		return out
	}
}

func containsFold(list []string, w string) bool {
	for _, x := range list {
		if strings.EqualFold(x, w) {
			return true
		}
	}
	return false
}
