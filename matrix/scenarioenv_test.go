package matrix

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/report"
)

// --keep: the daemon's data, what it holds and the directories holding
// it are not left behind; anything else still is, and the evidence names
// what was kept.
func TestKeepNotLeftBehind(t *testing.T) {
	parent := "/run/x/07"
	e := &Env{Runner: &Runner{Config: Config{Target: Target{Keep: []string{"{root}/gnupg/private-keys-v1.d", "{root}/{name}.db"}}}},
		Parent: parent, Root: filepath.Join(parent, "root"), Name: "n"}
	left := []string{
		"root/gnupg (dir 0700)",
		"root/gnupg/S.gpg-agent (socket 0600)",
		"root/gnupg/private-keys-v1.d (dir 0700)",
		"root/gnupg/private-keys-v1.d/k.key (file 0600)",
		"root/n.db (file 0600)",
		"root/other.db (file 0600)",
	}
	got := e.LeftBehindExempt(left)
	want := []string{"root/gnupg/S.gpg-agent (socket 0600)", "root/other.db (file 0600)"}
	if !slices.Equal(got, want) {
		t.Errorf("left behind = %q, want %q", got, want)
	}
	if len(e.Evidence) != 1 || !strings.Contains(e.Evidence[0], "root/gnupg/private-keys-v1.d/k.key") {
		t.Errorf("evidence %q does not name what was kept", e.Evidence)
	}
	if err := (Target{Cmd: []string{"d"}, Socket: "{root}/s", Protocol: ProtocolConnect, Keep: []string{"/var/lib/x"}}).Validate(); err == nil {
		t.Error("a --keep outside {root} was accepted")
	}
	if err := (Target{Cmd: []string{"d"}, Socket: "{root}/s", Protocol: ProtocolConnect, Keep: []string{"{root}/["}}).Validate(); err == nil {
		t.Error("a bad --keep pattern was accepted")
	}
}

// A daemon that answers, but not in JSON, under --protocol bh-json (the
// default of an external target): the preflight stops at its first reply,
// which no bh-json daemon sends, instead of waiting out --ready-timeout,
// and its hint names --protocol (the input under the action). As another
// uid too: the ping then runs in a helper, and the reply crosses a process.
func TestPreflightHintsProtocol(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("uses socat's Unix listener; this is %s", runtime.GOOS)
	}
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("needs socat (apt-get install socat)")
	}
	needBins(t)
	for _, c := range []struct {
		name      string
		daemonUID int
		action    bool
		hint      string
	}{
		{"cli", -1, false, "--protocol connect"},
		{"action", -1, true, "input protocol: connect"},
		{"daemon of another uid", 23503, false, "--protocol connect"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.daemonUID >= 0 && os.Geteuid() != 0 {
				t.Skipf("needs root to run the daemon as uid %d; run as root", c.daemonUID)
			}
			if c.action {
				t.Setenv(FromActionEnv, "1")
			}
			target := Target{Cmd: []string{socat, "UNIX-LISTEN:{root}/echo.sock,fork,mode=600", "SYSTEM:read l; echo hello"}, Socket: "{root}/echo.sock", Protocol: ProtocolBHJSON, DirCreatedBy: "suite"}
			// The default limit: the old wait ran it out.
			_, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, DaemonUID: c.daemonUID, AttackerUID: -1, ReadyTimeout: 10 * time.Second})
			if err == nil {
				t.Fatal("Run passed the preflight")
			}
			msg := err.Error()
			for _, want := range []string{
				"preflight: the daemon's reply cannot be bh-json",
				`the daemon replied "hello\n", not a JSON object: a bh-json daemon never sends it, so the suite stopped waiting at this first reply`,
				"hint:       the daemon answered, but not with a bh-json pong",
				c.hint,
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("Run = %v\nwant %q in it", err, want)
				}
			}
			if strings.Contains(msg, "did not become ready within") {
				t.Errorf("the preflight waited out its limit: %v", err)
			}
		})
	}
}

