package matrix

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// Real daemons nobody on this project wrote, each run with the protocol
// that fits it; the expected verdicts are checked against their sources
// (see the comments) and docs/cli.md's recipes give the same commands.
// scripts/test.sh installs them (Debian: openssh-client, socat) when it
// runs as root.

// needProgram skips when prog is not installed, saying how to get it.
func needProgram(t *testing.T, prog, pkg string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("the expected verdicts are for Linux; this is %s", runtime.GOOS)
	}
	if _, err := exec.LookPath(prog); err != nil {
		t.Skipf("%s is not installed: apt-get install %s (scripts/test.sh does it as root)", prog, pkg)
	}
	needBins(t)
}

// expectVerdicts runs target and checks the exact set of failures and
// skips; as a non-root user the other-uid scenarios skip instead.
func expectVerdicts(t *testing.T, target Target, fails, skips []string, reasons map[string]string) Report {
	t.Helper()
	rep := runSuite(t, target, "")
	if os.Geteuid() != 0 {
		fails = slices.DeleteFunc(slices.Clone(fails), func(id string) bool { return slices.Contains(otherUIDScenarios(), id) })
		skips = append(slices.Clone(skips), otherUIDScenarios()...)
	} else {
		skips = append(slices.Clone(skips), hostLacks()...)
	}
	checkFails(t, rep, fails)
	want := slices.Clone(skips)
	sort.Strings(want)
	want = slices.Compact(want)
	if got := byStatus(rep, Skip); !slices.Equal(got, want) {
		t.Errorf("skipped %v\nwant    %v", got, want)
	}
	for id, part := range reasons {
		if r, _ := find(rep, id); !strings.Contains(r.Reason, part) {
			t.Errorf("%s: %s %q, want it to say %q", id, r.Status, r.Reason, part)
		}
	}
	return rep
}

// targetSkips are the skips every socket-only external target gets here:
// no port file, a Windows-only and a builtin-only scenario; no pid or lock
// file template (neither daemon writes one: path.pidfile-link); a socket
// file, not an abstract name (auth.abstract-mount-ns).
var targetSkips = []string{"tcp.loopback-only", "tcp.auth-required", "tcp.portfile-private", "tcp.portfile-dacl", "tcp.squatter-learns-nothing", "tcp.cross-protocol",
	"path.pidfile-link", "auth.abstract-mount-ns"}

// ssh-agent (OpenSSH ssh-agent.c): with -a it binds where told, under
// umask 0177, without making or checking the directory; it accepts, then
// closes a peer whose uid (getpeereid: SO_PEERCRED's, fixed at connect)
// is neither its own nor root; it
// never unlinks a stale socket (unix_listener, unlink_first 0), so a
// restart after SIGKILL fails with "Address already in use"; SIGTERM runs
// cleanup_handler: the socket is unlinked and it exits 2. It listens, then
// forks (unless -D), so SO_PEERCRED names the parent. Its directory is
// the suite's (--dir-created-by suite, 0700): dir.squat-dos's squat of the
// socket path is refused by the kernel, and it serves (as it does without
// -a, in a mkdtemp directory no other uid can predict).
func TestRealSSHAgent(t *testing.T) {
	needProgram(t, "ssh-agent", "openssh-client")
	t.Parallel()
	fails := []string{
		"dir.symlink", "dir.foreign-owner", "dir.loose-perms", // binds in whatever directory it finds
		"inst.stale-recovered", // a stale socket blocks the restart
		"inst.clean-shutdown",  // exit 2 on SIGTERM
	}
	skips := append([]string{"path.name-validation", "proto.idle-connections"}, targetSkips...)
	reasons := map[string]string{
		"inst.clean-shutdown":  "exit code 2 after SIGTERM",
		"inst.stale-recovered": "Address already in use",
		"sock.mode-umask0":     "socket 0600",
		"path.name-validation": "contains {name}",
	}
	if os.Geteuid() == 0 {
		reasons["auth.peercred"] = "closed by the daemon"
		// getpeereid, not the peer's address: a bound client is closed too.
		reasons["auth.bound-address"] = "got no reply from"
		// getpeereid is SO_PEERCRED: the uid at connect(), not what
		// /proc/<pid> says once the connecting process exec'd su.
		if !slices.Contains(hostLacks(), "auth.pid-handoff") {
			reasons["auth.pid-handoff"] = "closed by the daemon"
		}
		reasons["dir.squat-dos"] = "permission denied"
	}
	for _, c := range []struct {
		name string
		cmd  []string
	}{
		{"foreground", []string{"ssh-agent", "-D", "-a", "{root}/agent.sock"}},
		{"forks", []string{"ssh-agent", "-a", "{root}/agent.sock"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := Target{Cmd: c.cmd, Socket: "{root}/agent.sock", Protocol: ProtocolConnect, DirCreatedBy: "suite", Forks: c.name == "forks"}
			expectVerdicts(t, target, fails, skips, reasons)
			if left := procsWith("ssh-agent", stage.RunDirPrefix); len(left) > 0 {
				t.Errorf("ssh-agent processes outlived the run: %v", left)
			}
		})
	}
}

