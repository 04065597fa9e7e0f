package chatd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// Config is chatd's configuration. DefaultConfig gives the embedded defaults;
// LoadConfig decodes TOML over them.
type Config struct {
	Server   ServerConfig   `toml:"server"`
	Database DatabaseConfig `toml:"database"`
	Accounts AccountsConfig `toml:"accounts"`
	Lockout  LockoutConfig  `toml:"lockout"`
	Argon2   Argon2Config   `toml:"argon2"`
	Messages MessagesConfig `toml:"messages"`
	Rooms    RoomsConfig    `toml:"rooms"`
	Rate     RateConfig     `toml:"rate"`
	Log      LogConfig      `toml:"log"`
	Web      WebConfig      `toml:"web"`
	Metrics  MetricsConfig  `toml:"metrics"`
	// Discovery is the LAN discovery responder (PROTOCOL.md section 7).
	Discovery DiscoveryConfig `toml:"discovery"`
	// Cluster names this node among several sharing one PostgreSQL
	// database (docs/cluster.md).
	Cluster ClusterConfig `toml:"cluster"`
	// SSH is the SSH listener (PROTOCOL.md section 12, docs/ssh.md).
	SSH SSHConfig `toml:"ssh"`
	// Presence is who hears of logins once many are online (PROTOCOL.md
	// 13).
	Presence PresenceConfig `toml:"presence"`
	// IRC is the IRC listener (docs/irc.md).
	IRC IRCConfig `toml:"irc"`
}

// IRCConfig is the [irc] table: where IRC clients connect, and whether a
// client without an account may come in as a guest.
type IRCConfig struct {
	Listen    string `toml:"listen"`     // "" turns it off
	TLSListen string `toml:"tls_listen"` // with server.tls_cert and tls_key
	// Guests lets a client that registers with no password under a name
	// no account has in, under an account that lasts as long as its
	// connection (docs/irc.md, "Guests").
	Guests bool `toml:"guests"`
	// ServerName is the name the server gives itself in IRC lines.
	ServerName string `toml:"server_name"`
	// Password, when set, is the server password every IRC client must
	// send with PASS before it registers (docs/irc.md, "Server
	// password"); "" is none.
	Password string `toml:"password"`
	// RegisterBeforeConnect offers draft/account-registration's
	// before-connect (while accounts.registration is open): REGISTER
	// during registration creates the account and logs the connection
	// in as it (docs/irc.md, "Creating an account").
	RegisterBeforeConnect bool `toml:"register_before_connect"`
}

type ServerConfig struct {
	Listen              string   `toml:"listen"`
	TLSListen           string   `toml:"tls_listen"`
	TLSCert             string   `toml:"tls_cert"`
	TLSKey              string   `toml:"tls_key"`
	Banner              string   `toml:"banner"`
	Telnet              bool     `toml:"telnet"`
	MaxConnections      int      `toml:"max_connections"`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"`
	MaxLineBytes        int      `toml:"max_line_bytes"`
	LoginTimeout        Duration `toml:"login_timeout"`
	IdleTimeout         Duration `toml:"idle_timeout"`
	IdleExemptAdmins    bool     `toml:"idle_exempt_admins"`
	ShutdownGrace       Duration `toml:"shutdown_grace"`
	// UpgradeTimeout bounds a live upgrade (chatd upgrade, SIGUSR2): how
	// long the new process has to report ready before it is killed and
	// the old one goes on, and how long the sessions have to stop for the
	// hand-over.
	UpgradeTimeout Duration `toml:"upgrade_timeout"`
}

type DatabaseConfig struct {
	Driver string `toml:"driver"` // "sqlite" | "postgres"
	Path   string `toml:"path"`   // the SQLite file
	URL    string `toml:"url"`    // the PostgreSQL database, postgres://...
}

type AccountsConfig struct {
	Registration      string `toml:"registration"` // "open" | "closed"
	UsernamePattern   string `toml:"username_pattern"`
	MinPasswordLength int    `toml:"min_password_length"`
	DuplicateLogin    string `toml:"duplicate_login"` // "reject" | "replace" | "multi"
	// MaxSessions bounds the sessions one account may have at once under
	// duplicate_login = "multi".
	MaxSessions int `toml:"max_sessions"`
}

