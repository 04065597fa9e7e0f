// METADATA (IRCv3 draft/metadata-3; docs/irc.md "Metadata"): GET, LIST,
// SET, CLEAR, SUB, UNSUB, SUBS and SYNC over the metadata the store keeps
// (metadata.go), the 76x numerics, the metadata batches a registration, a
// join and a SYNC send, and WHOIS's key/value lines. Before registration
// completes (before-connect) a client sets its own keys here, and they are
// stored once it is logged in.

package daemon

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"chatd"
)

// ircMetaCap is the draft/metadata-3 value CAP LS 302 shows.
var ircMetaCap = "before-connect,max-subs=" + strconv.Itoa(chatd.MaxMetadataSubs) +
	",max-keys=" + strconv.Itoa(chatd.MaxMetadataKeys) +
	",max-key-bytes=" + strconv.Itoa(chatd.MaxMetadataKeyBytes) +
	",max-value-bytes=" + strconv.Itoa(chatd.MaxMetadataValueBytes)

// ircMetaWhois are the keys WHOIS shows (RPL_WHOISKEYVALUE), the ones a
// person reads; METADATA LIST shows them all.
var ircMetaWhois = []string{"display-name", "pronouns", "homepage", "status"}

// ircMetaSyncMax is how many users a metadata batch covers at most; a
// join of a larger room gets 774 (sync later) and its SYNC this many.
const ircMetaSyncMax = 500

// ircMeta is what draft/metadata-3 adds to an IRC session.
type ircMeta struct {
	// subs are the keys the client subscribed to: replaced whole by the
	// reader, read by whoever renders.
	subs atomic.Pointer[[]string]
	// Reader goroutine only: the keys set before registration completed,
	// then (with the capability) the account's keys for the registration
	// burst.
	pending []chatd.Meta
	burst   []chatd.Meta
	// burstOn says the burst is due: the capability was on at login.
	burstOn bool
}

// subscribed reports whether the client subscribed to key.
func (m *ircMeta) subscribed(key string) bool {
	p := m.subs.Load()
	return p != nil && slices.Contains(*p, key)
}

func (m *ircMeta) subscriptions() []string {
	if p := m.subs.Load(); p != nil {
		return *p
	}
	return nil
}

// metaFail adds a FAIL METADATA line (or WARN, inside a batch) to the
// command's answer.
func (s *session) metaFail(kind, code string, params ...string) {
	s.ircLineOut(s.srv.serverName(), kind, append([]string{"METADATA", code}, params...)...)
}

// metaLine adds a numeric inside batch (none: "") to the answer.
func (s *session) metaLine(batch, code string, params ...string) {
	var tags []ircTag
	if batch != "" {
		tags = []ircTag{{"batch", batch}}
	}
	s.irc.out = appendIRC(s.irc.out, tags, s.srv.serverName(), code, append([]string{s.irc.me()}, params...)...)
}

// metaWarn is a WARN METADATA inside batch.
func (s *session) metaWarn(batch, code string, params ...string) {
	var tags []ircTag
	if batch != "" {
		tags = []ircTag{{"batch", batch}}
	}
	s.irc.out = appendIRC(s.irc.out, tags, s.srv.serverName(), "WARN", append([]string{"METADATA", code}, params...)...)
}

// metaInnerBatch opens a metadata batch inside a command's other lines
// (a JOIN's, the registration burst): unlike ircOpenBatch it leaves the
// label to the whole answer.
func (s *session) metaInnerBatch(target string) string {
	st := s.irc
	if !st.has(capBatch) {
		return ""
	}
	st.batches++
	id := "b" + strconv.FormatUint(st.batches, 36)
	s.ircLineOut(s.srv.serverName(), "BATCH", "+"+id, "metadata", target)
	return id
}

// metaCloseBatch ends batch, if there is one.
func (s *session) metaCloseBatch(batch string) {
	if batch != "" {
		s.ircLineOut(s.srv.serverName(), "BATCH", "-"+batch)
	}
}