// socat UNIX-LISTEN:PATH,fork,mode=600 EXEC:cat (an echo service): the
// socket is made 0600 and serves in whatever directory is there; there is
// no peer check, so once the socket is loosened another uid is answered;
// it refuses to bind over an existing socket ("exists"); on SIGTERM it
// exits 128+15 ("exiting on signal 15"). In the suite's 0700 directory
// (--dir-created-by suite) dir.squat-dos's squat is refused by the kernel
// and it serves.
func TestRealSocat(t *testing.T) {
	needProgram(t, "socat", "socat")
	t.Parallel()
	target := Target{Cmd: []string{"socat", "UNIX-LISTEN:{root}/echo.sock,fork,mode=600", "EXEC:cat"}, Socket: "{root}/echo.sock",
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`, DirCreatedBy: "suite"}
	fails := []string{
		"dir.symlink", "dir.foreign-owner", "dir.loose-perms",
		"auth.peercred",        // no peer credentials check
		"auth.bound-address",   // the same, from a bound address
		"auth.pid-handoff",     // the same, over a handed-over connection
		"inst.stale-recovered", // refuses to bind over the stale socket
		"inst.clean-shutdown",  // exit 143 on SIGTERM
	}
	skips := append([]string{"path.name-validation"}, targetSkips...)
	reasons := map[string]string{
		"inst.clean-shutdown":  "exit code 143",
		"inst.stale-recovered": "exists",
		"load.concurrent":      "0 errors",
	}
	if os.Geteuid() == 0 {
		reasons["dir.squat-dos"] = "permission denied"
		if !slices.Contains(hostLacks(), "auth.pid-handoff") {
			// Not read as authorization by pid: its own connection is
			// answered too.
			reasons["auth.pid-handoff"] = "the daemon has no peer check at all"
		}
	}
	expectVerdicts(t, target, fails, skips, reasons)
	if left := procsWith("socat", stage.RunDirPrefix); len(left) > 0 {
		t.Errorf("socat processes outlived the run: %v", left)
	}
}

// socat TCP4-LISTEN:PORT,bind=127.0.0.1,fork EXEC:cat (the same echo
// service on the loopback; socat writes no port file, so a shell writes
// one naming the port first, in the root it makes): cat copies back every byte it is sent, so
// the "PING" line in the body of a browser's POST comes back after the
// echoed headers, as the body's commands did from Redis before 3.2.7:
// tcp.cross-protocol fails.
func TestRealSocatTCP(t *testing.T) {
	needProgram(t, "socat", "socat")
	port := freeLoopbackPort(t)
	script := `umask 077 && mkdir -p "$2" && printf '{"port":%s}' "$1" >"$2/socat.port" && exec socat TCP4-LISTEN:"$1",bind=127.0.0.1,reuseaddr,fork EXEC:cat`
	target := Target{Cmd: []string{"sh", "-c", script, "sh", port, "{root}"}, PortFile: "{root}/socat.port",
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`}
	rep := runSuite(t, target, "tcp.cross-protocol")
	checkFails(t, rep, []string{"tcp.cross-protocol"})
	if r := rep.Results[0]; !strings.Contains(r.Reason, "a cross-origin POST (Origin: http://attacker.example) was answered") {
		t.Errorf("tcp.cross-protocol: %q, want the cross-origin POST answered", r.Reason)
	}
	if left := procsWith("socat", "TCP4-LISTEN:"+port); len(left) > 0 {
		t.Errorf("socat processes outlived the run: %v", left)
	}
}

