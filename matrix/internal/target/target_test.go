package target

import (
	"slices"
	"testing"

	"strings"

	"runtime"
)

func TestSplitPOSIXCommand(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`python3 -m d --root {root}`, []string{"python3", "-m", "d", "--root", "{root}"}},
		{`a 'b c' "d \"e\"" f\ g`, []string{"a", "b c", `d "e"`, "f g"}},
		{`  x  `, []string{"x"}},
		{`a ''`, []string{"a", ""}},
	} {
		got, err := SplitPOSIXCommand(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("SplitPOSIXCommand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `a 'b`, `a "b`, `a \`} {
		if _, err := SplitPOSIXCommand(bad); err == nil {
			t.Errorf("SplitPOSIXCommand(%q) accepted", bad)
		}
	}
}

func TestTargetValidate(t *testing.T) {
	for _, c := range []struct {
		t  Target
		ok bool
	}{
		{BuiltinTarget(), true},
		{Target{Cmd: []string{"d"}, Socket: "{root}/s", Protocol: ProtocolBHJSON}, true},
		{Target{Socket: "{root}/s", Protocol: ProtocolBHJSON}, false},
		{Target{Cmd: []string{"d"}, Protocol: ProtocolBHJSON}, false},
		{Target{Cmd: []string{"d"}, Socket: "/tmp/fixed.sock", Protocol: ProtocolBHJSON}, false},
		{Target{Cmd: []string{"d"}, Socket: "{root}/s", Protocol: "grpc"}, false},
		{Target{Cmd: []string{"d"}, Socket: "{root}/s", Protocol: ProtocolIPC, Env: []string{"NOEQUALS"}}, false},
	} {
		if err := c.t.Validate(); (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", c.t, err, c.ok)
		}
	}
}

func TestRerunCommandKeepsTheTarget(t *testing.T) {
	argv := []string{"/usr/local/bin/bh-ipc-check", "run", "--cmd", "python3 -m d --root {root}", "--scenarios", "sock.*",
		"--socket", "{root}/bu-{name}.d/sock", "-scenarios=x", "--env", "A=it's", "--protocol", "bh-json"}
	got := RerunCommand(argv, []string{"dir.symlink", "auth.peercred"}, -1)
	want := `sudo /usr/local/bin/bh-ipc-check run --cmd 'python3 -m d --root {root}' --socket '{root}/bu-{name}.d/sock' --env 'A=it'\''s' --protocol bh-json --scenarios dir.symlink,auth.peercred`
	if got != want {
		t.Errorf("RerunCommand =\n%s\nwant\n%s", got, want)
	}
	// A run without root keeps its daemon's uid under sudo, and the rerun
	// writes its report beside this one's, not over it.
	for _, c := range []struct {
		args []string
		uid  int
		want string
	}{
		{[]string{"--report-dir", "out"}, 1000, "sudo bh run --report-dir out-rerun --daemon-uid 1000 --scenarios x"},
		{[]string{"--report-dir=out", "--daemon-uid", "1000"}, 1000, "sudo bh run --report-dir out-rerun --daemon-uid 1000 --scenarios x"},
		{[]string{"--daemon-uid=42"}, 1000, "sudo bh run --daemon-uid=42 --scenarios x"},
	} {
		if got := RerunCommand(append([]string{"bh", "run"}, c.args...), []string{"x"}, c.uid); got != c.want {
			t.Errorf("RerunCommand(%q, uid %d) = %s, want %s", c.args, c.uid, got, c.want)
		}
	}
	// The command splits back into the same words (SplitCommand is the
	// suite's POSIX word splitter).
	words, err := SplitPOSIXCommand(got) // a POSIX shell line (sudo ...) on every OS
	if err != nil || words[3] != "--cmd" || words[4] != argv[3] || words[7] != "--env" || words[8] != "A=it's" {
		t.Errorf("SplitPOSIXCommand(RerunCommand) = %q, %v", words, err)
	}
}

func TestDecodeEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`PING\r\n`:       "PING\r\n",
		`a\tb\\c`:        "a\tb\\c",
		`\x00\xff\x41`:   "\x00\xffA",
		`plain`:          "plain",
		`{"meta":"p"}\n`: "{\"meta\":\"p\"}\n",
	} {
		got, err := DecodeEscapes(in)
		if err != nil || string(got) != want {
			t.Errorf("decodeEscapes(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`a\`, `\q`, `\x4`, `\xzz`, `\x`} {
		if _, err := DecodeEscapes(bad); err == nil {
			t.Errorf("decodeEscapes(%q) accepted", bad)
		}
	}
}

func TestValidateProbe(t *testing.T) {
	base := Target{Cmd: []string{"d", "{name}"}, Socket: "{root}/s"}
	for _, c := range []struct {
		name string
		mod  func(*Target)
		want string // "" = valid; else a part of the error
	}{
		{"connect", func(t *Target) { t.Protocol = ProtocolConnect }, ""},
		{"line", func(t *Target) { t.Protocol, t.Send, t.Expect = ProtocolLine, `PING\r\n`, `^\+PONG` }, ""},
		{"line without expect", func(t *Target) { t.Protocol, t.Send = ProtocolLine, `PING\r\n` }, "needs --expect"},
		{"line bad escape", func(t *Target) { t.Protocol, t.Send, t.Expect = ProtocolLine, `\q`, `x` }, `unknown escape \q`},
		{"line bad regexp", func(t *Target) { t.Protocol, t.Expect = ProtocolLine, `(` }, "--expect"},
		{"exec", func(t *Target) { t.Protocol, t.Probe = ProtocolExec, "cli -s {socket} ping" }, ""},
		{"exec without probe", func(t *Target) { t.Protocol = ProtocolExec }, "needs --probe"},
		{"exec unknown placeholder", func(t *Target) { t.Protocol, t.Probe = ProtocolExec, "cli {sock}" }, "unknown placeholder {sock}"},
		{"send without line", func(t *Target) { t.Protocol, t.Send = ProtocolConnect, "x" }, "belong to --protocol line"},
		{"probe without exec", func(t *Target) { t.Protocol, t.Probe = ProtocolBHJSON, "x" }, "belongs to --protocol exec"},
		{"unknown protocol", func(t *Target) { t.Protocol = "grpc" }, "connect, line or exec"},
		{"dir-created-by", func(t *Target) { t.Protocol, t.DirCreatedBy = ProtocolConnect, "someone" }, "want daemon or suite"},
		{"pidfile without forks", func(t *Target) { t.Protocol, t.PidFile = ProtocolConnect, "{root}/pid" }, "give --forks"},
		{"pidfile outside the root", func(t *Target) { t.Protocol, t.Forks, t.PidFile = ProtocolConnect, true, "/run/d.pid" }, forksOr("must contain {root}")},
		{"forks", func(t *Target) { t.Protocol, t.Forks = ProtocolConnect, true }, forksOr("")},
		{"lockfile", func(t *Target) { t.Protocol, t.LockFile = ProtocolConnect, "{root}/{name}.lock" }, ""},
		{"lockfile outside the root", func(t *Target) { t.Protocol, t.LockFile = ProtocolConnect, "/run/d.lock" }, "must contain {root}"},
		{"lockfile unknown placeholder", func(t *Target) { t.Protocol, t.LockFile = ProtocolConnect, "{root}/{nam}.lock" }, "unknown placeholder {nam}"},
	} {
		tg := base
		c.mod(&tg)
		err := tg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: Validate = %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// --send-file's bytes travel as --send's escapes: every byte comes back.
func TestEscapeSendRoundTrip(t *testing.T) {
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	all = append(all, `\x41\\`...)
	esc := EscapeSend(all)
	got, err := DecodeEscapes(esc)
	if err != nil || string(got) != string(all) {
		t.Fatalf("decodeEscapes(EscapeSend(b)) = %q, %v; want b back (escaped %q)", got, err, esc)
	}
	if strings.ContainsFunc(esc, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
		t.Errorf("EscapeSend left a control or non-ASCII byte: %q", esc)
	}
}

func TestTargetValidateMessages(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Target)
		want string // in the error; "" for none
	}{
		{"valid", func(*Target) {}, ""},
		{"keep under root", func(t *Target) { t.Keep = []string{"{root}/gnupg/private-keys-v1.d", "{root}/a/./b/*"} }, ""},
		{"keep climbing out of root", func(t *Target) { t.Keep = []string{"{root}/../etc"} },
			`--keep "{root}/../etc": must stay under {root} once cleaned, not "etc"`},
		{"keep climbing out through a subdirectory", func(t *Target) { t.Keep = []string{"{root}/data/../../etc/*"} },
			`--keep "{root}/data/../../etc/*": must stay under {root} once cleaned, not "etc/*"`},
		{"keep to the root's parent", func(t *Target) { t.Keep = []string{"{root}/.."} },
			`--keep "{root}/..": must stay under {root}`},
		{"keep outside root", func(t *Target) { t.Keep = []string{"/var/lib/d"} }, `--keep "/var/lib/d": must start with {root}/`},
		{"misspelt root in keep", func(t *Target) { t.Keep = []string{"{rooot}/data"} },
			`--keep "{rooot}/data": unknown placeholder {rooot}; known: {root}, {name}`},
		{"misspelt root in socket", func(t *Target) { t.Socket = "{rooot}/s" },
			`--socket "{rooot}/s": unknown placeholder {rooot}; known: {root}, {name}`},
		{"misspelt root in port file", func(t *Target) { t.PortFile = "{rooot}/port" },
			`--port-file "{rooot}/port": unknown placeholder {rooot}; known: {root}, {name}`},
		{"misspelt root in lock file", func(t *Target) { t.LockFile = "{rooot}/lock" },
			`--lockfile "{rooot}/lock": unknown placeholder {rooot}; known: {root}, {name}`},
		{"socket without root", func(t *Target) { t.Socket = "/run/d.sock" }, `path template "/run/d.sock": must contain {root}`},
		// --per-user-base says the daemon picks the directory its socket
		// goes in: refused where there is none to pick, or where the suite
		// picks it (on every OS: the conflict is checked before the
		// abstract name's OS).
		{"per-user base", func(t *Target) { t.PerUserBase = true }, ""},
		{"per-user base with an abstract name", func(t *Target) { t.PerUserBase, t.Socket = true, "@{root}/s" },
			`--per-user-base with --socket "@{root}/s": an abstract name is in no directory`},
		// TCP only: {root} as $TMPDIR, for the port file.
		{"per-user base without a socket", func(t *Target) { t.PerUserBase, t.Socket, t.PortFile = true, "", "{root}/port" }, ""},
		{"per-user base in the suite's directory", func(t *Target) { t.PerUserBase, t.DirCreatedBy = true, "suite" },
			"--per-user-base with --dir-created-by suite: a daemon that chooses its own base makes its socket's directory there itself"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := Target{Cmd: []string{"d", "--root", "{root}"}, Socket: "{root}/s", Protocol: ProtocolBHJSON}
			c.edit(&tg)
			err := tg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// forksOr is want on Linux and macOS; on Windows, where --forks is refused
// before anything else about a forking daemon is looked at, that refusal.
func forksOr(want string) string {
	if runtime.GOOS == "windows" {
		return "followed on Linux and macOS only"
	}
	return want
}