type LockoutConfig struct {
	Attempts int      `toml:"attempts"`
	Duration Duration `toml:"duration"`
	Scope    string   `toml:"scope"` // "user" | "user+ip"
}

type Argon2Config struct {
	MemoryKiB     uint32 `toml:"memory_kib"`
	Iterations    uint32 `toml:"iterations"`
	Parallelism   uint8  `toml:"parallelism"`
	MaxConcurrent int    `toml:"max_concurrent"`
	// Worker is where chatd serve computes hashes: "idle" (a child
	// process at SCHED_IDLE priority), "nice" (a child at nice 19) or
	// "off" (in the daemon's own process).
	Worker string `toml:"worker"`
}

type MessagesConfig struct {
	OfflineLimit           int  `toml:"offline_limit"`
	MaxRecipients          int  `toml:"max_recipients"`
	HistoryOnJoin          int  `toml:"history_on_join"`
	HistoryKeep            int  `toml:"history_keep"`
	BlocksApplyToBroadcast bool `toml:"blocks_apply_to_broadcast"`
	// SearchTimeout is the time one search may take, waiting for its
	// turn included; a slower one is stopped and answered server_busy.
	SearchTimeout Duration `toml:"search_timeout"`
}

// RoomsConfig limits how many rooms exist.
type RoomsConfig struct {
	MaxPerUser int `toml:"max_per_user"` // rooms one user may own; 0: no limit
	MaxTotal   int `toml:"max_total"`    // rooms besides the lobby; 0: no limit
	// MaxJoined is how many rooms one user may be a member of at once
	// (PROTOCOL.md 9.3); 0: no limit.
	MaxJoined int `toml:"max_joined"`
	// BusyWrites is how many deliveries a second one room may cost in
	// writes of their own before its lines are written in passes
	// (daemon/roombatch.go); 0: every line at once.
	BusyWrites int `toml:"busy_writes"`
	// PresenceLimit is how many of a room's members may be online before
	// the room counts as large (PROTOCOL.md 13): its members then hear a
	// count instead of each join and leave.
	PresenceLimit int `toml:"presence_limit"`
}

// PresenceConfig is the [presence] table (PROTOCOL.md 13).
type PresenceConfig struct {
	// EveryoneLimit is how many users may be online while each login,
	// logout, away and back still goes to everyone online; above it they
	// go to the user's watchers and the members of their small rooms.
	EveryoneLimit int `toml:"everyone_limit"`
}

type RateConfig struct {
	LinesPerSecond float64 `toml:"lines_per_second"`
	Burst          int     `toml:"burst"`
}

type LogConfig struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // "text" | "json"
}

// WebConfig is the built-in web client and its WebSocket endpoint.
type WebConfig struct {
	Listen string `toml:"listen"` // "" turns the web client off
	// AllowedOrigins are extra Origin patterns a browser page may connect
	// from (path.Match on the origin's host, or on scheme://host when the
	// pattern has "://"). The page's own host is always allowed.
	AllowedOrigins []string `toml:"allowed_origins"`
	// TrustedProxies are addresses or CIDR ranges whose X-Forwarded-For
	// header is believed.
	TrustedProxies []string `toml:"trusted_proxies"`
	TLSCert        string   `toml:"tls_cert"`
	TLSKey         string   `toml:"tls_key"`

	// Hosts are the names (and addresses) the web client may be reached
	// by: a request whose Host header names anything else is refused, so
	// a name an attacker points at this server (DNS rebinding) gets
	// nowhere. Empty: the default of HostAllowed.
	Hosts []string `toml:"hosts"`
}

// MetricsConfig is the HTTP listener for Prometheus and health checks.
type MetricsConfig struct {
	Listen string `toml:"listen"` // "" turns it off
}

