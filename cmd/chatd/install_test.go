package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// make install puts the binary, both units and the config under DESTDIR,
// points the unit at PREFIX, and never overwrites a config that exists.
// It writes only under the test's temporary directories: the tree's
// bin/chatd, which a running `make run` may be using, stays as it was.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary with make")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make install needs make:", err)
	}
	dest, bindir := t.TempDir(), t.TempDir()
	before := treeBin(t)
	t.Cleanup(func() {
		if after := treeBin(t); after != before {
			t.Errorf("the test changed the tree's bin/chatd: %s, now %s", before, after)
		}
	})
	install := func() string {
		t.Helper()
		cmd := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest, "PREFIX=/opt/chatd", "BINDIR="+bindir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		return string(out)
	}
	install()
	bin := filepath.Join(dest, "opt/chatd/bin/chatd")
	if st, err := os.Stat(bin); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("binary: %v %v", st, err)
	}
	unit, err := os.ReadFile(filepath.Join(dest, "etc/systemd/system/chatd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/opt/chatd/bin/chatd serve -config /etc/chatd/chatd.toml", "Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=30s", "ProtectSystem=strict"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("chatd.service lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "etc/systemd/system/chatd.socket")); err != nil {
		t.Error(err)
	}
	config := filepath.Join(dest, "etc/chatd/chatd.toml")
	example, _ := os.ReadFile("../../config.example.toml")
	if got, err := os.ReadFile(config); err != nil || string(got) != string(example) {
		t.Fatalf("chatd.toml is not config.example.toml: %v", err)
	}
	// Every value checks; only the state directory may be missing, which
	// systemd creates at the first start.
	out, err := exec.Command(bin, "check-config", "-config", config).CombinedOutput()
	if _, statErr := os.Stat("/var/lib/chatd"); statErr == nil {
		if err != nil {
			t.Fatalf("the installed config does not check: %v\n%s", err, out)
		}
	} else if strings.Count(string(out), "problem: ") != 1 || !strings.Contains(string(out), "the directory /var/lib/chatd") {
		t.Fatalf("the installed config: %v\n%s", err, out)
	}

	if err := os.WriteFile(config, []byte("# mine\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if out := install(); !strings.Contains(out, "kept "+config) {
		t.Errorf("second install did not say it kept the config:\n%s", out)
	}
	if got, _ := os.ReadFile(config); string(got) != "# mine\n" {
		t.Fatalf("make install overwrote the config: %q", got)
	}
}

// treeBin describes the working tree's bin/chatd: whether it exists, and its
// size and modification time if so.
func treeBin(t *testing.T) string {
	t.Helper()
	st, err := os.Stat("../../bin/chatd")
	if errors.Is(err, fs.ErrNotExist) {
		return "absent"
	} else if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d bytes, modified %s", st.Size(), st.ModTime().Format(time.RFC3339Nano))
}
