// chatd web client. It speaks the daemon's JSON protocol over /ws and keeps
// nothing in the browser but the last user name (localStorage). The
// password is held in memory only, to log in again after a dropped
// connection, and is forgotten at logout.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const NAME_KEY = "chatd.user";
  const MAX_LINES = 500; // per conversation
  // Replies that the page asks for itself; they are shown only when the
  // user typed the command.
  const QUIET = new Set(["rooms", "blocked", "names", "read", "typing", "edit", "delete", "reply", "react", "unreact"]);
  // The reactions the picker offers; any other can be typed (/react).
  const REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];
  // typing is sent at most this often while typing; someone else's
  // "is typing" goes away this long after their last one.
  const TYPING_EVERY_MS = 3000;
  const TYPING_SHOWN_MS = 5000;
  // The commands of message actions; the page uses those the server has.
  const ACTIONS = ["edit", "delete", "reply", "react", "unreact", "typing"];
  // The rooms panel asks again this often by itself, and shortly after an
  // event that may have changed it (someone came or went).
  const ROOMS_EVERY_MS = 15000;
  const ROOMS_SOON_MS = 500;
  // After bye "restart" the page reconnects within this much, not with
  // the back-off of a lost connection.
  const RESTART_MIN_MS = 50;
  const RESTART_JITTER_MS = 250;
  // Errors of a login again after a drop that are worth another try.
  const RETRY_LOGIN = new Set(["already_online", "too_many_sessions", "server_busy", "rate_limited"]);
  const ALIASES = { list: "rooms", whois: "check", msg: "send", message: "send", blacklist: "block", whitelist: "unblock", part: "leave", quit: "logout", "?": "help" };

  const S = {
    ws: null,
    phase: "login", // login | chat
    creds: null, // {name, password, repeat}: memory only
    user: "",
    admin: false,
    room: "lobby",
    rooms: [],
    members: new Set(),
    blocked: new Set(),
    away: new Set(),
    // One tab per conversation, by key: "#room" or "@user", lower case.
    tabs: new Map(), // key -> conversation (see makeTab)
    active: "", // key of the conversation on screen; "" for none
    everIn: false, // a welcome came since the login form was last shown
    hout: [], // history requests sent on this connection, oldest first
    readTimer: 0,
    switching: new Set(), // keys of my rooms joined only to make them current

    manual: new Map(), // command -> replies the user asked for
    secret: "", // pending secret prompt after login (passwd)
    retries: 0,
    retryTimer: 0,
    reconnect: true, // reconnect after a drop
    restarting: false, // the server said bye "restart": come back at once
    joinAsked: "", // room whose password we asked for
    roomsTimer: 0, // the next refresh of the rooms panel

    acting: new Map(), // label of a line the page sent -> {then: what to do at its ok, quiet: its error is not shown}
    verbs: new Set(), // the action commands the server offers (help), so none goes out as chat
    actSeq: 0, // numbers those labels
    compose: null, // {mode: "edit" | "reply", id, key, draft}: what the input line does
    mentioned: 0, // mentions of me not looked at (the welcome's count, then live ones)
    typingSent: 0, // when typing was last sent, and for which conversation
    typingConv: "",
  };

  // ---- connection --------------------------------------------------------

  function connect() {
    clearTimeout(S.retryTimer);
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/ws`);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    S.ws = ws;
    S.loggedIn = false; // on this connection
    if (S.creds) S.creds.sent = ""; // nothing answered on this connection yet
    S.hout = [];
    S.acting.clear();
    S.switching.clear();
    S.roomsAsked = false;
    setStatus("Connecting…");
    ws.onopen = () => setStatus("Connected");
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      for (const line of ev.data.split("\n")) {
        if (line === "") continue;
        let msg;
        try {
          msg = JSON.parse(line);
        } catch (e) {
          continue; // text mode after a typed "/mode text": not for us
        }
        handle(msg);
      }
    };
    ws.onclose = () => {
      if (S.ws !== ws) return;
      S.ws = null;
      S.prompt = "";
      if (S.byeSeen && !S.reconnect) {
        // Ended on purpose (logout, kick, ...): the next login opens a
        // new connection.
        S.byeSeen = false;
        return;
      }
      S.byeSeen = false;
      if (S.restarting) {
        // The server restarts and wants us back at once: a short
        // random wait, so its clients do not all come in the same
        // instant, and the usual back-off only if that fails.
        S.restarting = false;
        setStatus("Server restarting — reconnecting…");
        S.retryTimer = setTimeout(connect, RESTART_MIN_MS + Math.random() * RESTART_JITTER_MS);
        return;
      }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    const base = Math.min(10, 0.5 * 2 ** Math.min(S.retries, 5)); // 0.5, 1, 2, ... 10 s
    const delay = base * (0.8 + Math.random() * 0.4);
    S.retries++;
    setStatus(`Connection lost. Trying again in ${delay < 1 ? "a moment" : Math.round(delay) + " s"}…`);
    if (S.phase === "chat") notice(`Connection lost; reconnecting…`, "error");
    S.retryTimer = setTimeout(connect, delay * 1000);
  }

  function send(line) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) {
      notice("Not connected; that was not sent.", "error");
      return false;
    }
    S.ws.send(line);
    return true;
  }

  window.addEventListener("online", () => {
    if (!S.ws && S.reconnect) connect();
  });

  // ---- protocol ----------------------------------------------------------

  function handle(m) {
    // The server may answer an action with its event (labelled) instead
    // of an ok: the event does what the ok would.
    if (m.label && m.type !== "ok" && m.type !== "error") S.acting.delete(m.label);
    switch (m.type) {
      case "prompt": return onPrompt(m.field);
      case "welcome": return onWelcome(m);
      case "ok": return onOK(m);
      case "error": return onError(m);
      case "message": return onMessage(m);
      case "delivery": return onDelivery(m);
      case "presence": return onPresence(m);
      case "room": return onRoom(m);
      case "notice": return notice(`Notice: ${m.text}`, "ok");
      case "read": return onRead(m);
      case "edit": return onEdit(m);
      case "delete": return onDelete(m);
      case "reaction": return onReaction(m);
      case "typing": return onTyping(m);
      case "bye": return onBye(m);
    }
  }

  function onPrompt(field) {
    S.prompt = field;
    if (S.loggedIn) {
      // passwd and the like: the next line typed answers, hidden.
      S.secret = field;
      const input = $("say-input");
      input.type = "password";
      input.placeholder = field.replace("_", " ");
      $("say-label").textContent = field.replace("_", " ");
      notice(`Enter your ${field.replace("_", " ")} in the box below.`);
      input.focus();
      return;
    }
    const c = S.creds;
    switch (field) {
      case "username":
        hideRepeat();
        if (c && c.sent !== "username") {
          c.sent = "username";
          send(c.name);
        } else {
          loginReady();
        }
        break;
      case "password":
        if (c) send(c.password);
        break;
      case "new_password":
        if (c && c.repeat) {
          send(c.password);
        } else {
          askRepeat(S.loginName);
        }
        break;
      case "repeat_password":
        if (c) send(c.repeat);
        break;
    }
  }

  function onWelcome(m) {
    S.phase = "chat";
    S.loggedIn = true;
    S.user = m.user;
    S.admin = !!m.admin;
    S.retries = 0;
    S.reconnect = true;
    if (S.creds) {
      S.creds.repeat = ""; // the account exists now
      S.creds.sent = "";
    }
    try {
      localStorage.setItem(NAME_KEY, m.user);
    } catch (e) { /* storage off: fine */ }
    $("login-view").hidden = true;
    $("chat-view").hidden = false;
    $("me").hidden = false;
    $("me-name").textContent = m.user + (S.admin ? " (admin)" : "");
    setStatus("Online");
    const first = !S.everIn;
    S.everIn = true;
    setRoom(m.room || "", false);
    welcomeConversations(m, first);
    const others = (m.online || []).filter((u) => u !== m.user);
    const mine = (m.rooms || []).map((r) => r.name).filter((r) => r !== m.room);
    notice(`Welcome, ${m.user}! ` + (m.room ? `You are in ${m.room}.` : "You are in no room; join one.") +
      (mine.length ? ` Your other rooms: ${mine.join(", ")}.` : "") + (others.length ? ` Online: ${others.join(", ")}.` : ""));
    if (m.offline > 0) notice(`You have ${m.offline} offline message${m.offline === 1 ? "" : "s"}.`);
    setMentionCount(m.mentions || 0);
    if (m.mentions > 0) notice(`You were mentioned ${m.mentions} time${m.mentions === 1 ? "" : "s"} since you last read; the Mentions button lists them.`);
    send("names");
    refreshRooms();
    send("blocked");
    // Which actions this server offers: help names each one it knows.
    S.verbs.clear();
    delete $("chat-view").dataset.actions;
    for (const verb of ACTIONS) {
      ask(`help ${verb}`, () => {
        S.verbs.add(verb);
        // What the line buttons can do here (tests wait for it).
        $("chat-view").dataset.actions = ACTIONS.filter((v) => S.verbs.has(v)).join(" ");
      }, true);
    }
    $("say-input").focus();
  }

  function onOK(m) {
    const cmd = m.cmd;
    if (m.label && S.acting.has(m.label)) {
      // The answer to a line the page sent itself.
      const a = S.acting.get(m.label);
      S.acting.delete(m.label);
      a.then(m);
      return;
    }
    let show = !QUIET.has(cmd);
    if (cmd === "history") {
      // Only the answers to a typed history show; the page's own
      // requests (filling a pane, catching up) go on quietly.
      show = historyAnswered(m);
    } else if (S.manual.get(cmd) > 0) {
      S.manual.set(cmd, S.manual.get(cmd) - 1);
      show = true;
    }
    switch (cmd) {
      case "join":
      case "create":
      case "leave": {
        // The room of the answer is the current one after it (none after
        // leaving the last room); a join of one of my rooms only makes it
        // current, and the page says nothing about that.
        const wasActive = !!m.left && S.active === convKey("#" + m.left);
        if (m.left) dropRoom(m.left);
        const room = m.room || "";
        const isNew = room !== "" && !S.tabs.has(convKey("#" + room));
        const t = room ? roomTab(room) : null;
        // A switch the page made leaves the screen alone: the person may
        // have gone on to another conversation meanwhile.
        const switched = cmd === "join" && t && S.switching.delete(t.key);
        if (t && !switched && (cmd !== "leave" || wasActive)) showTab(t.key);
        else if (!S.tabs.has(S.active)) showTab(t ? t.key : firstTab());
        if (room !== S.room) setRoom(room, isNew);
        if (cmd === "join") show = false;
        send("names");
        refreshRooms();
        break;
      }
      case "close":
        refreshRooms();
        break;
      case "rooms":
        S.roomsAsked = false;
        S.rooms = m.rooms || [];
        renderRooms();
        for (const r of S.rooms) {
          if (r.name === S.room) {
            S.members = new Set(r.members || []);
            S.members.add(S.user);
            renderMembers();
          }
        }
        break;
      case "names":
        if (!m.room || m.room === S.room) {
          S.members = new Set(m.users || []);
          renderMembers();
        }
        break;
      case "blocked":
        S.blocked = new Set(m.blocked || []);
        renderMembers();
        break;
      case "block":
        for (const u of m.users || []) S.blocked.add(u);
        renderMembers();
        break;
      case "unblock":
        for (const u of m.users || []) S.blocked.delete(u);
        renderMembers();
        break;
      case "passwd":
        endSecret();
        break;
    }
    if (show && m.text) notice(m.text + detail(m), "ok");
  }

  // detail renders the extra fields of a reply the user asked for.
  function detail(m) {
    if (m.users && (m.cmd === "who" || m.cmd === "names")) return m.users.length ? ": " + m.users.join(", ") : "";
    if (m.info) return " " + Object.entries(m.info).map(([k, v]) => `${k}=${v}`).join(", ");
    if (m.cmd === "rooms" && m.rooms) return " " + m.rooms.map((r) => `${r.name}${r.locked ? " (locked)" : ""}: ${(r.members || []).length}`).join(", ");
    if (m.cmd === "help" && m.commands) return "";
    if (m.cmd === "mentions" && Array.isArray(m.mentions)) {
      const where = (x) => (x.room ? " in " + x.room : x.conversation ? " in " + x.conversation : "");
      return m.mentions.length ? ": " + m.mentions.map((x) => `${x.from || ""}${where(x)}: ${x.text || ""}`).join("; ") : "";
    }
    return "";
  }

  function onError(m) {
    if (!S.loggedIn) {
      if (S.phase === "chat" && S.creds && RETRY_LOGIN.has(m.code)) {
        // Logging in again after a drop, too soon: the server has not
        // seen the old connection end yet (already_online), or is busy.
        // Try again with the back-off of a lost connection.
        if (S.ws) S.ws.close();
        return;
      }
      if (S.phase === "chat") {
        // Logging in again after a drop failed (password changed, banned
        // meanwhile ...): back to the form.
        S.creds = null;
        showLogin(m.text || m.code);
        return;
      }
      loginError(m.text || m.code);
      return;
    }
    if (m.cmd === "passwd") endSecret();
    if (m.cmd === "read") return; // an old id: nothing to tell
    if (m.cmd === "typing") return; // too often, or a conversation gone: it does not matter
    if (m.label && S.acting.has(m.label)) {
      const a = S.acting.get(m.label);
      S.acting.delete(m.label);
      if (a.quiet) return;
    }
    if (m.cmd === "join") S.switching.clear();
    if (m.cmd === "history" && !historyFailed(m)) return;
    if (m.cmd === "rooms") S.roomsAsked = false;
    if (m.code === "bad_room_password" && S.joinAsked) {
      askRoomPassword(S.joinAsked, m.text);
      return;
    }
    notice(`${m.text} (${m.code})`, "error");
  }

  function onMessage(m) {
    let t;
    switch (m.kind) {
      case "room":
        t = m.room ? roomTab(m.room) : S.tabs.get(convKey("#" + S.room));
        break;
      case "history":
        if (m.room) t = roomTab(m.room);
        else if (m.conversation && m.conversation.startsWith("@")) t = peerTab(m.conversation.slice(1));
        else t = S.tabs.get(S.active);
        break;
      case "private":
      case "offline":
        t = peerTab(m.from === S.user ? (m.to || [])[0] : m.from);
        break;
      default: // broadcast: wherever I look
        t = S.tabs.get(S.active);
    }
    if (!t) {
      line("", m);
      return;
    }
    if (m.from) stopTyping(t, m.from);
    if (m.id && m.kind === "private" && m.from === S.user && adoptPending(t, m)) return;
    if (m.id) {
      if (t.ids.has(m.id)) {
        // Seen already: live, replayed or caught up. A history line
        // brings it as it stands now (edited, deleted, reactions).
        if (m.kind === "history") restate(m);
        return;
      }
      t.ids.add(m.id);
      if (m.id > t.last) t.last = m.id;
      const front = S.hout[0];
      if (m.kind === "history" && front && front.key === t.key && m.id > front.newest) front.newest = m.id;
    }
    if (m.from !== S.user && t.key !== S.active && isNew(t, m)) {
      setUnread(t, t.unread + 1);
      if (mentionsMe(m)) {
        setMentions(t, t.mentions + 1);
        setMentionCount(S.mentioned + 1);
      }
    }
    line(t.key, m);
    if (t.key === S.active) markRead();
  }

  // isNew says whether line m of conversation t counts as unread: a line
  // said live, or one said while the page was away and caught up now.
  // Offline mail is counted already when the welcome named t.
  function isNew(t, m) {
    if (m.kind === "room" || m.kind === "private") return true;
    if (m.kind === "offline") return !t.welcomed;
    return m.kind === "history" && t.since !== "" && !!m.id && m.id > t.since;
  }

  function onDelivery(m) {
    const key = convKey("@" + m.to);
    const t = S.tabs.get(key);
    if (t && m.id && !t.ids.has(m.id)) {
      // The line this page showed when it was sent gets its id now, so
      // that history does not show it a second time.
      for (let c = t.el.lastElementChild; c; c = c.previousElementSibling) {
        if (c.classList.contains("pending")) {
          c.classList.remove("pending");
          c.dataset.id = m.id;
          if (c.msg) c.msg.id = m.id;
          t.ids.add(m.id);
          if (m.id > t.last) t.last = m.id;
          break;
        }
      }
    }
    const words = {
      delivered: "",
      stored: `${m.to} is offline; the message is kept for them`,
      blocked: `${m.to} does not take messages from you`,
      mailbox_full: `${m.to}'s mailbox is full; not sent`,
      no_such_user: `there is no user ${m.to}`,
    };
    let text = words[m.status] ?? `${m.to}: ${m.status}`;
    if (m.away) text = `${m.to} is away: ${m.away}`;
    if (!text) return;
    notice(text, m.status === "delivered" || m.status === "stored" ? "info" : "error", S.tabs.has(key) ? key : S.active);
  }

  function onPresence(m) {
    const verbs = {
      login: "logged in", logout: "logged out", timeout: "timed out", kicked: "was kicked",
      banned: "was banned", shutdown: "was disconnected by the shutdown", away: "is away", back: "is back",
    };
    if (m.user === S.user && m.event === "login") return;
    let text = `${m.user} ${verbs[m.event] || m.event}`;
    if (m.event === "away" && m.text) text += `: ${m.text}`;
    notice(text, "presence");
    if (m.event === "away") S.away.add(m.user);
    else if (m.event === "back") S.away.delete(m.user);
    else if (m.event === "login") {
      if (m.room === S.room) S.members.add(m.user);
    } else {
      S.members.delete(m.user);
      S.away.delete(m.user);
    }
    syncRoom();
    renderMembers();
    if (m.event !== "away" && m.event !== "back") refreshRooms(ROOMS_SOON_MS);
  }

  function onRoom(m) {
    switch (m.event) {
      case "joined":
        if (m.room === S.room && m.user !== S.user) {
          S.members.add(m.user);
          notice(`${m.user} joined ${m.room}`, "presence");
        }
        break;
      case "left":
        if (m.room === S.room) {
          S.members.delete(m.user);
          notice(`${m.user} left ${m.room}`, "presence");
        }
        break;
      case "kicked":
      case "banned":
        if (m.user === S.user) {
          notice(`You were ${m.event === "kicked" ? "kicked out of" : "banned from"} ${m.room}${m.by ? " by " + m.by : ""}${m.reason ? ": " + m.reason : ""}`, "error");
          dropRoom(m.room, true);
          send("rooms");
        } else if (m.room === S.room) {
          S.members.delete(m.user);
          notice(`${m.user} was ${m.event === "kicked" ? "kicked out" : "banned"}${m.by ? " by " + m.by : ""}`, "presence");
        }
        break;
      case "closed":
        notice(`Room ${m.room} was closed${m.user ? " by " + m.user : ""}`, "presence");
        dropRoom(m.room, true);
        send("rooms");
        break;
      case "topic":
        notice(`Topic of ${m.room}: ${m.topic || "(none)"}`, "info");
        break;
    }
    syncRoom();
    renderMembers();
    refreshRooms(ROOMS_SOON_MS);
  }

  // refreshRooms asks for the rooms list after delay ms (0: now), and
  // then every ROOMS_EVERY_MS while logged in; one request at a time.
  function refreshRooms(delay = 0) {
    clearTimeout(S.roomsTimer);
    S.roomsTimer = setTimeout(() => {
      if (!S.loggedIn || !S.ws || S.ws.readyState !== WebSocket.OPEN) return;
      if (!S.roomsAsked) {
        S.roomsAsked = true;
        send("rooms");
      }
      refreshRooms(ROOMS_EVERY_MS);
    }, delay);
  }

  // syncRoom copies what the events told us about our room into the rooms
  // panel, so its count stays right without asking the server each time.
  function syncRoom() {
    const r = S.rooms.find((x) => x.name === S.room);
    if (!r) return;
    r.members = [...S.members];
    renderRooms();
  }

  function onBye(m) {
    // The server going down, restarting (or failing) is worth coming
    // back to; a logout, kick, ban or timeout is not. After a restart the
    // page comes back at once and catches up from each conversation's
    // newest line (welcomeConversations).
    // A page still at the login form comes back to it the same way.
    const again = (m.reason === "shutdown" || m.reason === "restart" || m.reason === "error") && S.phase === "chat" && !!S.creds;
    S.byeSeen = true;
    S.loggedIn = false; // nothing more goes out on this connection
    S.restarting = m.reason === "restart" && (again || S.phase === "login");
    S.reconnect = again || S.restarting;
    const text = `Disconnected: ${m.text || m.reason}`;
    if (S.restarting) {
      if (S.phase === "chat") notice("Server restarting — reconnecting…", "info");
      return;
    }
    if (again) {
      notice(text, "error");
      return; // the chat stays on screen while we reconnect
    }
    S.creds = null;
    if (S.phase === "chat") notice(text, "error");
    showLogin(m.reason === "logout" ? "" : text);
    setStatus(m.reason === "logout" ? "Logged out" : "Disconnected");
  }

  // ---- login form --------------------------------------------------------

  function loginReady() {
    $("login-submit").disabled = false;
    if (S.phase === "login") setStatus("Connected");
  }

  function showLogin(error) {
    S.phase = "login";
    resetConversations();
    $("chat-view").hidden = true;
    $("me").hidden = true;
    $("login-view").hidden = false;
    hideRepeat();
    $("login-error").textContent = error || "";
    $("login-password").value = "";
    $("login-submit").disabled = false;
    focusLogin();
  }

  function focusLogin() {
    ($("login-name").value ? $("login-password") : $("login-name")).focus();
  }

  function askRepeat(name) {
    $("repeat-row").hidden = false;
    $("login-repeat").required = true;
    $("login-cancel").hidden = false;
    $("login-title").textContent = "Create an account";
    $("login-note").textContent = `There is no account named ${name} yet. Repeat the password to create it, or use another name.`;
    $("login-submit").textContent = "Create account";
    $("login-submit").disabled = false;
    $("login-repeat").focus();
  }

  function hideRepeat() {
    $("repeat-row").hidden = true;
    $("login-repeat").required = false;
    $("login-repeat").value = "";
    $("login-cancel").hidden = true;
    $("login-title").textContent = "Log in";
    $("login-note").textContent = "Enter your name and password. A name nobody has taken yet creates a new account, if this server allows it.";
    $("login-submit").textContent = "Log in";
  }

  // loginError shows why a login failed. The server then asks again: the
  // user name, or after a weak or mismatched new password, that password.
  function loginError(text) {
    S.creds = null;
    $("login-error").textContent = text;
    $("login-password").value = "";
    $("login-repeat").value = "";
    $("login-submit").disabled = false;
    $("login-password").focus();
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    const name = $("login-name").value.trim();
    const password = $("login-password").value;
    const open = S.ws && S.ws.readyState === WebSocket.OPEN;
    $("login-submit").disabled = true;
    if (!$("repeat-row").hidden && open && S.prompt === "new_password") {
      S.creds = { name, password, repeat: $("login-repeat").value, sent: "username" };
      send(password); // answers new_password; repeat_password comes next
      return;
    }
    S.loginName = name;
    S.creds = { name, password, repeat: "", sent: "" };
    if (open && S.prompt === "username") {
      S.creds.sent = "username";
      send(name);
    } else if (!S.ws) {
      S.retries = 0;
      connect(); // the username prompt will send the name
    }
  });

  $("login-cancel").addEventListener("click", () => {
    // An empty line at the new_password prompt goes back to the name.
    S.creds = null;
    send("");
    hideRepeat();
    $("login-name").focus();
  });

  $("logout").addEventListener("click", () => send("logout"));

  // ---- rooms -------------------------------------------------------------

  function setRoom(room, announce) {
    if (announce && room !== S.room) notice(room ? `You are now in ${room}.` : "You are in no room now.", "info");
    S.room = room;
    S.members = new Set([S.user]);
    S.away.clear();
    $("members-room").textContent = room;
    renderMembers();
    renderRooms();
  }

  function renderRooms() {
    const body = $("room-list");
    // The lock images move to the new rows: a new <img> would fetch the
    // icon again (it is served no-cache), which fails while the server
    // is down and the page redraws the list waiting to reconnect.
    const locks = [...body.querySelectorAll("img")];
    body.replaceChildren();
    for (const r of S.rooms) {
      const tr = document.createElement("tr");
      if (r.name === S.room) tr.className = "current";
      const lock = cell(tr, "");
      if (r.locked) {
        const img = locks.pop() || document.createElement("img");
        if (!img.getAttribute("src")) img.src = "lock.svg";
        img.alt = "locked";
        img.title = "Needs a password";
        img.width = 14;
        img.height = 14;
        lock.append(img);
      }
      const nameCell = cell(tr, "");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "linkish";
      b.textContent = r.name;
      b.setAttribute("aria-label", `${r.name}${r.locked ? ", locked" : ""}, ${(r.members || []).length} users${r.name === S.room ? ", you are here" : ", join"}`);
      if (r.topic) b.title = r.topic;
      b.addEventListener("click", () => joinRoom(r));
      nameCell.append(b);
      cell(tr, String((r.members || []).length));
      cell(tr, r.owner || "—");
      const c = cell(tr, shortDate(r.created));
      c.title = r.created || "";
      body.append(tr);
    }
  }

  function cell(tr, text) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
    return td;
  }

  function joinRoom(r) {
    const key = convKey("#" + r.name);
    if (S.tabs.has(key)) {
      openConv(key); // one of mine: a join only makes it current
      return;
    }
    if (r.locked && !S.admin) {
      askRoomPassword(r.name, "");
      return;
    }
    S.joinAsked = "";
    send(`join ${r.name}`);
  }

  function askRoomPassword(name, error) {
    S.joinAsked = name;
    $("room-password-name").textContent = name + (error ? ` (${error})` : "");
    $("room-password").value = "";
    $("room-password-dialog").showModal();
    $("room-password").focus();
  }

  $("room-password-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const pw = $("room-password").value;
    $("room-password-dialog").close();
    if (pw !== "") send(`join ${S.joinAsked} ${pw}`);
  });
  $("room-password-cancel").addEventListener("click", () => {
    S.joinAsked = "";
    $("room-password-dialog").close();
  });

  $("rooms-refresh").addEventListener("click", () => {
    S.roomsAsked = false;
    refreshRooms();
  });

  $("create-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("create-name").value.trim();
    const pw = $("create-password").value;
    if (!name) return;
    if (send(pw ? `create ${name} ${pw}` : `create ${name}`)) {
      $("create-name").value = "";
      $("create-password").value = "";
    }
  });

  // ---- members -----------------------------------------------------------

  function renderMembers() {
    const list = $("member-list");
    list.replaceChildren();
    const room = S.rooms.find((r) => r.name === S.room);
    const owner = room && room.owner && room.owner.toLowerCase() === S.user.toLowerCase();
    for (const u of [...S.members].sort((a, b) => a.localeCompare(b))) {
      const li = document.createElement("li");
      const me = u === S.user;
      const name = button(u + (me ? " (you)" : "") + (S.away.has(u) ? " (away)" : ""), me ? "" : `Private conversation with ${u}`, () => openTab(u, true));
      name.className = "linkish member";
      name.disabled = me;
      li.append(name);
      if (!me) {
        const acts = document.createElement("span");
        acts.className = "acts";
        if (S.blocked.has(u)) {
          li.classList.add("blocked");
          acts.append(button("Unblock", `Unblock ${u}`, () => send(`unblock ${u}`)));
        } else {
          acts.append(button("Block", `Block ${u}`, () => send(`block ${u}`)));
        }
        if (S.admin || owner) {
          acts.append(button("Kick", `Kick ${u}`, () => {
            if (confirm(`Kick ${u}?`)) send(`kick ${u}`);
          }));
        }
        if (S.admin) {
          acts.append(button("Ban", `Ban ${u}`, () => {
            if (confirm(`Ban ${u}? They cannot log in until an admin unbans them.`)) send(`ban ${u}`);
          }));
        }
        li.append(acts);
      }
      list.append(li);
    }
  }

  function button(text, label, fn) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (label) b.setAttribute("aria-label", label);
    b.addEventListener("click", fn);
    return b;
  }

  // ---- conversations -----------------------------------------------------

  // convKey is the key of conversation conv ("#den", "@Bob") in S.tabs.
  function convKey(conv) {
    return conv.toLowerCase();
  }

  // makeTab adds a conversation: a room's (room set) or the private one
  // with peer. Its fields:
  //   conv     "#den" or "@bob", as commands take it
  //   el, tab  its pane of lines and its button in the list
  //   unread   lines others said that are not on screen yet
  //   ids      the ids of the lines shown (none shows twice)
  //   last     the greatest id shown: where catching up starts
  //   since    last as it was when the connection dropped ("" before)
  //   readSent the id of the last read command sent
  //   filled   its history was asked for when first shown
  //   welcomed its unread count came from this connection's welcome
  //   mentions lines naming me that are not on screen yet
  //   typers   who is typing there: name -> the timer that forgets them
  function makeTab(key, title, peer, room) {
    const el = document.createElement("div");
    el.className = "pane";
    el.hidden = true;
    el.dataset.conv = peer ? "@" + peer : "#" + room;
    $("log").append(el);
    const tab = document.createElement("button");
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.className = "tab";
    tab.textContent = peer ? "@" + peer : "#" + title;
    tab.addEventListener("click", () => openConv(key));
    $("tabs").append(tab);
    const t = {
      key, title, peer, room, conv: peer ? "@" + peer : "#" + room, el, tab,
      unread: 0, ids: new Set(), last: "", since: "", readSent: "", filled: false, welcomed: false,
      mentions: 0, typers: new Map(),
    };
    if (peer) {
      const close = document.createElement("button");
      close.type = "button";
      close.className = "tab-close";
      close.textContent = "×";
      close.setAttribute("aria-label", `Close the conversation with ${peer}`);
      close.addEventListener("click", () => closeTab(key));
      $("tabs").append(close);
      t.close = close;
    }
    S.tabs.set(key, t);
    setUnread(t, 0);
    return t;
  }

  function roomTab(room) {
    const key = convKey("#" + room);
    return S.tabs.get(key) || makeTab(key, room, "", room);
  }

  function peerTab(peer) {
    const key = convKey("@" + peer);
    return S.tabs.get(key) || makeTab(key, peer, peer, "");
  }

  function openTab(peer, focus) {
    const t = peerTab(peer);
    if (focus) showTab(t.key);
    return t;
  }

  // openConv is a click on a conversation: a room of mine becomes the
  // current room (join only makes it current), and it is shown.
  function openConv(key) {
    const t = S.tabs.get(key);
    if (!t) return;
    if (t.room && t.room !== S.room) makeCurrent(t.room);
    showTab(key);
  }

  // makeCurrent makes one of my rooms the current one (a join of a room
  // I am in does only that).
  function makeCurrent(room) {
    if (send(`join ${room}`)) S.switching.add(convKey("#" + room));
  }

  function closeTab(key) {
    const t = S.tabs.get(key);
    if (!t) return;
    t.el.remove();
    t.tab.remove();
    if (t.close) t.close.remove();
    S.tabs.delete(key);
    for (const timer of t.typers.values()) clearTimeout(timer);
    if (S.compose && S.compose.key === key) endCompose();
    if (S.active === key) showTab(S.tabs.has(convKey("#" + S.room)) ? convKey("#" + S.room) : firstTab());
  }

  // firstTab is the key of the first conversation in the list, or "".
  function firstTab() {
    const first = S.tabs.keys().next();
    return first.done ? "" : first.value;
  }

  // dropRoom removes a room I am no longer in. When it was the current
  // room and pick is set (a kick, a close), another of my rooms becomes
  // current.
  function dropRoom(room, pick) {
    const key = convKey("#" + room);
    const wasCurrent = convKey("#" + S.room) === key;
    closeTab(key);
    if (!wasCurrent) return;
    setRoom("", false);
    if (!pick) return;
    const next = [...S.tabs.values()].find((t) => t.room);
    if (next) makeCurrent(next.room);
  }

  // setUnread sets the badge of conversation t.
  function setUnread(t, n) {
    t.unread = n;
    if (n > 0) {
      t.tab.dataset.unread = n > 999 ? "999+" : String(n);
      t.tab.classList.add("unread");
    } else {
      delete t.tab.dataset.unread;
      t.tab.classList.remove("unread");
    }
    labelTab(t);
  }

  // setMentions sets the mention badge of conversation t: lines naming
  // me that I have not seen.
  function setMentions(t, n) {
    t.mentions = n;
    if (n > 0) {
      t.tab.dataset.mentions = n > 99 ? "99+" : String(n);
      t.tab.classList.add("mentioned");
    } else {
      delete t.tab.dataset.mentions;
      t.tab.classList.remove("mentioned");
    }
    labelTab(t);
  }

  // labelTab says conversation t's name and badges to a screen reader.
  function labelTab(t) {
    let label = t.peer ? "@" + t.peer : "#" + t.title;
    if (t.unread > 0) label += `, ${t.unread} unread`;
    if (t.mentions > 0) label += `, ${t.mentions} mention${t.mentions === 1 ? "" : "s"} of you`;
    t.tab.setAttribute("aria-label", label);
  }

  function showTab(key) {
    const t = S.tabs.get(key);
    // An edit or a reply belongs to the conversation it started in.
    if (S.compose && S.compose.key !== key) endCompose();
    S.active = t ? key : "";
    S.spare.hidden = !!t;
    for (const o of S.tabs.values()) {
      const on = o === t;
      o.el.hidden = !on;
      o.tab.setAttribute("aria-selected", String(on));
      o.tab.classList.toggle("active", on);
    }
    if (!t) {
      renderTyping();
      $("say-label").textContent = "Message";
      $("say-input").placeholder = "/command (join a room to chat)";
      return;
    }
    setUnread(t, 0);
    setMentions(t, 0);
    renderTyping();
    if (!t.filled) {
      // A private conversation opened here starts with its recent lines.
      t.filled = true;
      if (t.peer) askHistory(t, "");
    }
    markRead();
    if (!S.secret) labelInput(t);
    scrollDown(t);
    $("say-input").focus();
  }

  // markRead moves my read marker in the conversation on screen to its
  // newest line, soon (one read for a burst of lines).
  function markRead() {
    if (S.readTimer) return;
    S.readTimer = setTimeout(() => {
      S.readTimer = 0;
      const t = S.tabs.get(S.active);
      if (!t || !t.last || t.last <= t.readSent || !S.loggedIn) return;
      if (send(`read ${t.conv} ${t.last}`)) t.readSent = t.last;
    }, 200);
  }

  function onRead(m) {
    // Read on another device of mine.
    const t = S.tabs.get(convKey(m.conversation || ""));
    if (!t || !m.id) return;
    if (m.id > t.readSent) t.readSent = m.id;
    if (m.id >= t.last) setUnread(t, 0);
  }

  // askHistory asks for conversation t's lines after id (up to 200), or
  // its last 50 when id is "". The answers come in the order asked.
  function askHistory(t, after) {
    const line = after ? `history ${t.conv} after ${after} 200` : `history ${t.conv} 50`;
    if (send(line)) S.hout.push({ key: t.key, after, newest: "" });
  }

  // historyAnswered takes the ok of the oldest history request: catching
  // up goes on while there is more. It says whether to show the answer
  // (a history the user typed).
  function historyAnswered(m) {
    const r = S.hout.shift();
    if (!r || r.manual) return true;
    const t = S.tabs.get(r.key);
    if (t && r.after && m.more && r.newest > r.after) askHistory(t, r.newest);
    return false;
  }

  // historyFailed takes the error of the oldest history request and says
  // whether to show it. Catching up after a line that is no longer kept
  // takes the last lines instead.
  function historyFailed(m) {
    const r = S.hout.shift();
    if (!r || r.manual) return true;
    const t = S.tabs.get(r.key);
    if (t && r.after && m.code === "no_such_message") askHistory(t, "");
    return false;
  }

  // welcomeConversations fills the conversation list from the welcome:
  // my rooms, and private conversations with unread lines. On the first
  // welcome their unread counts are the server's; after a reconnection a
  // conversation the page has lines of catches up after its newest one
  // and counts what it missed itself.
  function welcomeConversations(m, first) {
    const mine = new Set((m.rooms || []).map((r) => convKey("#" + r.name)));
    if (!first) {
      for (const t of [...S.tabs.values()]) {
        if (t.room && !mine.has(t.key)) {
          notice(`You are no longer in ${t.room}.`, "info");
          closeTab(t.key);
        }
      }
    }
    for (const t of S.tabs.values()) t.welcomed = false;
    const counts = new Map(); // key -> [conversation, count]
    for (const u of m.unread || []) counts.set(convKey(u.conversation), [u.conversation, u.count]);
    for (const r of m.rooms || []) {
      const t = roomTab(r.name);
      counts.set(t.key, [t.conv, r.unread || 0]);
    }
    for (const [key, [conv, n]] of counts) {
      const t = key.startsWith("@") ? peerTab(conv.slice(1)) : S.tabs.get(key);
      if (!t || t.last) continue;
      t.welcomed = true;
      if (t.key !== S.active) setUnread(t, n);
    }
    if (!first) {
      for (const t of S.tabs.values()) {
        if (!t.last) continue;
        t.since = t.last;
        askHistory(t, t.last);
      }
    }
    const current = m.room ? convKey("#" + m.room) : "";
    const active = S.tabs.get(S.active);
    if (!active) {
      showTab(current || firstTab());
    } else if (active.room && active.room !== S.room) {
      // Back after a drop: the room on screen becomes current again.
      makeCurrent(active.room);
    }
  }

  // resetConversations forgets every conversation (a new login).
  function resetConversations() {
    for (const key of [...S.tabs.keys()]) closeTab(key);
    S.spare.replaceChildren();
    S.everIn = false;
  }

  // labelInput says where the input line's text goes: tab t's room or peer.
  function labelInput(t) {
    $("say-label").textContent = t.peer ? `Private message to ${t.peer}` : `Message to ${t.title}`;
    $("say-input").placeholder = t.peer ? `Message ${t.peer}, or /command` : `Message #${t.title}, or /command`;
  }

  function scrollDown(t) {
    const log = $("log");
    if (!t.el.hidden) log.scrollTop = log.scrollHeight;
    S.pinned = true;
  }

  // S.pinned says the person reads at the bottom of the log: set when they
  // scroll there (or a tab opens there), cleared when they scroll up.
  // Measuring at each new line instead lost the bottom for good whenever
  // the log got shorter (a smaller window, a panel opening): the distance
  // to the end grew past the margin without any scrolling.
  S.pinned = true;
  $("log").addEventListener("scroll", () => {
    const log = $("log");
    S.pinned = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  });
  new ResizeObserver(() => {
    const t = S.tabs.get(S.active);
    if (S.pinned && t) scrollDown(t);
  }).observe($("log"));

  // append adds a line to conversation key's pane (the one on screen, or
  // the spare pane, when key is none). A line with an id goes after every
  // line with a smaller one: lines caught up after a reconnection arrive
  // after newer ones said since.
  function append(key, node) {
    const t = S.tabs.get(key) || S.tabs.get(S.active);
    const el = t ? t.el : S.spare;
    const id = node.dataset.id;
    let before = null;
    if (id) {
      for (let c = el.lastElementChild; c; c = c.previousElementSibling) {
        if (!c.dataset.id) continue;
        if (c.dataset.id <= id) break;
        before = c;
      }
    }
    el.insertBefore(node, before);
    while (el.childElementCount > MAX_LINES) {
      const old = el.firstElementChild;
      if (t && old.dataset.id) t.ids.delete(old.dataset.id);
      old.remove();
    }
    if (t && t.key === S.active && S.pinned) scrollDown(t);
  }

  function line(key, m) {
    const div = document.createElement("div");
    div.className = `line kind-${m.kind}${m.action ? " action" : ""}${m.pending ? " pending" : ""}`;
    if (m.id) div.dataset.id = m.id;
    div.append(timeEl(m.ts));
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = m.kind;
    div.append(kind);
    const from = document.createElement("button");
    from.type = "button";
    from.className = "from linkish";
    from.textContent = m.from;
    from.setAttribute("aria-label", `${m.from}: private conversation`);
    if (m.from !== S.user) from.addEventListener("click", () => openTab(m.from, true));
    else from.disabled = true;
    div.append(from);
    if (m.to && m.to.length > 1) {
      const to = document.createElement("span");
      to.className = "to";
      to.textContent = `(to ${m.to.join(", ")})`;
      div.append(to);
    }
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    if (m.action) {
      // "/me waves": shown as "* bob waves".
      div.insertBefore(document.createTextNode("* "), from);
    }
    div.append(text);
    dress(div, m);
    append(key, div);
    if (m.id) requote(m.id);
  }

  function notice(text, kind = "info", key) {
    const div = document.createElement("div");
    div.className = `line notice notice-${kind}`;
    div.append(timeEl());
    const k = document.createElement("span");
    k.className = "kind";
    k.textContent = kind === "ok" ? "server" : kind;
    div.append(k);
    const t = document.createElement("span");
    t.className = "text";
    t.textContent = text;
    div.append(t);
    append(key || S.active, div);
  }

  function timeEl(ts) {
    const d = ts ? new Date(ts) : new Date();
    const el = document.createElement("time");
    el.dateTime = d.toISOString();
    el.textContent = pad(d.getHours()) + ":" + pad(d.getMinutes());
    el.title = d.toLocaleString();
    return el;
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function shortDate(ts) {
    if (!ts) return "";
    const d = new Date(ts);
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return pad(d.getHours()) + ":" + pad(d.getMinutes());
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  // ---- message actions ---------------------------------------------------
  // Each chat line keeps what it shows in el.msg: {id, from, text, room,
  // deleted, edited, reactions: Map reaction -> Set of users}. Events name
  // a line by its id, which is unique on the server, so a line is found
  // whatever pane it is in.

  function findLine(id) {
    if (!id) return null;
    const el = $("log").querySelector(`.line[data-id="${CSS.escape(id)}"]`);
    return el && el.msg ? el : null;
  }

  function mentionsMe(m) {
    const me = S.user.toLowerCase();
    return (m.mentions || []).some((u) => String(u).toLowerCase() === me);
  }

  // dress adds to a chat line what the actions give it: the quote of the
  // line it answers, its mentions, the buttons to act on it, its reactions,
  // and its state (edited, deleted).
  function dress(div, m) {
    if (m.kind === "broadcast") return;
    const room = m.room || (m.conversation && m.conversation.startsWith("#") ? m.conversation.slice(1) : "");
    div.msg = { id: m.id || "", from: m.from, text: m.text, room, deleted: false, edited: "", reactions: new Map() };
    if (m.reply_to) div.prepend(quote(m.reply_to));
    setText(div, m.text, m.mentions);
    if (mentionsMe(m) && m.from !== S.user) div.classList.add("mention");
    div.append(lineButtons(div));
    const row = document.createElement("div");
    row.className = "reactions";
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "Reactions");
    row.hidden = true;
    div.append(row);
    restateLine(div, m);
  }

  // restateLine brings line el up to what a message (a history line) says
  // of it now.
  function restateLine(el, m) {
    if (m.deleted) {
      showDeleted(el);
      return;
    }
    if (m.edited) {
      if (m.text !== el.msg.text) setText(el, m.text, m.mentions);
      showEdited(el, typeof m.edited === "string" ? m.edited : m.ts);
    }
    if (m.reactions && typeof m.reactions === "object") {
      el.msg.reactions = new Map(Object.entries(m.reactions).map(([r, users]) => [r, new Set(users || [])]));
      renderReactions(el);
    }
  }

  function restate(m) {
    const el = findLine(m.id);
    if (el) restateLine(el, m);
  }

  // setText shows a line's text, with the names it mentions marked.
  function setText(el, text, mentions) {
    el.msg.text = text;
    const span = el.querySelector(":scope > .text");
    span.replaceChildren();
    const names = new Set((mentions || []).map((u) => String(u).toLowerCase()));
    if (names.size === 0) {
      span.textContent = text;
      return;
    }
    const re = /@([\p{L}\p{N}_.-]+)/gu;
    let at = 0;
    for (const hit of text.matchAll(re)) {
      const name = hit[1].toLowerCase();
      if (!names.has(name)) continue;
      span.append(text.slice(at, hit.index));
      const mark = document.createElement("mark");
      mark.className = name === S.user.toLowerCase() ? "at me" : "at";
      mark.textContent = hit[0];
      span.append(mark);
      at = hit.index + hit[0].length;
    }
    span.append(text.slice(at));
  }

  function showEdited(el, ts) {
    el.msg.edited = ts || new Date().toISOString();
    let mark = el.querySelector(":scope > .edited");
    if (!mark) {
      mark = document.createElement("span");
      mark.className = "edited";
      mark.textContent = "(edited)";
      el.querySelector(":scope > .text").after(mark);
    }
    mark.title = "edited " + new Date(el.msg.edited).toLocaleString();
    requote(el.msg.id);
  }

  function showDeleted(el) {
    el.msg.deleted = true;
    el.msg.text = "";
    el.msg.reactions.clear();
    el.classList.add("deleted");
    el.classList.remove("mention");
    el.querySelector(":scope > .text").textContent = "message deleted";
    for (const sel of [":scope > .edited", ":scope > .msg-acts", ":scope > .picker"]) {
      const x = el.querySelector(sel);
      if (x) x.remove();
    }
    renderReactions(el);
    requote(el.msg.id);
    if (S.compose && S.compose.id === el.msg.id) endCompose();
  }

  // quote is the short quote a reply shows of the line it answers; a
  // button that brings that line into view.
  function quote(id) {
    const q = document.createElement("button");
    q.type = "button";
    q.className = "quote linkish";
    q.dataset.of = id;
    fillQuote(q);
    q.addEventListener("click", () => {
      const el = findLine(id);
      if (!el) return;
      el.scrollIntoView({ block: "center" });
      el.classList.add("flash");
      setTimeout(() => el.classList.remove("flash"), 1500);
    });
    return q;
  }

  function fillQuote(q) {
    const el = findLine(q.dataset.of);
    let words = "a message not shown here";
    if (el && el.msg.deleted) words = "message deleted";
    else if (el) words = `${el.msg.from}: ${short(el.msg.text)}`;
    q.textContent = "↪ " + words;
    q.setAttribute("aria-label", `In reply to ${words}`);
  }

  // requote brings the quotes of line id up to date.
  function requote(id) {
    if (!id) return;
    for (const q of $("log").querySelectorAll(`.quote[data-of="${CSS.escape(id)}"]`)) fillQuote(q);
  }

  function short(text) {
    const chars = [...text];
    return chars.length > 60 ? chars.slice(0, 60).join("") + "…" : text;
  }

  // lineButtons are the actions on a line: reply and react for any, edit
  // for mine, delete for mine (and for a room's owner or an admin).
  function lineButtons(el) {
    const m = el.msg;
    const acts = document.createElement("span");
    acts.className = "msg-acts";
    const mine = m.from === S.user;
    const who = mine ? "your message" : `${m.from}'s message`;
    acts.append(button("Reply", `Reply to ${who}`, () => startReply(el)));
    const react = button("React", `React to ${who}`, () => togglePicker(el, react));
    react.setAttribute("aria-expanded", "false");
    acts.append(react);
    if (mine) acts.append(button("Edit", "Edit your message", () => startEdit(el)));
    const room = S.rooms.find((r) => m.room && r.name.toLowerCase() === m.room.toLowerCase());
    const owner = room && room.owner && room.owner.toLowerCase() === S.user.toLowerCase();
    if (mine || S.admin || owner) {
      acts.append(button("Delete", `Delete ${who}`, () => {
        if (confirm(mine ? "Delete your message?" : `Delete ${m.from}'s message?`)) act(`delete ${m.id}`, () => showDeleted(el));
      }));
    }
    return acts;
  }

  // togglePicker opens or closes the row of common reactions under a line.
  function togglePicker(el, opener) {
    let p = el.querySelector(":scope > .picker");
    if (p) {
      p.remove();
      opener.setAttribute("aria-expanded", "false");
      return;
    }
    p = document.createElement("div");
    p.className = "picker";
    p.setAttribute("role", "group");
    p.setAttribute("aria-label", "Pick a reaction");
    for (const r of REACTIONS) {
      const b = button(r, `React with ${r}`, () => {
        p.remove();
        opener.setAttribute("aria-expanded", "false");
        toggleReaction(el, r);
        opener.focus();
      });
      p.append(b);
    }
    p.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      p.remove();
      opener.setAttribute("aria-expanded", "false");
      opener.focus();
    });
    el.querySelector(":scope > .reactions").before(p);
    opener.setAttribute("aria-expanded", "true");
    p.firstElementChild.focus();
  }

  // toggleReaction adds my reaction r to line el, or takes it back.
  function toggleReaction(el, r) {
    const m = el.msg;
    if (!m.id || m.deleted) return;
    const on = !(m.reactions.get(r) || new Set()).has(S.user);
    act(`${on ? "react" : "unreact"} ${m.id} ${r}`, () => react(el, S.user, r, on));
  }

  function react(el, user, r, on) {
    const users = el.msg.reactions.get(r) || new Set();
    if (on) users.add(user);
    else users.delete(user);
    if (users.size) el.msg.reactions.set(r, users);
    else el.msg.reactions.delete(r);
    renderReactions(el);
  }

  function renderReactions(el) {
    const row = el.querySelector(":scope > .reactions");
    if (!row) return;
    row.replaceChildren();
    for (const [r, users] of el.msg.reactions) {
      const names = [...users];
      const mine = users.has(S.user);
      const b = button(`${r} ${names.length}`, `${r} from ${names.join(", ")}; ${mine ? "take yours back" : "add yours"}`, () => toggleReaction(el, r));
      b.className = "reaction";
      b.title = names.join(", ");
      b.setAttribute("aria-pressed", String(mine));
      row.append(b);
    }
    row.hidden = row.childElementCount === 0;
  }

  // act sends an action with a label; then runs when its ok comes (the
  // event, if the server sends this page one too, does the same again).
  // A server that does not know the command would take the line for chat:
  // it is not sent there.
  function act(command, then) {
    const verb = command.split(" ", 1)[0];
    if (!S.verbs.has(verb)) {
      notice(`This server does not offer ${verb}.`, "error");
      return false;
    }
    return ask(command, then);
  }

  // ask sends a line with a label of its own; then gets its ok. An error
  // is shown unless quiet.
  function ask(command, then, quiet = false) {
    const label = "w" + ++S.actSeq;
    if (!send(`@${label} ${command}`)) return false;
    S.acting.set(label, { then, quiet });
    return true;
  }

  function onEdit(m) {
    const el = findLine(m.id);
    if (!el || el.msg.deleted) return;
    setText(el, m.text, m.mentions || []);
    showEdited(el, m.ts);
  }

  function onDelete(m) {
    const el = findLine(m.id);
    if (el) showDeleted(el);
  }

  function onReaction(m) {
    const el = findLine(m.id);
    if (el && !el.msg.deleted) react(el, m.user, m.reaction, m.on !== false);
  }

  // lastOwnLine is my newest line still there in the conversation on screen.
  function lastOwnLine() {
    const t = S.tabs.get(S.active);
    if (!t) return null;
    for (let c = t.el.lastElementChild; c; c = c.previousElementSibling) {
      if (c.msg && c.msg.id && c.msg.from === S.user && !c.msg.deleted) return c;
    }
    return null;
  }

  // startEdit puts line el's text in the input line to be edited.
  function startEdit(el) {
    if (!el.msg.id || el.msg.deleted) return;
    const input = $("say-input");
    const draft = S.compose ? S.compose.draft : input.value;
    endCompose(true);
    S.compose = { mode: "edit", id: el.msg.id, key: S.active, draft };
    el.classList.add("editing");
    showCompose("Editing your message. Enter saves it, Escape cancels.");
    input.value = el.msg.text;
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  // startReply makes the input line answer line el; what is typed stays.
  function startReply(el) {
    if (!el.msg.id || el.msg.deleted) return;
    const input = $("say-input");
    const wasEdit = S.compose && S.compose.mode === "edit";
    if (wasEdit) input.value = S.compose.draft;
    endCompose(true);
    S.compose = { mode: "reply", id: el.msg.id, key: S.active, draft: "" };
    showCompose(`Replying to ${el.msg.from}: ${short(el.msg.text)}`);
    input.focus();
  }

  function showCompose(text) {
    $("compose-text").textContent = text;
    $("compose").hidden = false;
    $("say-label").textContent = S.compose.mode === "edit" ? "Edit your message" : "Your reply";
  }

  // endCompose stops an edit or a reply. The line typed before an edit
  // comes back (unless keep); what was typed as a reply stays, as a line.
  function endCompose(keep) {
    const c = S.compose;
    if (!c) return;
    S.compose = null;
    $("compose").hidden = true;
    const el = findLine(c.id);
    if (el) el.classList.remove("editing");
    if (!keep && c.mode === "edit") $("say-input").value = c.draft;
    const t = S.tabs.get(S.active);
    if (t && !S.secret) labelInput(t);
  }

  function finishEdit(text) {
    const c = S.compose;
    const el = findLine(c.id);
    if (!el || text.trim() === "" || text === el.msg.text) {
      endCompose();
      return;
    }
    if (act(`edit ${c.id} ${text}`, () => {
      setText(el, text, []);
      showEdited(el);
    })) endCompose();
  }

  function finishReply(text) {
    const c = S.compose;
    const t = S.tabs.get(c.key);
    if (!S.verbs.has("reply")) {
      notice("This server does not offer reply.", "error");
      return;
    }
    if (!send(`reply ${c.id} ${text}`)) return;
    if (t && t.peer) {
      // As a private message: shown now, its id comes with the answer.
      line(t.key, { kind: "private", from: S.user, to: [t.peer], text, ts: new Date().toISOString(), pending: true, reply_to: c.id });
    }
    endCompose(true);
    $("say-input").value = "";
  }

  // adoptPending gives my private line shown as pending the id it came
  // back with (from another device of mine, or as the answer to a reply).
  function adoptPending(t, m) {
    for (let c = t.el.lastElementChild; c; c = c.previousElementSibling) {
      if (c.classList.contains("pending") && c.msg && c.msg.text === m.text) {
        c.classList.remove("pending");
        c.dataset.id = m.id;
        c.msg.id = m.id;
        t.ids.add(m.id);
        if (m.id > t.last) t.last = m.id;
        return true;
      }
    }
    return false;
  }

  // ---- mentions and typing -----------------------------------------------

  function setMentionCount(n) {
    S.mentioned = n;
    const b = $("mentions-button");
    b.hidden = n <= 0;
    b.textContent = `Mentions ${n}`;
    b.setAttribute("aria-label", `${n} mention${n === 1 ? "" : "s"} of you: list them`);
  }

  function onTyping(m) {
    if (!m.user || m.user === S.user || !m.conversation) return;
    let key = convKey(m.conversation);
    if (key === convKey("@" + S.user)) key = convKey("@" + m.user); // a private conversation, named from their side
    const t = S.tabs.get(key);
    if (!t) return;
    clearTimeout(t.typers.get(m.user));
    t.typers.set(m.user, setTimeout(() => stopTyping(t, m.user), TYPING_SHOWN_MS));
    if (t.key === S.active) renderTyping();
  }

  function stopTyping(t, user) {
    if (!t.typers.has(user)) return;
    clearTimeout(t.typers.get(user));
    t.typers.delete(user);
    if (t.key === S.active) renderTyping();
  }

  // renderTyping says who is typing in the conversation on screen.
  function renderTyping() {
    const t = S.tabs.get(S.active);
    const names = t ? [...t.typers.keys()] : [];
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    $("typing").textContent = text;
  }

  // ---- the input line ----------------------------------------------------

  $("say-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("say-input");
    const text = input.value;
    if (S.secret) {
      send(text);
      input.value = "";
      return;
    }
    if (S.compose && S.compose.mode === "edit") {
      finishEdit(text);
      return;
    }
    if (text.trim() === "") return;
    const t = S.tabs.get(S.active);
    if (S.compose && S.compose.mode === "reply" && !text.startsWith("/") && S.verbs.has("reply")) {
      finishReply(text);
      return;
    }
    if (text.startsWith("/")) {
      // Any command goes through as it was typed.
      const word = text.slice(1).split(/\s/, 1)[0].toLowerCase();
      const cmd = ALIASES[word] || word;
      if (cmd !== "history") S.manual.set(cmd, (S.manual.get(cmd) || 0) + 1);
      if (send(text)) {
        input.value = "";
        if (cmd === "history") S.hout.push({ manual: true });
      }
      return;
    }
    if (t && t.peer) {
      if (send(`send ${t.peer} ${text}`)) {
        // Shown now; its id comes with the delivery status.
        line(t.key, { kind: "private", from: S.user, to: [t.peer], text, ts: new Date().toISOString(), pending: true });
        input.value = "";
      }
      return;
    }
    if (!t) {
      notice("Join a room (or open a conversation) to chat here.", "error");
      return;
    }
    // Named, so the line goes to the room on screen whatever is current.
    if (send(`say #${t.room} ${text}`)) input.value = "";
  });

  function endSecret() {
    S.secret = "";
    const input = $("say-input");
    input.type = "text";
    showTab(S.active);
  }

  // passwd answers: once the last prompt is answered the reply ends it.
  // Escape also stops an edit or a reply; Up in an empty line edits my
  // last line in the conversation on screen (as in Slack and Element).
  $("say-input").addEventListener("keydown", (e) => {
    if (e.key === "Escape" && S.secret) {
      endSecret();
    } else if (e.key === "Escape" && S.compose) {
      e.preventDefault();
      endCompose();
    } else if (e.key === "ArrowUp" && !S.secret && !S.compose && e.target.value === "" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      const el = lastOwnLine();
      if (el) {
        e.preventDefault();
        startEdit(el);
      }
    }
  });

  // While a line is typed the others in the conversation are told, at
  // most every TYPING_EVERY_MS; not for commands, passwords and edits.
  $("say-input").addEventListener("input", (e) => {
    const text = e.target.value;
    const t = S.tabs.get(S.active);
    if (!t || S.secret || !S.loggedIn || !S.verbs.has("typing") || text === "" || text.startsWith("/") || (S.compose && S.compose.mode === "edit")) return;
    const now = Date.now();
    if (S.typingConv === t.conv && now - S.typingSent < TYPING_EVERY_MS) return;
    S.typingSent = now;
    S.typingConv = t.conv;
    send(`typing ${t.conv}`);
  });

  $("compose-cancel").addEventListener("click", () => {
    endCompose();
    $("say-input").focus();
  });

  $("mentions-button").addEventListener("click", () => {
    S.manual.set("mentions", (S.manual.get("mentions") || 0) + 1);
    if (send("mentions")) setMentionCount(0);
  });

  // ---- page --------------------------------------------------------------

  function setStatus(text) {
    $("status").textContent = text;
  }

  function init() {
    try {
      const last = localStorage.getItem(NAME_KEY);
      if (last) $("login-name").value = last;
    } catch (e) { /* storage off */ }
    // Lines that belong to no conversation (before any is open) go to a
    // pane without a tab.
    S.spare = document.createElement("div");
    S.spare.className = "pane";
    $("log").append(S.spare);
    // On a narrow screen the side panels start folded.
    if (window.matchMedia("(max-width: 760px)").matches) {
      $("rooms-panel").open = false;
      $("members-panel").open = false;
    }
    focusLogin();
    connect();
  }

  init();
})();