// ClusterConfig is the [cluster] table. Cluster mode is on whenever the
// database is PostgreSQL; a SQLite database serves one node.
type ClusterConfig struct {
	// Node is this node's name, unique among the nodes; "" means the host
	// name.
	Node string `toml:"node"`
	// NodeTimeout is how long a node may miss its heartbeat before the
	// others declare it dead and log its users out.
	NodeTimeout Duration `toml:"node_timeout"`
}

// DiscoveryConfig is the [discovery] table: whether the daemon answers LAN
// discovery probes on UDP, where, under which name, and how often.
type DiscoveryConfig struct {
	Enabled          bool   `toml:"enabled"`
	Listen           string `toml:"listen"` // IPv4 address and UDP port
	Name             string `toml:"name"`   // "" means the host name
	AnswersPerSecond int    `toml:"answers_per_second"`
}

// SSHConfig is the [ssh] table: the SSH listener, off by default.
type SSHConfig struct {
	Listen string `toml:"listen"` // "" turns it off
	// HostKey is the server's private host key (OpenSSH format). When the
	// file is missing, the first start writes a new ed25519 key there,
	// mode 0600. "" means ssh_host_ed25519_key in the SQLite database's
	// directory (the working directory with PostgreSQL): SSHHostKeyPath.
	HostKey string `toml:"host_key"`
}

// SSHHostKeyPath is the host key file the SSH listener uses: ssh.host_key,
// or its default beside the database.
func (c *Config) SSHHostKeyPath() string {
	if c.SSH.HostKey != "" {
		return c.SSH.HostKey
	}
	dir := "."
	if c.Database.Driver != "postgres" && c.Database.Path != "" {
		dir = filepath.Dir(c.Database.Path)
	}
	return filepath.Join(dir, "ssh_host_ed25519_key")
}

// Duration is a time.Duration written in TOML as a Go duration string ("60s").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string such as "60s" or "30m".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it with a unit, like \"60s\" or \"30m\")", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration the way UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// DefaultConfig returns the embedded defaults: `chatd serve` with no file
// listens on 127.0.0.1:4119 with ./chatd.db and open registration.
func DefaultConfig() Config {
	return Config{
		Server: ServerConfig{
			Listen:              "127.0.0.1:4119",
			Banner:              "Welcome to chatd.",
			Telnet:              true,
			MaxConnections:      1000,
			MaxConnectionsPerIP: 20,
			MaxLineBytes:        4096,
			LoginTimeout:        Duration{60 * time.Second},
			IdleTimeout:         Duration{30 * time.Minute},
			IdleExemptAdmins:    true,
			ShutdownGrace:       Duration{5 * time.Second},
			UpgradeTimeout:      Duration{30 * time.Second},
		},
		Database: DatabaseConfig{Driver: "sqlite", Path: "./chatd.db"},
		Accounts: AccountsConfig{
			Registration:      "open",
			UsernamePattern:   `^[A-Za-z][A-Za-z0-9_-]{2,15}$`,
			MinPasswordLength: 8,
			DuplicateLogin:    "reject",
			MaxSessions:       5,
		},
		Lockout: LockoutConfig{Attempts: 3, Duration: Duration{60 * time.Second}, Scope: "user+ip"},
		Argon2:  Argon2Config{MemoryKiB: 64 * 1024, Iterations: 1, Parallelism: 2, MaxConcurrent: 4, Worker: "idle"},
		Rooms:   RoomsConfig{MaxPerUser: 5, MaxTotal: 1000, MaxJoined: 20, BusyWrites: 40000, PresenceLimit: 500},
		Messages: MessagesConfig{
			OfflineLimit:           100,
			MaxRecipients:          20,
			HistoryOnJoin:          20,
			HistoryKeep:            10000,
			BlocksApplyToBroadcast: true,
			SearchTimeout:          Duration{2 * time.Second},
		},
		Rate: RateConfig{LinesPerSecond: 10, Burst: 30},
		Log:  LogConfig{Level: "info", Format: "text"},
		Web:  WebConfig{AllowedOrigins: []string{}, TrustedProxies: []string{}, Hosts: []string{}},
		Discovery: DiscoveryConfig{
			Listen:           "0.0.0.0:4119",
			AnswersPerSecond: 10,
		},
		Cluster:  ClusterConfig{NodeTimeout: Duration{15 * time.Second}},
		Presence: PresenceConfig{EveryoneLimit: 500},
		IRC:      IRCConfig{ServerName: "chatd.irc", RegisterBeforeConnect: true},
	}
}