// metaValue is one key's 761, or 766 when it is not set.
func (s *session) metaValue(batch, target, key string, all []chatd.Meta) {
	for _, m := range all {
		if m.Key == key {
			s.metaLine(batch, "761", target, key, m.Visibility, m.Value)
			return
		}
	}
	s.metaLine(batch, "766", target, key, "Key not set")
}

// ircMetadata is the METADATA command, before registration completes too
// (registered false: the client's own keys only, kept in ircMeta.pending).
func ircMetadata(ctx context.Context, s *session, m *ircMsg) {
	st := s.irc
	if !st.has(capMetadata) {
		s.numeric("421", "METADATA", "Request the draft/metadata-3 capability first")
		return
	}
	if len(m.params) < 2 {
		s.metaFail("FAIL", "INVALID_PARAMS", "*", "Not enough parameters")
		return
	}
	sub := strings.ToUpper(m.params[1])
	args := m.params[2:]
	switch sub {
	case "SUB", "UNSUB", "SUBS":
		if !s.metaSelf(m.params[0]) {
			s.metaFail("FAIL", "INVALID_TARGET", m.params[0], "You may only name yourself")
			return
		}
		switch sub {
		case "SUB":
			s.metaSub(args)
		case "UNSUB":
			s.metaUnsub(args)
		default:
			s.metaSubs()
		}
		return
	case "GET", "SET":
		if len(args) == 0 {
			s.metaFail("FAIL", "INVALID_PARAMS", sub, "Not enough parameters")
			return
		}
	case "LIST", "CLEAR", "SYNC":
	default:
		s.metaFail("FAIL", "INVALID_PARAMS", "*", "Unknown subcommand")
		return
	}
	if s.user == "" {
		s.metaEarly(sub, m.params[0], args)
		return
	}
	if sub == "SYNC" && m.params[0] == "*ALL" {
		s.metaSyncAll(ctx)
		return
	}
	t, ok := s.metaTarget(ctx, m.params[0])
	if !ok {
		return
	}
	shown := t.name
	if t.room {
		shown = "#" + t.name
	}
	switch sub {
	case "GET", "LIST", "SYNC":
		if !s.srv.mayReadMeta(s, t) {
			s.metaFail("FAIL", "KEY_NO_PERMISSION", shown, "*", "You are not in that channel")
			return
		}
	case "SET":
		if !s.srv.mayWriteMeta(s, t) {
			s.metaFail("FAIL", "KEY_NO_PERMISSION", shown, args[0], "You may not change that target's metadata")
			return
		}
	case "CLEAR":
		if !s.srv.mayWriteMeta(s, t) {
			s.metaFail("FAIL", "KEY_NO_PERMISSION", shown, "*", "You may not change that target's metadata")
			return
		}
	}
	switch sub {
	case "GET":
		all, ok := s.metaRead(ctx, t, shown)
		if !ok {
			return
		}
		batch := s.ircOpenBatch("metadata", shown)
		for _, k := range args {
			if !chatd.ValidMetaKey(k) {
				s.metaWarn(batch, "INVALID_KEY", k, "Invalid key")
				continue
			}
			s.metaValue(batch, shown, k, all)
		}
		s.metaCloseBatch(batch)
	case "LIST":
		all, ok := s.metaRead(ctx, t, shown)
		if !ok {
			return
		}
		batch := s.ircOpenBatch("metadata", shown)
		for _, m := range all {
			s.metaLine(batch, "761", shown, m.Key, m.Visibility, m.Value)
		}
		s.metaCloseBatch(batch)
	case "SET":
		key, value := args[0], strings.Join(args[1:], " ")
		if !s.metaCheck(key, value) {
			return
		}
		if err := s.srv.setMeta(ctx, s, t, key, value); err != nil {
			s.metaStoreFailed("SET", shown, err)
			return
		}
		s.metaAnswer(shown, key, value)
	case "CLEAR":
		gone, err := s.srv.clearMeta(ctx, s, t)
		if err != nil {
			s.metaStoreFailed("CLEAR", shown, err)
			return
		}
		batch := s.ircOpenBatch("metadata", shown)
		for _, k := range gone {
			s.metaLine(batch, "766", shown, k, "Key not set")
		}
		s.metaCloseBatch(batch)
	case "SYNC":
		s.metaSync(ctx, t, shown)
	}
}

