package chatd_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"chatd"
)

// writeConfig writes body to a config file in a temporary directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The example file documents every key with its default value; if either
// side changes without the other, this fails. The one exception is
// database.path: the example is what `make install` puts in /etc/chatd, so it
// names the service's state directory.
func TestLoadConfig_Example(t *testing.T) {
	got, err := chatd.LoadConfig("config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := chatd.DefaultConfig()
	want.Database.Path = "/var/lib/chatd/chatd.db"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config.example.toml differs from DefaultConfig():\n got %+v\nwant %+v", got, want)
	}
}

// Every field of Config must appear in the example, not only agree with it
// where present: a key missing from the file would otherwise go unnoticed.
func TestLoadConfig_ExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	ct := reflect.TypeOf(chatd.Config{})
	for i := 0; i < ct.NumField(); i++ {
		section := ct.Field(i)
		table := section.Tag.Get("toml")
		start := strings.Index(text, "\n["+table+"]\n")
		if start < 0 {
			t.Errorf("config.example.toml has no [%s] table", table)
			continue
		}
		body := text[start+len(table)+3:]
		if end := strings.Index(body, "\n["); end >= 0 {
			body = body[:end]
		}
		for j := 0; j < section.Type.NumField(); j++ {
			key := section.Type.Field(j).Tag.Get("toml")
			if !strings.Contains(body, "\n"+key+" = ") {
				t.Errorf("config.example.toml: [%s] does not set %s", table, key)
			}
		}
	}
}

func TestLoadConfig(t *testing.T) {
	t.Run("EmptyPathIsDefaults", func(t *testing.T) {
		got, err := chatd.LoadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, chatd.DefaultConfig()) {
			t.Fatal("LoadConfig(\"\") is not DefaultConfig()")
		}
	})

	t.Run("OverridesKeepOtherDefaults", func(t *testing.T) {
		path := writeConfig(t, `
[server]
listen = "0.0.0.0:7000"
idle_timeout = "2h"
[argon2]
memory_kib = 1024
`)
		got, err := chatd.LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		want := chatd.DefaultConfig()
		want.Server.Listen = "0.0.0.0:7000"
		want.Server.IdleTimeout = chatd.Duration{2 * time.Hour}
		want.Argon2.MemoryKiB = 1024
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})

	t.Run("ErrMissingFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.toml")
		_, err := chatd.LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want one naming %s", err, path)
		}
	})

	t.Run("ErrSyntax", func(t *testing.T) {
		path := writeConfig(t, "[server\nlisten = 1\n")
		if _, err := chatd.LoadConfig(path); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
			t.Fatalf("err = %v, want one starting with the path", err)
		}
	})

	t.Run("ErrWrongType", func(t *testing.T) {
		path := writeConfig(t, "[server]\nmax_connections = \"many\"\n")
		_, err := chatd.LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), "server.max_connections") {
			t.Fatalf("err = %v, want one naming server.max_connections", err)
		}
	})
}