// socat ABSTRACT-LISTEN:NAME,fork EXEC:cat (the same echo service on a
// Linux abstract name, xio-socket's listen on an address whose sun_path
// starts with a NUL): there is no peer check, and an abstract name has no
// mode or directory to stand in for one, so another uid is answered at
// once (auth.foreign-uid-connect, required), as is the daemon's uid from
// another mount namespace, the containerd-shim case; a second socat's
// bind fails (EADDRINUSE: the first keeps the name), and after SIGKILL
// the name is free again, so both instance scenarios pass, but a name
// another uid bound first keeps it from starting the same way
// (dir.squat-dos fails); SIGTERM exits 143 as before. The scenarios that
// judge the socket's file are not applicable.
func TestRealSocatAbstract(t *testing.T) {
	needProgram(t, "socat", "socat")
	target := Target{Cmd: []string{"socat", "ABSTRACT-LISTEN:{root}/echo,fork", "EXEC:cat"}, Socket: "@{root}/echo",
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`}
	fails := []string{
		"auth.foreign-uid-connect", // no peer check, and nothing else in the way
		"auth.peercred",            // the same: an abstract name cannot be loosened further
		"auth.bound-address",       // the same, from a bound address
		"auth.pid-handoff",         // the same, over a handed-over connection
		"auth.abstract-mount-ns",   // the daemon's uid from another mount namespace
		"dir.squat-dos",            // another uid binds the name first: "Address already in use"
		"inst.clean-shutdown",      // exit 143 on SIGTERM
	}
	var notApplicable []string
	for _, s := range Catalogue() {
		if s.Transport == "unix" && s.Abstract == AbstractDefault && slices.Contains(s.Platforms, "linux") {
			notApplicable = append(notApplicable, s.ID)
		}
	}
	skips := append(append([]string{"path.name-validation"}, notApplicable...), slices.DeleteFunc(slices.Clone(targetSkips), func(id string) bool { return id == "auth.abstract-mount-ns" })...)
	reasons := map[string]string{
		"inst.clean-shutdown":    "exit code 143",
		"inst.stale-recovered":   "serves after SIGKILL",
		"inst.live-not-hijacked": "second refused",
	}
	if os.Geteuid() == 0 {
		reasons["dir.squat-dos"] = "Address already in use"
		if !slices.Contains(hostLacks(), "auth.pid-handoff") {
			reasons["auth.pid-handoff"] = "the daemon has no peer check at all"
		}
	}
	rep := expectVerdicts(t, target, fails, skips, reasons)
	for _, id := range notApplicable {
		if r, _ := find(rep, id); !strings.Contains(r.NotApplicable, "abstract name") {
			t.Errorf("%s: %s %q, want not applicable to an abstract name", id, r.Status, r.NotApplicable)
		}
	}
	if left := procsWith("socat", stage.RunDirPrefix); len(left) > 0 {
		t.Errorf("socat processes outlived the run: %v", left)
	}
}

// dbus-daemon --session on an abstract name (dbus's
// _dbus_listen_unix_socket with abstract=TRUE; dbus-sysdeps-unix.c): the
// SASL handshake's AUTH EXTERNAL is checked against the peer's
// SO_PEERCRED uid, fixed at connect, and the session policy lets in only
// the daemon's own uid, so another uid claiming the daemon's gets
// "REJECTED EXTERNAL" (auth.foreign-uid-connect and auth.pid-handoff
// pass: a refusal, not an answer), while the daemon's
// own uid from another mount namespace is accepted ("OK <guid>":
// auth.abstract-mount-ns fails); its bind of a name another uid holds
// fails with "Address already in use" (dir.squat-dos fails). The probe
// claims uid 0 (hex "30"), the suite's and the daemon's: run as root.
func TestRealDBusAbstract(t *testing.T) {
	t.Parallel()
	needProgram(t, "dbus-daemon", "dbus-daemon")
	if os.Geteuid() != 0 {
		t.Skip("the probe claims uid 0 and the verdicts are other uids'; run as root: sudo go test -run TestRealDBusAbstract ./matrix/")
	}
	target := Target{Cmd: []string{"dbus-daemon", "--nofork", "--session", "--address=unix:abstract={root}/bus"}, Socket: "@{root}/bus",
		Protocol: ProtocolLine, Send: `\x00AUTH EXTERNAL 30\r\n`, Expect: `^OK `}
	rep := runSuite(t, target, "auth.foreign-uid-connect,auth.pid-handoff,auth.abstract-mount-ns,dir.squat-dos")
	fails := []string{"auth.abstract-mount-ns", "dir.squat-dos"}
	checkFails(t, rep, fails)
	for id, part := range map[string]string{
		"auth.foreign-uid-connect": `got a refusal, not an answer: the daemon sent "REJECTED EXTERNAL\r\n"`,
		"auth.pid-handoff":         `got a refusal, not an answer: the daemon sent "REJECTED EXTERNAL\r\n"`,
		"auth.abstract-mount-ns":   "from another mount namespace talked to the daemon",
		"dir.squat-dos":            "Address already in use",
	} {
		r, _ := find(rep, id)
		if id == "auth.pid-handoff" && slices.Contains(hostLacks(), id) {
			continue
		}
		if wantFail := slices.Contains(fails, id); (r.Status == Fail) != wantFail || r.Status != Fail && r.Status != Pass || !strings.Contains(r.Reason, part) {
			t.Errorf("%s: %s %q, want it to say %q", id, r.Status, r.Reason, part)
		}
	}
	if left := procsWith("dbus-daemon", stage.RunDirPrefix); len(left) > 0 {
		t.Errorf("dbus-daemon processes outlived the run: %v", left)
	}
}

// socat on an abstract name built from {name} (cli.md's template) accepts
// the traversal names, which lead nowhere: an abstract name is no path,
// and nothing appears on the filesystem outside the root
// (path.name-validation passes and says why). The same daemon with a pid
// file made from the name writes it outside the root, and fails.
func TestNameValidationAbstract(t *testing.T) {
	needProgram(t, "socat", "socat")
	socat := `exec socat ABSTRACT-LISTEN:"$1/bu-$2.sock",fork EXEC:cat`
	for _, c := range []struct {
		name   string
		script string
		status Status
		says   string
	}{
		{"the name in the abstract name only", socat, Pass, "its socket is an abstract name, which no name leads out of the root"},
		{"a pid file made from the name", `echo $$ >"$1/$2.pid" && ` + socat, Fail, "created outside the root"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			target := Target{Cmd: []string{"sh", "-c", c.script, "sh", "{root}", "{name}"}, Socket: "@{root}/bu-{name}.sock",
				Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`}
			rep := runSuite(t, target, "path.name-validation")
			r, _ := find(rep, "path.name-validation")
			if r.Status != c.status || !strings.Contains(r.Reason, c.says) {
				t.Errorf("path.name-validation: %s %q\n  %s\nwant %s saying %q", r.Status, r.Reason, strings.Join(r.Evidence, "\n  "), c.status, c.says)
			}
		})
	}
}