// ConfigEnv names the environment variable that points at the config file
// when no -config flag is given.
const ConfigEnv = "CHATD_CONFIG"

// SystemConfig is the file `make install` writes. It is read when neither
// -config nor $CHATD_CONFIG names a file; a variable so tests can move it.
var SystemConfig = "/etc/chatd/chatd.toml"

// ConfigSource says which file holds the configuration and why that one.
type ConfigSource struct {
	Path string // "" means the embedded defaults
	From string // "-config", "$CHATD_CONFIG", SystemConfig or "the embedded defaults"
}

// String names the file and where the choice came from, for messages:
// "-config FILE", "$CHATD_CONFIG=FILE", the system file's path or "the
// embedded defaults".
func (s ConfigSource) String() string {
	switch s.From {
	case "-config":
		return "-config " + s.Path
	case "$" + ConfigEnv:
		return s.From + "=" + s.Path
	case "":
		return "the embedded defaults"
	}
	return s.Path
}

// FindConfig picks the config file: the -config flag if set, else
// $CHATD_CONFIG, else SystemConfig when it exists, else the embedded
// defaults.
func FindConfig(flagValue string) ConfigSource {
	if flagValue != "" {
		return ConfigSource{Path: flagValue, From: "-config"}
	}
	if p := os.Getenv(ConfigEnv); p != "" {
		return ConfigSource{Path: p, From: "$" + ConfigEnv}
	}
	if _, err := os.Stat(SystemConfig); err == nil {
		return ConfigSource{Path: SystemConfig, From: SystemConfig}
	}
	return ConfigSource{}
}

// LoadConfig reads the TOML file at path over DefaultConfig and validates the
// result. An empty path gives the defaults. Keys the file sets that chatd does
// not know are an error, so a typo cannot silently fall back to a default. A
// relative database.path set in the file is taken relative to the file's
// directory, so every command reading the file finds the same database
// wherever it is started; the embedded default stays relative to the working
// directory.
func LoadConfig(path string) (Config, error) {
	c, problems, err := ReadConfig(path)
	if err != nil {
		return Config{}, err
	}
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}
	return c, nil
}

// ReadConfig is LoadConfig for a caller that wants every problem of a file
// that parses: err says the file could not be read or parsed (and nothing
// else was checked); otherwise problems lists the values of the wrong type
// (the first of each table), the unknown keys and every invalid value,
// each prefixed with path, and c is the configuration as decoded, for
// further checks.
func ReadConfig(path string) (c Config, problems []error, err error) {
	c = DefaultConfig()
	if path == "" {
		return c, c.Problems(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("read config: %w", err)
	}
	// The file is parsed whole first (a syntax error stops everything),
	// then each table is decoded on its own, so that a value of the wrong
	// type stops only its table: one run reports one per table.
	var raw map[string]toml.Primitive
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return Config{}, nil, tomlError(path, err)
	}
	tables := c.tables()
	skip := map[string]bool{} // top-level names whose keys are not listed one by one
	var undecoded []toml.Key
	for _, k := range md.Keys() {
		if len(k) != 1 {
			continue
		}
		dst, ok := tables[k[0]]
		if !ok {
			undecoded = append(undecoded, k) // a table (or key) chatd does not know: one mistake
			skip[k[0]] = true
			continue
		}
		if err := md.PrimitiveDecode(raw[k[0]], dst); err != nil {
			problems = append(problems, tomlError(path, err))
			skip[k[0]] = true // the rest of a table that stopped is not unknown
		}
	}
	for _, k := range md.Undecoded() {
		if !skip[k[0]] {
			undecoded = append(undecoded, k)
		}
	}
	if unknown := unknownKeys(undecoded); len(unknown) > 0 {
		problems = append(problems, fmt.Errorf("%s: unknown %s %s", path, plural(len(unknown), "key", "keys"), strings.Join(unknown, ", ")))
	}
	if md.IsDefined("database", "path") && c.Database.Path != "" && !filepath.IsAbs(c.Database.Path) {
		c.Database.Path = filepath.Join(filepath.Dir(path), c.Database.Path)
	}
	if md.IsDefined("ssh", "host_key") && c.SSH.HostKey != "" && !filepath.IsAbs(c.SSH.HostKey) {
		c.SSH.HostKey = filepath.Join(filepath.Dir(path), c.SSH.HostKey)
	}
	for _, p := range c.Problems() {
		problems = append(problems, fmt.Errorf("%s: %w", path, p))
	}
	return c, problems, nil
}