func TestLoadConfig_UnknownKeys(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
		want []string
	}{
		{"ErrUnknownKey", "[server]\nlisen = \"x\"\n", []string{`unknown key "server.lisen"`}},
		{"ErrUnknownTopLevel", "verbose = true\n", []string{`unknown key "verbose"`}},
		{"ErrUnknownTableOnce", "[sever]\nlisten = \"x\"\nbanner = \"y\"\n", []string{`unknown key "sever"`}},
		{"ErrEveryKeyNamed", "[server]\nlisen = \"x\"\n[log]\nformt = \"json\"\n",
			[]string{`unknown keys`, `"server.lisen"`, `"log.formt"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			_, err := chatd.LoadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("%q does not start with the path", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not contain %q", msg, w)
				}
			}
			if tt.name == "ErrUnknownTableOnce" && strings.Contains(msg, "sever.listen") {
				t.Errorf("%q lists keys inside the unknown table", msg)
			}
		})
	}
}

func TestLoadConfig_BadDuration(t *testing.T) {
	for _, tt := range []struct {
		name, body, key string
	}{
		{"ErrNoUnit", "[server]\nlogin_timeout = \"60\"\n", "server.login_timeout"},
		{"ErrWord", "[lockout]\nduration = \"soon\"\n", "lockout.duration"},
		{"ErrInteger", "[server]\nidle_timeout = 30\n", "server.idle_timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chatd.LoadConfig(writeConfig(t, tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("err = %v, want one naming %s", err, tt.key)
			}
			if !strings.Contains(err.Error(), "is not a duration") {
				t.Fatalf("err = %v, want one saying it is not a duration", err)
			}
		})
	}
}

func TestDuration_Text(t *testing.T) {
	var d chatd.Duration
	if err := d.UnmarshalText([]byte("90s")); err != nil || d.Duration != 90*time.Second {
		t.Fatalf("UnmarshalText(90s) = %v, %v", d.Duration, err)
	}
	b, err := d.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back chatd.Duration
	if err := back.UnmarshalText(b); err != nil || back != d {
		t.Fatalf("round trip via %q gave %v, %v", b, back.Duration, err)
	}
}

func TestConfig_Validate(t *testing.T) {
	if c := chatd.DefaultConfig(); c.Validate() != nil {
		t.Fatalf("defaults do not validate: %v", c.Validate())
	}

	for _, tt := range []struct {
		name   string
		change func(c *chatd.Config)
		want   string // start of the error
	}{
		{"ErrListenEmpty", func(c *chatd.Config) { c.Server.Listen = "" }, "server.listen:"},
		{"ErrTLSWithoutCert", func(c *chatd.Config) { c.Server.TLSListen = ":4120"; c.Server.TLSKey = "k.pem" }, "server.tls_cert:"},
		{"ErrTLSWithoutKey", func(c *chatd.Config) { c.Server.TLSListen = ":4120"; c.Server.TLSCert = "c.pem" }, "server.tls_key:"},
		{"ErrMaxConnections", func(c *chatd.Config) { c.Server.MaxConnections = 0 }, "server.max_connections: 0"},
		{"ErrMaxConnectionsPerIP", func(c *chatd.Config) { c.Server.MaxConnectionsPerIP = -1 }, "server.max_connections_per_ip: -1"},
		{"ErrMaxLineBytes", func(c *chatd.Config) { c.Server.MaxLineBytes = 63 }, "server.max_line_bytes: 63"},
		{"ErrLoginTimeout", func(c *chatd.Config) { c.Server.LoginTimeout = chatd.Duration{} }, `server.login_timeout: "0s"`},
		{"ErrIdleTimeout", func(c *chatd.Config) { c.Server.IdleTimeout = chatd.Duration{-time.Second} }, `server.idle_timeout: "-1s"`},
		{"ErrShutdownGrace", func(c *chatd.Config) { c.Server.ShutdownGrace = chatd.Duration{} }, "server.shutdown_grace:"},
		{"ErrDatabasePath", func(c *chatd.Config) { c.Database.Path = "" }, "database.path:"},
		{"ErrDatabaseDriver", func(c *chatd.Config) { c.Database.Driver = "mysql" }, `database.driver: "mysql" is not "sqlite" or "postgres"`},
		{"ErrSSHListen", func(c *chatd.Config) { c.SSH.Listen = "nohost" }, "ssh.listen:"},
		{"ErrDatabaseURLMissing", func(c *chatd.Config) { c.Database.Driver = "postgres" }, "database.url: must be set"},
		{"ErrDatabaseURLScheme", func(c *chatd.Config) {
			c.Database.Driver, c.Database.URL = "postgres", "mysql://u:hunter2@h/db"
		}, `database.url: "mysql://u:xxxxx@h/db" is not a postgres:// URL`},
		{"ErrRegistration", func(c *chatd.Config) { c.Accounts.Registration = "maybe" }, `accounts.registration: "maybe" is not "open" or "closed"`},
		{"ErrDuplicateLogin", func(c *chatd.Config) { c.Accounts.DuplicateLogin = "kick" }, `accounts.duplicate_login: "kick" is not "reject", "replace" or "multi"`},
		{"ErrMaxSessions", func(c *chatd.Config) { c.Accounts.MaxSessions = 0 }, "accounts.max_sessions: 0"},
		{"ErrMinPasswordLength", func(c *chatd.Config) { c.Accounts.MinPasswordLength = 0 }, "accounts.min_password_length: 0"},
		{"ErrUsernamePattern", func(c *chatd.Config) { c.Accounts.UsernamePattern = "^[a-z" }, `accounts.username_pattern: "^[a-z"`},
		{"ErrLockoutAttempts", func(c *chatd.Config) { c.Lockout.Attempts = 0 }, "lockout.attempts: 0"},
		{"ErrLockoutDuration", func(c *chatd.Config) { c.Lockout.Duration = chatd.Duration{} }, "lockout.duration:"},
		{"ErrLockoutScope", func(c *chatd.Config) { c.Lockout.Scope = "ip" }, `lockout.scope: "ip" is not "user" or "user+ip"`},
		{"ErrArgon2Iterations", func(c *chatd.Config) { c.Argon2.Iterations = 0 }, "argon2.iterations: 0"},
		{"ErrArgon2Parallelism", func(c *chatd.Config) { c.Argon2.Parallelism = 0 }, "argon2.parallelism: 0"},
		{"ErrArgon2MaxConcurrent", func(c *chatd.Config) { c.Argon2.MaxConcurrent = 0 }, "argon2.max_concurrent: 0"},
		{"ErrArgon2Memory", func(c *chatd.Config) { c.Argon2.MemoryKiB = 15; c.Argon2.Parallelism = 2 }, "argon2.memory_kib: 15"},
		{"ErrOfflineLimit", func(c *chatd.Config) { c.Messages.OfflineLimit = -1 }, "messages.offline_limit: -1"},
		{"ErrHistoryOnJoin", func(c *chatd.Config) { c.Messages.HistoryOnJoin = -1 }, "messages.history_on_join: -1"},
		{"ErrHistoryKeep", func(c *chatd.Config) { c.Messages.HistoryKeep = -1 }, "messages.history_keep: -1"},
		{"ErrHistoryKeepBelowReplay", func(c *chatd.Config) { c.Messages.HistoryKeep = 5 }, "messages.history_keep: 5 is less than messages.history_on_join (20)"},
		{"ErrRateLinesPerSecond", func(c *chatd.Config) { c.Rate.LinesPerSecond = 0 }, "rate.lines_per_second: 0"},
		{"ErrRateBurst", func(c *chatd.Config) { c.Rate.Burst = 0 }, "rate.burst: 0"},
		{"ErrLogLevel", func(c *chatd.Config) { c.Log.Level = "loud" }, `log.level: "loud" is not "debug", "info", "warn" or "error"`},
		{"ErrLogFormat", func(c *chatd.Config) { c.Log.Format = "xml" }, `log.format: "xml" is not "text" or "json"`},
		{"ErrWebCertWithoutKey", func(c *chatd.Config) { c.Web.Listen = ":8080"; c.Web.TLSCert = "c.pem" }, "web.tls_cert, web.tls_key:"},
		{"ErrWebTLSWithoutListen", func(c *chatd.Config) { c.Web.TLSCert = "c.pem"; c.Web.TLSKey = "k.pem" }, "web.listen:"},
		{"ErrWebOriginPattern", func(c *chatd.Config) { c.Web.AllowedOrigins = []string{"[a-"} }, `web.allowed_origins: "[a-"`},
		{"ErrWebOriginEmpty", func(c *chatd.Config) { c.Web.AllowedOrigins = []string{""} }, `web.allowed_origins: ""`},
		{"ErrWebHostPort", func(c *chatd.Config) { c.Web.Hosts = []string{"chat.example.com:8080"} }, `web.hosts: "chat.example.com:8080"`},
		{"ErrWebHostURL", func(c *chatd.Config) { c.Web.Hosts = []string{"https://chat.example.com"} }, `web.hosts: "https://chat.example.com"`},
		{"ErrWebHostEmpty", func(c *chatd.Config) { c.Web.Hosts = []string{""} }, `web.hosts: ""`},
		{"ErrWebTrustedProxy", func(c *chatd.Config) { c.Web.TrustedProxies = []string{"proxy.local"} }, `web.trusted_proxies: "proxy.local"`},
		{"ErrWebTrustedRange", func(c *chatd.Config) { c.Web.TrustedProxies = []string{"10.0.0.0/33"} }, `web.trusted_proxies: "10.0.0.0/33"`},
		{"ErrDiscoveryListen", func(c *chatd.Config) { c.Discovery.Listen = "4119" }, `discovery.listen: "4119" is not HOST:PORT`},
		{"ErrDiscoveryListenIPv6", func(c *chatd.Config) { c.Discovery.Listen = "[::]:4119" }, `discovery.listen: "[::]:4119": the host must be an IPv4 address`},
		{"ErrDiscoveryListenPort", func(c *chatd.Config) { c.Discovery.Listen = "0.0.0.0:http" }, `discovery.listen: "0.0.0.0:http" has no valid port`},
		{"ErrDiscoveryName", func(c *chatd.Config) { c.Discovery.Name = "a\x1bb" }, `discovery.name: "a\x1bb" holds a control character`},
		{"ErrDiscoveryNameLong", func(c *chatd.Config) { c.Discovery.Name = strings.Repeat("n", 65) }, "discovery.name: "},
		{"ErrDiscoveryRate", func(c *chatd.Config) { c.Discovery.AnswersPerSecond = 0 }, "discovery.answers_per_second: 0"},
		{"ErrIRCPasswordLineBreak", func(c *chatd.Config) { c.IRC.Password = "a\r\nQUIT" }, "irc.password: must be at most 256 bytes"},
		{"ErrIRCPasswordLong", func(c *chatd.Config) { c.IRC.Password = strings.Repeat("p", 257) }, "irc.password: must be at most 256 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := chatd.DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to start with %q", err, tt.want)
			}
		})
	}

	// The edges that are allowed.
	c := chatd.DefaultConfig()
	c.Server.MaxLineBytes = 64
	c.Messages.OfflineLimit = 1
	c.Messages.HistoryOnJoin = 0
	c.Messages.HistoryKeep = 0
	c.Argon2.MemoryKiB, c.Argon2.Parallelism = 8, 1
	c.Server.TLSListen, c.Server.TLSCert, c.Server.TLSKey = ":4120", "c.pem", "k.pem"
	if err := c.Validate(); err != nil {
		t.Fatalf("edge values rejected: %v", err)
	}
}