// metaSelf reports whether target names the client itself.
func (s *session) metaSelf(target string) bool {
	return target == "*" || (s.user != "" && chatd.Key(target) == chatd.Key(s.user))
}

// metaTarget looks target up ("*": the client's account), answering FAIL
// INVALID_TARGET when it names nothing.
func (s *session) metaTarget(ctx context.Context, target string) (metaTarget, bool) {
	if target == "*" {
		target = s.user
	}
	t, err := s.srv.lookupMeta(ctx, target)
	if err == nil {
		return t, true
	}
	switch chatd.ErrorCode(err) {
	case chatd.ENoSuchUser, chatd.ENoSuchRoom, chatd.EBadName:
		s.metaFail("FAIL", "INVALID_TARGET", target, "Invalid metadata target")
	default:
		s.metaStoreFailed("*", target, err)
	}
	return metaTarget{}, false
}

// metaRead reads t's keys, answering a failure itself.
func (s *session) metaRead(ctx context.Context, t metaTarget, shown string) ([]chatd.Meta, bool) {
	all, err := s.srv.store.Metadata(ctx, t.room, t.name)
	if err != nil {
		s.metaStoreFailed("*", shown, err)
		return nil, false
	}
	return all, true
}

// metaCheck checks a SET's key and value ("": a removal), answering FAIL
// when one is wrong.
func (s *session) metaCheck(key, value string) bool {
	if !chatd.ValidMetaKey(key) {
		s.metaFail("FAIL", "INVALID_KEY", key, "Invalid key")
		return false
	}
	if value == "" {
		return true
	}
	if err := chatd.CheckMetaValue(value); err != nil {
		if chatd.ErrorCode(err) == chatd.EBadEncoding {
			s.metaFail("FAIL", "INVALID_UTF8", chatd.ErrorMessage(err))
		} else {
			s.metaFail("FAIL", "INVALID_VALUE", key, chatd.ErrorMessage(err))
		}
		return false
	}
	return true
}

// metaAnswer is a SET's answer: the key's new value, or 766 when removed.
func (s *session) metaAnswer(shown, key, value string) {
	if value == "" {
		s.numeric("766", shown, key, "Key not set")
		return
	}
	s.numeric("761", shown, key, chatd.MetaPublic, value)
}

// metaStoreFailed answers a store failure of a METADATA subcommand.
func (s *session) metaStoreFailed(sub, shown string, err error) {
	switch chatd.ErrorCode(err) {
	case chatd.ETooManyKeys:
		s.metaFail("FAIL", "LIMIT_REACHED", sub, shown, strconv.Itoa(chatd.MaxMetadataKeys), chatd.ErrorMessage(err))
	case chatd.ENoSuchUser, chatd.ENoSuchRoom:
		s.metaFail("FAIL", "INVALID_TARGET", shown, "Invalid metadata target")
	default:
		if chatd.ErrorCode(err) == chatd.EInternal {
			s.srv.log.Error("metadata", "user", s.user, "target", shown, "err", err)
		}
		s.metaFail("FAIL", "INTERNAL_ERROR", sub, chatd.ErrorMessage(err))
	}
}