// tomlError names the file, the line and the key of a TOML error.
func tomlError(path string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.LastKey != "" {
		return fmt.Errorf("%s: line %d: %s: %s", path, pe.Position.Line, pe.LastKey, pe.Message)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// tables maps the name of each table of the file ("server", ...) to the
// part of c it sets.
func (c *Config) tables() map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		if name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ","); name != "" {
			out[name] = v.Field(i).Addr().Interface()
		}
	}
	return out
}

// unknownKeys quotes the undecoded keys, leaving out those inside a table
// that is itself unknown: a misspelt [sever] is one mistake, not one per key.
func unknownKeys(keys []toml.Key) []string {
	seen := make(map[string]bool)
	var out []string
	for _, k := range keys {
		name := k.String()
		inUnknown := false
		for i := 1; i < len(k); i++ {
			if seen[k[:i].String()] {
				inUnknown = true
				break
			}
		}
		seen[name] = true
		if !inUnknown {
			out = append(out, fmt.Sprintf("%q", name))
		}
	}
	sort.Strings(out)
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Validate checks every setting. It returns nil, or every problem it found
// joined into one error (one line each), each naming the key and the value
// that is wrong.
func (c *Config) Validate() error { return errors.Join(c.Problems()...) }

// Problems lists every setting that is wrong, in file order.
func (c *Config) Problems() []error {
	var errs []error
	add := func(list ...error) {
		for _, err := range list {
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	s := &c.Server
	if s.Listen == "" {
		add(errors.New("server.listen: must not be empty"))
	} else {
		add(listenAddr("server.listen", s.Listen))
	}
	if s.TLSListen != "" {
		add(listenAddr("server.tls_listen", s.TLSListen))
		if s.TLSCert == "" {
			add(fmt.Errorf("server.tls_cert: must be set when server.tls_listen (%q) is", s.TLSListen))
		}
		if s.TLSKey == "" {
			add(fmt.Errorf("server.tls_key: must be set when server.tls_listen (%q) is", s.TLSListen))
		}
	}
	add(
		atLeast("server.max_connections", s.MaxConnections, 1),
		atLeast("server.max_connections_per_ip", s.MaxConnectionsPerIP, 1),
		atLeast("server.max_line_bytes", s.MaxLineBytes, 64),
		positive("server.login_timeout", s.LoginTimeout),
		positive("server.idle_timeout", s.IdleTimeout),
		positive("server.shutdown_grace", s.ShutdownGrace),
		positive("server.upgrade_timeout", s.UpgradeTimeout),
	)

	switch d := &c.Database; d.Driver {
	case "sqlite":
		if d.Path == "" {
			add(errors.New("database.path: must not be empty"))
		}
	case "postgres":
		if d.URL == "" {
			add(errors.New(`database.url: must be set when database.driver is "postgres" (postgres://user@host:5432/chatd)`))
		} else if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			add(fmt.Errorf("database.url: %q is not a postgres:// URL", redactURL(d.URL)))
		}
	default:
		add(oneOf("database.driver", d.Driver, "sqlite", "postgres"))
	}

	if d := c.Cluster.NodeTimeout.Duration; d < 300*time.Millisecond {
		add(fmt.Errorf("cluster.node_timeout: %q is too short: at least 300ms (heartbeats go every third of it)", d))
	}
	if strings.TrimSpace(c.Cluster.Node) != c.Cluster.Node || strings.ContainsAny(c.Cluster.Node, "/\x00") {
		add(fmt.Errorf("cluster.node: %q must not have spaces around it, a slash or a NUL byte", c.Cluster.Node))
	}

	a := &c.Accounts
	add(
		oneOf("accounts.registration", a.Registration, "open", "closed"),
		oneOf("accounts.duplicate_login", a.DuplicateLogin, "reject", "replace", "multi"),
		atLeast("accounts.min_password_length", a.MinPasswordLength, 1),
		atLeast("accounts.max_sessions", a.MaxSessions, 1),
	)
	if _, err := regexp.Compile(a.UsernamePattern); err != nil {
		add(fmt.Errorf("accounts.username_pattern: %q is not a valid regular expression: %v", a.UsernamePattern, err))
	}

	l := &c.Lockout
	add(
		atLeast("lockout.attempts", l.Attempts, 1),
		positive("lockout.duration", l.Duration),
		oneOf("lockout.scope", l.Scope, "user", "user+ip"),
	)

	g := &c.Argon2
	add(
		atLeast("argon2.iterations", int(g.Iterations), 1),
		atLeast("argon2.parallelism", int(g.Parallelism), 1),
		atLeast("argon2.max_concurrent", g.MaxConcurrent, 1),
		oneOf("argon2.worker", g.Worker, "idle", "nice", "off"),
	)
	if min := 8 * uint32(g.Parallelism); g.Parallelism >= 1 && g.MemoryKiB < min {
		add(fmt.Errorf("argon2.memory_kib: %d is less than 8 × argon2.parallelism (%d)", g.MemoryKiB, min))
	}

	add(
		between("messages.offline_limit", c.Messages.OfflineLimit, 1, MaxOfflineLimit),
		between("messages.max_recipients", c.Messages.MaxRecipients, 1, 1000),
		atLeast("rooms.max_per_user", c.Rooms.MaxPerUser, 0),
		atLeast("rooms.max_total", c.Rooms.MaxTotal, 0),
		atLeast("rooms.max_joined", c.Rooms.MaxJoined, 0),
		atLeast("rooms.busy_writes", c.Rooms.BusyWrites, 0),
		atLeast("rooms.presence_limit", c.Rooms.PresenceLimit, 1),
		atLeast("presence.everyone_limit", c.Presence.EveryoneLimit, 1),
		atLeast("messages.history_on_join", c.Messages.HistoryOnJoin, 0),
		atLeast("messages.history_keep", c.Messages.HistoryKeep, 0),
		positive("messages.search_timeout", c.Messages.SearchTimeout),
		atLeast("rate.burst", c.Rate.Burst, 1),
	)
	if c.Messages.HistoryKeep < c.Messages.HistoryOnJoin {
		add(fmt.Errorf("messages.history_keep: %d is less than messages.history_on_join (%d); a restart could not replay that many lines",
			c.Messages.HistoryKeep, c.Messages.HistoryOnJoin))
	}
	if !(c.Rate.LinesPerSecond > 0) { // also catches NaN
		add(fmt.Errorf("rate.lines_per_second: %v must be greater than 0", c.Rate.LinesPerSecond))
	}

	add(
		oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error"),
		oneOf("log.format", c.Log.Format, "text", "json"),
	)
	if c.Metrics.Listen != "" {
		add(listenAddr("metrics.listen", c.Metrics.Listen))
	}
	if c.Web.Listen != "" {
		add(listenAddr("web.listen", c.Web.Listen))
	}
	if c.SSH.Listen != "" {
		add(listenAddr("ssh.listen", c.SSH.Listen))
	}
	add(c.Web.validate())
	if c.IRC.Listen != "" {
		add(listenAddr("irc.listen", c.IRC.Listen))
	}
	if c.IRC.TLSListen != "" {
		add(listenAddr("irc.tls_listen", c.IRC.TLSListen))
		if c.Server.TLSCert == "" || c.Server.TLSKey == "" {
			add(errors.New("irc.tls_listen: needs server.tls_cert and server.tls_key"))
		}
	}
	if n := c.IRC.ServerName; n == "" || strings.ContainsAny(n, " :!@*,\r\n\x00") || !strings.Contains(n, ".") {
		add(fmt.Errorf("irc.server_name: %q must be a host-like name with a dot and no spaces", n))
	}
	if p := c.IRC.Password; strings.ContainsAny(p, "\r\n\x00") || len(p) > 256 {
		add(errors.New("irc.password: must be at most 256 bytes with no line break or NUL (an IRC client sends it in one line)"))
	}

	d := &c.Discovery
	add(checkUDP4("discovery.listen", d.Listen))
	if len(d.Name) > 64 {
		add(fmt.Errorf("discovery.name: %q is longer than 64 bytes", d.Name))
	}
	for _, r := range d.Name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			add(fmt.Errorf("discovery.name: %q holds a control character", d.Name))
			break
		}
	}
	add(atLeast("discovery.answers_per_second", d.AnswersPerSecond, 1))
	return errs
}