// A file that passes decoding but fails Validate names the file as well.
func TestLoadConfig_ValidateNamesFile(t *testing.T) {
	path := writeConfig(t, "[accounts]\nregistration = \"maybe\"\n")
	_, err := chatd.LoadConfig(path)
	want := path + `: accounts.registration: "maybe" is not "open" or "closed"`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestFindConfig(t *testing.T) {
	// The system file is moved into the test's directory; it exists only
	// where a case creates it.
	sys := filepath.Join(t.TempDir(), "chatd.toml")
	old := chatd.SystemConfig
	chatd.SystemConfig = sys
	t.Cleanup(func() { chatd.SystemConfig = old })

	t.Run("FlagWins", func(t *testing.T) {
		t.Setenv(chatd.ConfigEnv, "/from/env.toml")
		if got := chatd.FindConfig("/from/flag.toml"); got.Path != "/from/flag.toml" || got.From != "-config" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("Env", func(t *testing.T) {
		t.Setenv("CHATD_CONFIG", "/from/env.toml")
		if got := chatd.FindConfig(""); got.Path != "/from/env.toml" || got.From != "$CHATD_CONFIG" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		t.Setenv("CHATD_CONFIG", "")
		if got := chatd.FindConfig(""); got.Path != "" || got.String() != "the embedded defaults" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("SystemFileBeforeDefaults", func(t *testing.T) {
		t.Setenv("CHATD_CONFIG", "")
		if err := os.WriteFile(sys, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(sys)
		if got := chatd.FindConfig(""); got.Path != sys {
			t.Fatalf("got %+v, want the system file %s", got, sys)
		}
		if got := chatd.FindConfig("/from/flag.toml"); got.Path != "/from/flag.toml" {
			t.Fatalf("the flag must still win over the system file: %+v", got)
		}
	})
	t.Run("EnvFileIsLoaded", func(t *testing.T) {
		path := writeConfig(t, "[server]\nlisten = \"127.0.0.1:5000\"\n")
		t.Setenv("CHATD_CONFIG", path)
		c, err := chatd.LoadConfig(chatd.FindConfig("").Path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Server.Listen != "127.0.0.1:5000" {
			t.Fatalf("listen = %q, the file named by CHATD_CONFIG was not read", c.Server.Listen)
		}
	})
}

// A relative database.path in a file is relative to the file, not to the
// directory the command happens to run in; the embedded default is not.
func TestLoadConfig_RelativeDatabasePath(t *testing.T) {
	path := writeConfig(t, "[database]\npath = \"data/chatd.db\"\n")
	c, err := chatd.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(path), "data", "chatd.db"); c.Database.Path != want {
		t.Fatalf("database.path = %q, want %q", c.Database.Path, want)
	}
	abs := writeConfig(t, "[database]\npath = \"/srv/chatd.db\"\n")
	if c, err := chatd.LoadConfig(abs); err != nil || c.Database.Path != "/srv/chatd.db" {
		t.Fatalf("absolute path: %q %v", c.Database.Path, err)
	}
	unset := writeConfig(t, "[server]\nbanner = \"hi\"\n")
	if c, err := chatd.LoadConfig(unset); err != nil || c.Database.Path != "./chatd.db" {
		t.Fatalf("default path: %q %v", c.Database.Path, err)
	}
}

// ssh.host_key defaults to a file beside the SQLite database; a relative
// path in a file is taken from the file's directory.
func TestSSHHostKeyPath(t *testing.T) {
	path := writeConfig(t, "[database]\npath = \"data/chatd.db\"\n")
	c, err := chatd.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(path), "data", "ssh_host_ed25519_key"); c.SSHHostKeyPath() != want {
		t.Errorf("default host key %q, want %q", c.SSHHostKeyPath(), want)
	}
	path = writeConfig(t, "[ssh]\nhost_key = \"keys/host\"\n")
	if c, err = chatd.LoadConfig(path); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(path), "keys", "host"); c.SSHHostKeyPath() != want {
		t.Errorf("relative host key %q, want %q", c.SSHHostKeyPath(), want)
	}
	c = chatd.DefaultConfig()
	c.Database.Driver = "postgres"
	if c.SSHHostKeyPath() != "ssh_host_ed25519_key" {
		t.Errorf("host key with PostgreSQL %q, want the working directory's", c.SSHHostKeyPath())
	}
}

// Validate reports every problem, not only the first, and catches listen
// addresses that could never be bound.
func TestConfig_ValidateAllProblems(t *testing.T) {
	c := chatd.DefaultConfig()
	c.Server.Listen = "127.0.0.1:99999"
	c.Server.TLSListen = "nonsense"
	c.Rate.Burst = 0
	c.Log.Format = "xml"
	c.Metrics.Listen = "127.0.0.1:70000"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"server.listen", "server.tls_listen", "server.tls_cert", "server.tls_key", "rate.burst", "log.format", "metrics.listen"} {
		if !strings.Contains(err.Error(), key+": ") {
			t.Errorf("no problem reported for %s in:\n%v", key, err)
		}
	}
	if n := len(c.Problems()); n != 7 {
		t.Errorf("%d problems, want 7:\n%v", n, err)
	}
}

func TestAccountsConfig_CheckName(t *testing.T) {
	a := chatd.DefaultConfig().Accounts
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"Bob_2", true},
		{"ab", false},
		{"1abc", false},
		{"has space", false},
		{"waytoolongforthepattern", false},
		{"", false},
	} {
		err := a.CheckName(tt.name)
		if tt.ok && err != nil {
			t.Errorf("CheckName(%q) = %v", tt.name, err)
		}
		if !tt.ok && chatd.ErrorCode(err) != chatd.EBadName {
			t.Errorf("CheckName(%q) = %v, want code %s", tt.name, err, chatd.EBadName)
		}
	}
}

func TestAccountsConfig_CheckPassword(t *testing.T) {
	a := chatd.DefaultConfig().Accounts // 8 characters
	if err := a.CheckPassword("12345678"); err != nil {
		t.Errorf("8 characters: %v", err)
	}
	if err := a.CheckPassword("1234567"); chatd.ErrorCode(err) != chatd.EWeakPassword {
		t.Errorf("7 characters: %v, want code %s", err, chatd.EWeakPassword)
	}
	// Characters, not bytes: seven two-byte letters are still too short.
	if err := a.CheckPassword("ééééééé"); chatd.ErrorCode(err) != chatd.EWeakPassword {
		t.Errorf("7 two-byte characters: %v, want code %s", err, chatd.EWeakPassword)
	}
}

// A PostgreSQL config needs its url and no path; Redacted hides the
// password wherever the URL is shown.
func TestConfig_ValidatePostgres(t *testing.T) {
	c := chatd.DefaultConfig()
	c.Database = chatd.DatabaseConfig{Driver: "postgres", URL: "postgres://chatd:hunter2@127.0.0.1:5432/chatd"}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid postgres config refused: %v", err)
	}
	if got := c.Database.Redacted(); strings.Contains(got, "hunter2") || !strings.Contains(got, "127.0.0.1:5432/chatd") {
		t.Fatalf("Redacted() = %q", got)
	}
}