// metaSub subscribes to keys, in order, up to chatd.MaxMetadataSubs.
// After registration, newly added keys are to be synchronized by the
// client (774 *ALL): their values come with METADATA *ALL SYNC.
func (s *session) metaSub(keys []string) {
	st := s.irc
	if len(keys) == 0 {
		s.metaFail("FAIL", "INVALID_PARAMS", "SUB", "Not enough parameters")
		return
	}
	subs := slices.Clone(st.meta.subscriptions())
	var ok []string
	added := false
	var limit string
	for _, k := range keys {
		if !chatd.ValidMetaKey(k) {
			s.metaWarn("", "INVALID_KEY", k, "Invalid key")
			continue
		}
		if !slices.Contains(subs, k) {
			if len(subs) >= chatd.MaxMetadataSubs {
				limit = k
				break
			}
			subs = append(subs, k)
			added = true
		}
		if !slices.Contains(ok, k) {
			ok = append(ok, k)
		}
	}
	st.meta.subs.Store(&subs)
	for _, chunk := range keyChunks(ok) {
		s.numeric("770", chunk...)
	}
	if limit != "" {
		s.metaFail("FAIL", "LIMIT_REACHED", "SUB", limit, strconv.Itoa(chatd.MaxMetadataSubs), "Too many subscriptions")
	}
	if added && s.user != "" {
		s.numeric("774", "*ALL", "0", "Synchronize with METADATA *ALL SYNC")
	}
}

// metaUnsub takes keys off the subscriptions.
func (s *session) metaUnsub(keys []string) {
	st := s.irc
	if len(keys) == 0 {
		s.metaFail("FAIL", "INVALID_PARAMS", "UNSUB", "Not enough parameters")
		return
	}
	subs := slices.Clone(st.meta.subscriptions())
	var ok []string
	for _, k := range keys {
		if !chatd.ValidMetaKey(k) {
			s.metaWarn("", "INVALID_KEY", k, "Invalid key")
			continue
		}
		subs = slices.DeleteFunc(subs, func(x string) bool { return x == k })
		if !slices.Contains(ok, k) {
			ok = append(ok, k)
		}
	}
	st.meta.subs.Store(&subs)
	for _, chunk := range keyChunks(ok) {
		s.numeric("771", chunk...)
	}
}

// metaSubs lists the subscriptions in a metadata-subs batch.
func (s *session) metaSubs() {
	batch := s.ircOpenBatch("metadata-subs")
	for _, chunk := range keyChunks(s.irc.meta.subscriptions()) {
		s.metaLine(batch, "772", chunk...)
	}
	s.metaCloseBatch(batch)
}

// keyChunks cuts keys into groups of at most 12, one numeric's worth of
// parameters each.
func keyChunks(keys []string) [][]string {
	var out [][]string
	for len(keys) > 0 {
		n := min(len(keys), 12)
		out = append(out, keys[:n:n])
		keys = keys[n:]
	}
	return out
}

// metaEarly is GET, LIST, SET, CLEAR and SYNC before registration
// completes: on the client's own keys only, kept until it logs in.
func (s *session) metaEarly(sub, target string, args []string) {
	st := s.irc
	if target != "*" {
		s.metaFail("FAIL", "INVALID_TARGET", target, "Before registration completes, only * (yourself) is a target")
		return
	}
	switch sub {
	case "GET":
		batch := s.ircOpenBatch("metadata", "*")
		for _, k := range args {
			if !chatd.ValidMetaKey(k) {
				s.metaWarn(batch, "INVALID_KEY", k, "Invalid key")
				continue
			}
			s.metaValue(batch, "*", k, st.meta.pending)
		}
		s.metaCloseBatch(batch)
	case "LIST", "SYNC":
		batch := s.ircOpenBatch("metadata", "*")
		for _, m := range st.meta.pending {
			s.metaLine(batch, "761", "*", m.Key, m.Visibility, m.Value)
		}
		s.metaCloseBatch(batch)
	case "SET":
		key, value := args[0], strings.Join(args[1:], " ")
		if !s.metaCheck(key, value) {
			return
		}
		i := slices.IndexFunc(st.meta.pending, func(m chatd.Meta) bool { return m.Key == key })
		switch {
		case value == "":
			if i >= 0 {
				st.meta.pending = slices.Delete(st.meta.pending, i, i+1)
			}
		case i >= 0:
			st.meta.pending[i].Value = value
		case len(st.meta.pending) >= chatd.MaxMetadataKeys:
			s.metaFail("FAIL", "LIMIT_REACHED", "SET", "*", strconv.Itoa(chatd.MaxMetadataKeys), "Too many keys")
			return
		default:
			st.meta.pending = append(st.meta.pending, chatd.Meta{Key: key, Value: value, Visibility: chatd.MetaPublic})
		}
		s.metaAnswer("*", key, value)
	case "CLEAR":
		batch := s.ircOpenBatch("metadata", "*")
		for _, m := range st.meta.pending {
			s.metaLine(batch, "766", "*", m.Key, "Key not set")
		}
		st.meta.pending = nil
		s.metaCloseBatch(batch)
	}
}