// checkUDP4 accepts "IPv4:port" or ":port" (all IPv4 addresses).
func checkUDP4(key, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not HOST:PORT: %v", key, addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s: %q has no valid port", key, addr)
	}
	if host != "" && net.ParseIP(host).To4() == nil {
		return fmt.Errorf("%s: %q: the host must be an IPv4 address such as 0.0.0.0 (discovery uses IPv4 broadcast)", key, addr)
	}
	return nil
}

func (w *WebConfig) validate() error {
	if (w.TLSCert == "") != (w.TLSKey == "") {
		return fmt.Errorf("web.tls_cert, web.tls_key: set both or neither (got %q and %q)", w.TLSCert, w.TLSKey)
	}
	if w.TLSCert != "" && w.Listen == "" {
		return fmt.Errorf("web.listen: must be set when web.tls_cert (%q) is", w.TLSCert)
	}
	for _, h := range w.Hosts {
		if !validHostName(h) {
			return fmt.Errorf("web.hosts: %q is not a host name or IP address (no scheme, no port)", h)
		}
	}
	for _, p := range w.AllowedOrigins {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("web.allowed_origins: %q is not a valid pattern", p)
		}
	}
	_, err := w.ParseTrustedProxies()
	return err
}

// HostAllowed reports whether a request's Host header (its port is
// ignored: a proxy or a port forward may change it, and DNS rebinding
// works on the name) names this server: one of web.hosts, or when that is
// empty the host of web.listen (unless a wildcard address), localhost,
// 127.0.0.1 and ::1. When web.listen is a wildcard address (0.0.0.0, ::,
// or no host), any IP address literal is accepted as well: a literal
// cannot be rebound by DNS, and such a listener is reached by whichever
// address the machine has.
func (w *WebConfig) HostAllowed(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = normalizeHost(h)
	if h == "" {
		return false
	}
	names, anyIP := w.allowedHosts()
	if anyIP {
		if _, err := netip.ParseAddr(h); err == nil {
			return true
		}
	}
	return slices.Contains(names, h)
}