// TestWebConfig_HostAllowed: which Host headers name the web client, by web.hosts
// or its default.
func TestWebConfig_HostAllowed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		listen string
		hosts  []string
		host   string
		want   bool
	}{
		{"DefaultListenHost", "chat.lan:8080", nil, "chat.lan:8080", true},
		{"DefaultListenHostOtherPort", "chat.lan:8080", nil, "CHAT.LAN:443", true},
		{"DefaultLocalhost", "127.0.0.1:8080", nil, "localhost:8080", true},
		{"DefaultLoopback", "127.0.0.1:8080", nil, "127.0.0.1", true},
		{"DefaultIPv6Loopback", "127.0.0.1:8080", nil, "[::1]:8080", true},
		{"ErrRebound", "127.0.0.1:8080", nil, "evil.com:8080", false},
		{"ErrOtherAddress", "127.0.0.1:8080", nil, "192.168.1.5:8080", false},
		{"WildcardAnyAddress", "0.0.0.0:8080", nil, "192.168.1.5:8080", true},
		{"WildcardIPv6Address", ":8080", nil, "[fe80::1]:8080", true},
		{"ErrWildcardName", "0.0.0.0:8080", nil, "evil.com", false},
		{"Listed", "127.0.0.1:8080", []string{"Chat.Example.com"}, "chat.example.com.", true},
		{"ErrListedReplacesDefault", "127.0.0.1:8080", []string{"chat.example.com"}, "localhost:8080", false},
		{"ErrEmptyHost", "127.0.0.1:8080", nil, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := chatd.WebConfig{Listen: tt.listen, Hosts: tt.hosts}
			if got := w.HostAllowed(tt.host); got != tt.want {
				t.Fatalf("HostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}