// ircMetaLogin runs as registration completes, before the login: the
// keys set before it are stored on the account (name), and with the
// capability its keys are read for the registration burst (ircMetaBurst).
func (s *session) ircMetaLogin(ctx context.Context, name string) {
	st := s.irc
	for _, m := range st.meta.pending {
		if err := s.srv.store.SetMetadata(ctx, false, name, m); err != nil {
			s.srv.log.Warn("store metadata set before registration", "user", name, "key", m.Key, "err", err)
		}
	}
	st.meta.pending = nil
	if !st.has(capMetadata) {
		return
	}
	st.meta.burstOn = true
	all, err := s.srv.store.Metadata(ctx, false, name)
	if err != nil {
		s.srv.log.Error("read metadata for the registration burst", "user", name, "err", err)
	}
	st.meta.burst = all
}

// ircMetaBurst adds the account's keys to the registration burst (inside
// ircWelcome, before the end of the MOTD), as a metadata batch.
func (s *session) ircMetaBurst() {
	st := s.irc
	if !st.meta.burstOn {
		return
	}
	me := st.me()
	batch := s.metaInnerBatch(me)
	for _, m := range st.meta.burst {
		s.metaLine(batch, "761", me, m.Key, m.Visibility, m.Value)
	}
	s.metaCloseBatch(batch)
	st.meta.burst, st.meta.burstOn = nil, false
}

// ircMetaJoined synchronizes a room the client just joined: its keys
// and its members' that the client subscribed to, in a metadata batch.
func (s *session) ircMetaJoined(ctx context.Context, room string) {
	st := s.irc
	if !st.has(capMetadata) || !st.has(capBatch) {
		return
	}
	if len(st.meta.subscriptions()) == 0 {
		// Nothing to send: an empty batch, without a look at the room.
		s.metaCloseBatch(s.metaInnerBatch("#" + room))
		return
	}
	t, err := s.srv.lookupMeta(ctx, "#"+room)
	if err != nil {
		return
	}
	s.metaSyncIn(ctx, t, "#"+t.name, s.metaInnerBatch)
}

// metaSync answers SYNC of one target: a room's subscribed keys and
// those of the users in it; an account's subscribed keys.
func (s *session) metaSync(ctx context.Context, t metaTarget, shown string) {
	s.metaSyncIn(ctx, t, shown, func(target string) string { return s.ircOpenBatch("metadata", target) })
}

// metaSyncIn is metaSync with the batch opened by open (a join's sync
// leaves the label to the JOIN's whole answer).
func (s *session) metaSyncIn(ctx context.Context, t metaTarget, shown string, open func(target string) string) {
	subs := s.irc.meta.subscriptions()
	users := []string{t.name}
	if t.room {
		names, err := s.srv.roomNames(ctx, t.name)
		if err != nil {
			s.metaStoreFailed("SYNC", shown, err)
			return
		}
		if len(names) > ircMetaSyncMax {
			s.numeric("774", shown, "0", "Too many users to synchronize at once")
			return
		}
		users = names
	}
	batch := open(shown)
	if t.room {
		s.metaSyncOne(ctx, batch, t, shown, subs)
	}
	for _, u := range users {
		if t.room && chatd.Key(u) == chatd.Key(s.user) {
			continue
		}
		s.metaSyncOne(ctx, batch, metaTarget{name: u}, u, subs)
	}
	s.metaCloseBatch(batch)
}

