package matrix

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/scenario"
)

func init() {
	// auth.pid-handoff skips on a host with no setuid-root program to
	// exec (a minimal container): the tests that expect its verdict then
	// expect that skip.
	hostLacks = func() []string {
		if found, _ := scenario.FindSetuidBlockers(); len(found) == 0 {
			return []string{"auth.pid-handoff"}
		}
		return nil
	}
}

// needSetuidBlocker skips unless auth.pid-handoff can make its attack
// here: as root, with a setuid-root program to exec.
func needSetuidBlocker(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("auth.pid-handoff acts as another uid; run as root: sudo go test ./matrix/ (CI runs as root)")
	}
	if found, passed := scenario.FindSetuidBlockers(); len(found) == 0 {
		t.Skipf("no setuid-root program to exec here (%v); install util-linux's su or passwd (apt-get install util-linux passwd)", passed)
	}
	needBins(t)
}

// connectorPID is the connecting process the scenario's evidence names.
var connectorPID = regexp.MustCompile(`made by pid (\d+)`)

// checkConnectorGone fails t when the connecting process (the setuid
// program it became) outlived the scenario.
func checkConnectorGone(t *testing.T, r Result) {
	t.Helper()
	m := connectorPID.FindStringSubmatch(strings.Join(r.Evidence, "\n"))
	if m == nil {
		t.Errorf("%s: the evidence names no connecting pid: %v", r.ID, r.Evidence)
		return
	}
	pid, _ := strconv.Atoi(m[1])
	if pi, ok := proc.ReadProc(pid); ok && !pi.Zombie {
		if b, err := os.ReadFile("/proc/" + m[1] + "/status"); err == nil && strings.Contains(string(b), "Uid:\t"+strconv.Itoa(DefaultAttackerUID)+"\t") {
			t.Errorf("the connecting process %d (%s) outlived the scenario", pid, pi.Comm)
		}
	}
}

// A daemon that reads the uid from /proc/<pid> at the first request
// serves a connection whose connecting process exec'd a setuid-root
// program (and fails nothing else of the peer checks: the uid it reads is
// the attacker's otherwise); the ipc package, which keeps SO_PEERCRED's
// uid from connect(), refuses it. Under bh-json and under --protocol line
// (the request judged by --expect), and on an abstract name, which any
// uid reaches (the connector connects to the name itself): the same flaw
// there fails, the correct check passes. The failure says which flaw it
// is: a daemon that refuses the attacker's own connection authorizes by
// pid; one that answers it has no peer check at all.
func TestPidHandoff(t *testing.T) {
	needSetuidBlocker(t)
	line := brokenTarget("pidauth")
	line.Protocol, line.Send, line.Expect, line.PortFile = ProtocolLine, `{"meta":"ping"}\n`, `pong`, ""
	byPID := "the daemon authorizes by the connecting pid"
	for _, c := range []struct {
		name     string
		target   Target
		want     Status
		patterns string
		says     string
	}{
		{"pidauth", brokenTarget("pidauth"), Fail, "auth.*", byPID},
		{"pidauth line", line, Fail, "auth.pid-handoff,auth.peercred", byPID},
		{"builtin", BuiltinTarget(), Pass, "auth.pid-handoff", "the daemon judged the uid that connected"},
		{"abstract name, pidauth", abstractTarget("abstractpid"), Fail, "auth.*", byPID},
		{"abstract name, correct", abstractTarget("abstractns"), Pass, "auth.pid-handoff", "the daemon judged the uid that connected"},
		{"abstract name, no peer check", abstractTarget("abstractopen"), Fail, "auth.pid-handoff", "the daemon has no peer check at all"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := runSuite(t, c.target, c.patterns)
			if c.want == Fail && c.patterns == "auth.*" {
				checkFails(t, rep, []string{"auth.pid-handoff"})
			}
			r, _ := find(rep, "auth.pid-handoff")
			if r.Status != c.want || !strings.Contains(r.Reason, "made by pid") && !strings.Contains(r.Reason, "as root") || !strings.Contains(r.Reason, c.says) {
				logReport(t, rep)
				t.Fatalf("auth.pid-handoff: %s %q; want %s naming the connecting process and saying %q", r.Status, r.Reason, c.want, c.says)
			}
			checkConnectorGone(t, r)
		})
	}
}

// The setuid programs are found by their mode and owner, never made: a
// program of the same name that is not setuid root is passed over, and
// says why.
func TestFindSetuidBlockers(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "su"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	orig := scenario.SetuidDirs
	defer func() { scenario.SetuidDirs = orig }()
	scenario.SetuidDirs = []string{dir}
	found, passed := scenario.FindSetuidBlockers()
	if len(found) != 0 || len(passed) != 1 || !strings.Contains(passed[0], "not setuid root") {
		t.Errorf("found %v, passed over %v; want nothing found and %s/su passed over as not setuid root", found, passed, dir)
	}
	// The skip names what was looked for, where, and why each was passed
	// over ("none is installed" in a container built FROM scratch).
	for _, c := range []struct {
		passed []string
		want   string
	}{{passed, "not setuid root"}, {nil, "none is installed"}} {
		if got := scenario.NoSetuidBlocker(1001, c.passed); !strings.Contains(got, "su, passwd") || !strings.Contains(got, dir) || !strings.Contains(got, c.want) {
			t.Errorf("skip %q: want it to name su, passwd, %s and %q", got, dir, c.want)
		}
	}
}