// allowedHosts is web.hosts or its default, normalized (HostAllowed), and
// whether web.listen is a wildcard address.
func (w *WebConfig) allowedHosts() (names []string, anyIP bool) {
	host, _, err := net.SplitHostPort(w.Listen)
	if err == nil {
		ip := net.ParseIP(host)
		anyIP = host == "" || (ip != nil && ip.IsUnspecified())
	}
	if len(w.Hosts) > 0 {
		for _, h := range w.Hosts {
			names = append(names, normalizeHost(h))
		}
		return names, anyIP
	}
	names = []string{"localhost", "127.0.0.1", "::1"}
	if h := normalizeHost(host); err == nil && !anyIP && !slices.Contains(names, h) {
		names = append(names, h)
	}
	return names, anyIP
}

// normalizeHost is a host name in the form HostAllowed compares: lower
// case, no brackets around an IPv6 address, no final dot.
func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.Trim(strings.ToLower(h), "[]"), ".")
}

// validHostName accepts a DNS name (letters, digits, '-', '.') or an IP
// address, IPv6 with or without brackets.
func validHostName(h string) bool {
	n := normalizeHost(h)
	if n == "" || len(n) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return true
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return !strings.Contains(n, "..") && !strings.HasPrefix(n, ".") && !strings.HasPrefix(n, "-")
}