// metaSyncAll answers SYNC *ALL: the client's rooms and their users, and
// the users it monitors, each once.
func (s *session) metaSyncAll(ctx context.Context) {
	subs := s.irc.meta.subscriptions()
	var users []string
	seen := map[string]bool{chatd.Key(s.user): true}
	add := func(name string) {
		if k := chatd.Key(name); !seen[k] {
			seen[k] = true
			users = append(users, name)
		}
	}
	rooms := s.srv.hub.roomsOf(s)
	for _, r := range rooms {
		names, err := s.srv.roomNames(ctx, r)
		if err != nil {
			s.metaStoreFailed("SYNC", "*ALL", err)
			return
		}
		for _, n := range names {
			add(n)
		}
	}
	for _, n := range s.irc.monitored() {
		add(n)
	}
	if len(users) > ircMetaSyncMax {
		users = users[:ircMetaSyncMax]
	}
	batch := s.ircOpenBatch("metadata", "*ALL")
	for _, r := range rooms {
		s.metaSyncOne(ctx, batch, metaTarget{room: true, name: r}, "#"+r, subs)
	}
	for _, u := range users {
		s.metaSyncOne(ctx, batch, metaTarget{name: u}, u, subs)
	}
	s.metaCloseBatch(batch)
}

// metaSyncOne adds t's keys among subs to batch.
func (s *session) metaSyncOne(ctx context.Context, batch string, t metaTarget, shown string, subs []string) {
	if len(subs) == 0 {
		return
	}
	all, err := s.srv.store.Metadata(ctx, t.room, t.name)
	if err != nil {
		if c := chatd.ErrorCode(err); c != chatd.ENoSuchUser && c != chatd.ENoSuchRoom {
			s.srv.log.Error("read metadata to synchronize", "target", shown, "err", err)
		}
		return
	}
	for _, m := range all {
		if slices.Contains(subs, m.Key) {
			s.metaLine(batch, "761", shown, m.Key, m.Visibility, m.Value)
		}
	}
}

// ircWhoisMeta adds RPL_WHOISKEYVALUE lines for the readable keys of
// name that are set (ircMetaWhois).
func (s *session) ircWhoisMeta(ctx context.Context, name string) {
	all, err := s.srv.store.Metadata(ctx, false, name)
	if err != nil {
		return
	}
	for _, k := range ircMetaWhois {
		for _, m := range all {
			if m.Key == k {
				s.numeric("760", name, m.Key, m.Visibility, m.Value)
			}
		}
	}
}

// appendMetaLater follows a 730 (a monitored nick is online) for a
// metadata-aware client that subscribed to keys: 774 per nick, so that it
// fetches their keys with METADATA nick SYNC. It runs on the goroutine
// holding the output, which asks nothing of the store.
func (s *session) appendMetaLater(buf []byte, masks []string) []byte {
	st := s.irc
	if !st.has(capMetadata) || !st.has(capBatch) || len(st.meta.subscriptions()) == 0 {
		return buf
	}
	for _, m := range masks {
		nick, _, _ := strings.Cut(m, "!")
		buf = appendIRC(buf, nil, s.srv.serverName(), "774", st.me(), nick, "0", "Synchronize with METADATA "+nick+" SYNC")
	}
	return buf
}

// appendIRCMeta renders a metadata change (showMeta) for a client with
// the capability that subscribed to its key: 761 with the new value, 766
// when the key was removed.
func (s *session) appendIRCMeta(buf []byte, ev *event, me string) []byte {
	st := s.irc
	key := ev.str("key")
	if !st.has(capMetadata) || !st.meta.subscribed(key) {
		return buf
	}
	target := ev.str("user")
	if r := ev.str("room"); r != "" {
		target = "#" + r
	}
	if v := ev.str("value"); v != "" {
		return appendIRC(buf, nil, s.srv.serverName(), "761", me, target, key, chatd.MetaPublic, v)
	}
	return appendIRC(buf, nil, s.srv.serverName(), "766", me, target, key, "Key not set")
}