// A scenario's error from a signal to a process that already finished
// (the daemon forked without --forks) says to add --forks, and the rerun
// command adds it.
func TestSignalErrHintsForks(t *testing.T) {
	e := &Env{Runner: &Runner{Config: Config{Target: Target{Cmd: []string{"gpg-agent"}}}}}
	err := e.SignalErr(os.ErrProcessDone)
	if !strings.Contains(err.Error(), "add --forks") {
		t.Errorf("signalErr = %v, want the --forks hint", err)
	}
	rep := report.Report{Results: []report.Result{{ID: "inst.clean-shutdown", Status: Error, Reason: "SIGTERM: " + err.Error()}}}
	if got := RerunFlags(e.Runner.Config.Target, rep); !slices.Equal(got, []string{"--forks"}) {
		t.Errorf("RerunFlags = %q, want --forks", got)
	}
	e.Runner.Config.Target.Forks = true
	if err := e.SignalErr(os.ErrProcessDone); strings.Contains(err.Error(), "--forks") {
		t.Errorf("with --forks: %v", err)
	}
}

// A daemon that caps its connections (haproxy's maxconn; brokend -flaw
// maxconn serves 10 at once and accepts no more) fails
// proto.idle-connections with the count it refused, within the scenario's
// time: a stalled connect or request is a verdict, not a timeout.
func TestIdleConnectionsCappedDaemonFails(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is written for Linux; this is %s", runtime.GOOS)
	}
	needBins(t)
	t.Parallel()
	sc, _ := Select("proto.idle-connections")
	for _, backlog := range []string{"0", "8"} {
		t.Run("backlog "+backlog, func(t *testing.T) {
			tg := brokenTarget("maxconn")
			if backlog != "0" {
				// A small backlog fills: connects are refused (brokend then
				// serves {root}/bu.sock).
				tg.Cmd = append(tg.Cmd, "-backlog", backlog)
				tg.Socket, tg.PortFile = "{root}/bu.sock", ""
			}
			// A timeout the old behaviour (waiting out the scenario) would
			// reach; the stall bounds (idleStall, twice) fit in it.
			rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Results[0]
			if r.Status != Fail || !strings.Contains(r.Reason, "a new client is not served") {
				t.Fatalf("%s %q, want a failure: a new client is not served; evidence %q", r.Status, r.Reason, r.Evidence)
			}
			if backlog != "0" && !regexp.MustCompile(`accepted \d+ of 500 idle connections \(\d+ refused: connection \d+ not accepted within`).MatchString(r.Reason) {
				t.Errorf("reason %q does not give the count refused", r.Reason)
			}
		})
	}
}

// A refusal's reason quotes the line of the daemon's output that names the
// cause, not only its last line (supervisord ends with "For help, use
// ... -h", php-fpm with "FPM initialization failed").
func TestCauseLine(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"Error: Cannot open an HTTP server: socket.error reported errno.ENAMETOOLONG (AF_UNIX path too long)\nFor help, use /usr/bin/supervisord -h\n",
			"Error: Cannot open an HTTP server: socket.error reported errno.ENAMETOOLONG (AF_UNIX path too long) (last line: For help, use /usr/bin/supervisord -h)"},
		{"[02-Dec-2026] ERROR: unable to bind listening socket for address '/r/x/php.sock': Not a directory (20)\n[02-Dec-2026] ERROR: FPM initialization failed\n",
			"[02-Dec-2026] ERROR: unable to bind listening socket for address '/r/x/php.sock': Not a directory (20) (last line: [02-Dec-2026] ERROR: FPM initialization failed)"},
		// supervisord names its cause in its own words, or by the errno's
		// symbolic name, then points to its help.
		{"2026-12-02 05:29:50,712 CRIT Supervisor is running as root.  Privileges were not dropped because no user is specified in the config file.\nError: The directory named as part of the path /r/07/root/supervisord.pid does not exist\nFor help, use /usr/bin/supervisord -h\n",
			"Error: The directory named as part of the path /r/07/root/supervisord.pid does not exist (last line: For help, use /usr/bin/supervisord -h)"},
		{"Error: Cannot open an HTTP server: socket.error reported errno.ENOTDIR (20)\nFor help, use /usr/bin/supervisord -h\n",
			"Error: Cannot open an HTTP server: socket.error reported errno.ENOTDIR (20) (last line: For help, use /usr/bin/supervisord -h)"},
		// No cause the suite knows: the last line that reports an error,
		// not the pointer to the help after it.
		{"starting\nfatal: the configuration names no listener\nusage: d [-h] [-c FILE]\n",
			"fatal: the configuration names no listener (last line: usage: d [-h] [-c FILE])"},
		{"starting\nbind: Address already in use\n", "bind: Address already in use"},
		// memcached: the cause, then a generic errno (a stale EINVAL) on
		// the last line; a generic errno counts when nothing else does.
		{"bind(): Not a directory\nfailed to listen on UNIX socket \"/r/mc.sock\": Invalid argument\n",
			"bind(): Not a directory (last line: failed to listen on UNIX socket \"/r/mc.sock\": Invalid argument)"},
		{"starting\nlisten: Invalid argument\nbye\n", "listen: Invalid argument (last line: bye)"},
		{"EACCESSIBLE mode\nbye\n", "bye"},
		{"starting\nbye\n", "bye"},
		{"", "(no output)"},
	} {
		if got := stage.CauseLine(c.out); got != c.want {
			t.Errorf("causeLine(%q)\n = %q\nwant %q", c.out, got, c.want)
		}
	}
}