// ParseTrustedProxies returns web.trusted_proxies as prefixes; a single
// address is a prefix of its full length.
func (w *WebConfig) ParseTrustedProxies() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(w.TrustedProxies))
	for _, s := range w.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("web.trusted_proxies: %q is neither an IP address nor a CIDR range", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// listenAddr checks that addr is host:port with a port from 0 to 65535, as
// binding it would need.
func listenAddr(key, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not a host:port address: %v", key, addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		if _, lerr := net.LookupPort("tcp", port); lerr == nil && port != "" {
			return nil // a service name such as "telnet"
		}
		return fmt.Errorf("%s: %q has port %q, which is not a number from 0 to 65535", key, addr, port)
	}
	return nil
}

func between(key string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: %d is not between %d and %d", key, v, lo, hi)
	}
	return nil
}

// MaxOfflineLimit caps messages.offline_limit: a mailbox is delivered a
// page at a time, but one user's stored mail should still not be able to
// grow without end.
const MaxOfflineLimit = 100000

func atLeast(key string, v, min int) error {
	if v < min {
		return fmt.Errorf("%s: %d is less than %d", key, v, min)
	}
	return nil
}

func positive(key string, d Duration) error {
	if d.Duration <= 0 {
		return fmt.Errorf("%s: %q must be longer than zero", key, d.Duration)
	}
	return nil
}

func oneOf(key, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	choices := strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
	return fmt.Errorf("%s: %q is not %s", key, v, choices)
}

// CheckName reports whether name may be registered: it must match
// accounts.username_pattern. The error is an *Error with code EBadName.
func (c *AccountsConfig) CheckName(name string) error {
	re, err := regexp.Compile(c.UsernamePattern)
	if err != nil {
		return fmt.Errorf("accounts.username_pattern: %w", err)
	}
	if !re.MatchString(name) {
		return Errorf(EBadName, "%q is not an allowed user name (it must match %s)", name, c.UsernamePattern)
	}
	// Whatever the pattern allows, a name is shown to other users in
	// presence lines and chat: it must not carry spaces, terminal control
	// characters or invisible format characters.
	for _, r := range name {
		if badNameRune(r) {
			return Errorf(EBadName, "%q is not an allowed user name: no spaces, control or invisible format characters", name)
		}
	}
	if Key(name) == "" {
		return Errorf(EBadName, "%q is not an allowed user name", name)
	}
	return nil
}

// CheckRoomName reports whether name may name a room: room names follow the
// user name rules. The error is an *Error with code EBadName that speaks of
// rooms.
func (c *AccountsConfig) CheckRoomName(name string) error {
	err := c.CheckName(name)
	if ErrorCode(err) != EBadName {
		return err
	}
	return Errorf(EBadName, "%q is not an allowed room name: room names follow the user name rules (%s, no spaces or control characters)",
		name, c.UsernamePattern)
}

// CheckPassword reports whether pw is long enough: at least
// accounts.min_password_length characters. The error is an *Error with code
// EWeakPassword.
func (c *AccountsConfig) CheckPassword(pw string) error {
	if utf8.RuneCountInString(pw) < c.MinPasswordLength {
		return Errorf(EWeakPassword, "the password is too short: it needs at least %d characters", c.MinPasswordLength)
	}
	return nil
}

// redactURL returns a database URL fit for an error message or a log: its
// password, if any, replaced by xxxxx.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Redacted is the database the config names, for messages and logs: the
// SQLite path, or the PostgreSQL URL without its password.
func (d DatabaseConfig) Redacted() string {
	if d.Driver == "postgres" {
		return redactURL(d.URL)
	}
	return d.Path
}
