package matrix

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
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
// file template (neither daemon writes one: path.pidfile-link).
var targetSkips = []string{"tcp.loopback-only", "tcp.auth-required", "tcp.portfile-private", "tcp.portfile-dacl", "tcp.squatter-learns-nothing",
	"path.pidfile-link"}

// ssh-agent (OpenSSH ssh-agent.c): with -a it binds where told, under
// umask 0177, without making or checking the directory; it accepts, then
// closes a peer whose uid (getpeereid) is neither its own nor root; it
// never unlinks a stale socket (unix_listener, unlink_first 0), so a
// restart after SIGKILL fails with "Address already in use"; SIGTERM runs
// cleanup_handler: the socket is unlinked and it exits 2. It listens, then
// forks (unless -D), so SO_PEERCRED names the parent.
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
			if left := procsWith("ssh-agent", runDirPrefix); len(left) > 0 {
				t.Errorf("ssh-agent processes outlived the run: %v", left)
			}
		})
	}
}

// socat UNIX-LISTEN:PATH,fork,mode=600 EXEC:cat (an echo service): the
// socket is made 0600 and serves in whatever directory is there; there is
// no peer check, so once the socket is loosened another uid is answered;
// it refuses to bind over an existing socket ("exists"); on SIGTERM it
// exits 128+15 ("exiting on signal 15").
func TestRealSocat(t *testing.T) {
	needProgram(t, "socat", "socat")
	t.Parallel()
	target := Target{Cmd: []string{"socat", "UNIX-LISTEN:{root}/echo.sock,fork,mode=600", "EXEC:cat"}, Socket: "{root}/echo.sock",
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`, DirCreatedBy: "suite"}
	fails := []string{
		"dir.symlink", "dir.foreign-owner", "dir.loose-perms",
		"auth.peercred",        // no peer credentials check
		"auth.bound-address",   // the same, from a bound address
		"inst.stale-recovered", // refuses to bind over the stale socket
		"inst.clean-shutdown",  // exit 143 on SIGTERM
	}
	skips := append([]string{"path.name-validation"}, targetSkips...)
	expectVerdicts(t, target, fails, skips, map[string]string{
		"inst.clean-shutdown":  "exit code 143",
		"inst.stale-recovered": "exists",
		"load.concurrent":      "0 errors",
	})
	if left := procsWith("socat", runDirPrefix); len(left) > 0 {
		t.Errorf("socat processes outlived the run: %v", left)
	}
}