// sock.first-seen-mode watches every socket the daemon makes in the
// directory: one bound loose under a temporary name, then chmodded and
// renamed over the final name (haproxy, supervisord), fails, although the
// final name is never seen loose: the listen gate judges a listen() on any
// socket in the directory.
func TestFirstSeenWatchesTemporaryNames(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("other sockets are watched by inotify (Linux); this is %s", runtime.GOOS)
	}
	needBins(t)
	sc, _ := Select("sock.first-seen-mode")
	tg := brokenTarget("tmprename")
	tg.PortFile = ""
	rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	// The listen gate sees the listen() on the temporary name.
	if r.Status != Fail || !regexp.MustCompile(`listen\(\) was called on \S+/sock\.\d+\.tmp while it was 0777 in a 0755 dir`).MatchString(r.Reason) {
		t.Errorf("%s %q, want a failure naming the temporary socket; evidence %q", r.Status, r.Reason, r.Evidence)
	}
}

// A temporary name renamed over the socket before listen() (the new
// user's racy daemon): at listen() the name bound is gone and the socket
// is at its final name, 0777 in a 0755 directory for a second. The gate
// reads it there; a missing name was once judged as mode 0000, a pass.
func TestFirstSeenRenameThenListen(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the listen gate is Linux's; this is %s", runtime.GOOS)
	}
	needBins(t)
	sc, _ := Select("sock.first-seen-mode")
	tg := brokenTarget("renamelisten")
	tg.PortFile = ""
	rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if r.Status != Fail || !strings.Contains(r.Reason, "while it was 0777 in a 0755 dir") {
		t.Errorf("%s %q, want a failure: listen() with the socket 0777; evidence %q", r.Status, r.Reason, r.Evidence)
	}
}

// Under the action, skip reasons name the action's inputs, not flags.
func TestSkipReasonsUnderAction(t *testing.T) {
	t.Setenv(FromActionEnv, "1")
	r := &Runner{Config: Config{Target: Target{Cmd: []string{"d"}, Socket: "{root}/s", Protocol: ProtocolConnect}}}
	idle, _ := byID("proto.idle-connections")
	if got := r.TargetSkip(idle); !strings.Contains(got, "give input protocol: line or input protocol: exec") {
		t.Errorf("a skip reason under the action: %q, want the protocol input named", got)
	}
	// path.name-validation's skip lists the templates that could pass a
	// name: under the action, as the inputs that set them.
	names, _ := byID("path.name-validation")
	if got := r.TargetSkip(names); !strings.Contains(got, "no template (inputs target, env, socket, port-file, probe, pidfile) contains {name}") || strings.Contains(got, "--") {
		t.Errorf("path.name-validation's skip under the action: %q, want the inputs named, no flag", got)
	}
}
