package matrix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/scenario"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// withProtocol is target speaking one of the protocols that do not use
// bh-json: connect; line, sending a bh-json ping and expecting a pong;
// exec, with brokend's own client as the probe.
func withProtocol(t Target, p Protocol) Target {
	t.Protocol = p
	switch p {
	case ProtocolLine:
		t.Send, t.Expect = `{"meta":"ping"}\n`, `"pong":true`
	case ProtocolExec:
		t.Probe = bins.brokend + " -probe {socket}"
	}
	return t
}

var otherProtocols = []Protocol{ProtocolConnect, ProtocolLine, ProtocolExec}

// Each new way a scenario judges a daemon through connect, line or exec
// is seen to fail: plain (no peer check) lets another uid talk to it under
// every protocol; crash dies on a line that is not JSON (proto.malformed
// judges only that the daemon keeps answering its probe); acceptfew stops
// serving after 1000 connections (load.concurrent as concurrent probes,
// a connection each; exec's 32 probes stay under that); on an abstract
// name, abstractopen and abstractuid let in other uids and other mount
// namespaces, and abstractns, correct, passes.
func TestProtocolsBrokenDaemonsFailExactly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("the failure sets include other-uid scenarios; run as root: sudo go test ./matrix/ (CI runs as root)")
	}
	needBins(t)
	t.Parallel()
	plain := []string{"sock.mode-umask0", "sock.first-seen-mode", "dir.symlink", "dir.foreign-owner", "dir.loose-perms",
		"auth.foreign-uid-connect", "auth.peercred", "auth.bound-address", "auth.pid-handoff", "inst.stale-recovered", "inst.clean-shutdown", "path.name-validation"}
	for _, p := range otherProtocols {
		for _, c := range []struct {
			flaw, scenarios string
			want            []string
		}{
			{"plain", "sock.*,dir.*,auth.*,inst.*,path.*", plain},
			{"crash", "proto.*,load.*", []string{"proto.malformed"}},
			{"acceptfew", "proto.*,load.*", map[Protocol][]string{ProtocolConnect: {"load.concurrent"}, ProtocolLine: {"load.concurrent"}}[p]},
			// On an abstract name: no peer check (auth.bound-address and
			// auth.pid-handoff skip under exec: the probe makes its own
			// connection), the uid alone (any mount namespace), and both
			// checked.
			{"abstractopen", "auth.*", slices.DeleteFunc([]string{"auth.foreign-uid-connect", "auth.peercred", "auth.bound-address", "auth.pid-handoff", "auth.abstract-mount-ns"},
				func(id string) bool {
					return p == ProtocolExec && (id == "auth.bound-address" || id == "auth.pid-handoff")
				})},
			{"abstractuid", "auth.*", []string{"auth.abstract-mount-ns"}},
			{"abstractns", "auth.*", nil},
		} {
			t.Run(string(p)+"/"+c.flaw, func(t *testing.T) {
				t.Parallel()
				target := brokenTarget(c.flaw)
				target.PortFile = "" // brokend's tcp side wants a token in every request
				if p == ProtocolExec && c.flaw == "plain" {
					// plain makes its socket's directory 0777: any uid could
					// swap the socket under the probe, which the suite runs
					// as root, so it does not run it (authenticateExecProbe).
					sc, _ := Select(c.scenarios)
					_, err := Run(context.Background(), Config{Exe: bins.cli, Target: withProtocol(target, p), Scenarios: sc, DaemonUID: -1, AttackerUID: -1, ReadyTimeout: 2 * time.Second})
					if err == nil || !strings.Contains(err.Error(), "exec probe not run") || !strings.Contains(err.Error(), "writable by group or others") {
						t.Errorf("exec probe through plain's 0777 directory: %v; want the preflight to refuse to run it", err)
					}
					return
				}
				rep := runSuite(t, withProtocol(target, p), c.scenarios)
				checkFails(t, rep, c.want)
				if rep.Target.Protocol != string(p) {
					t.Errorf("the report records protocol %q, want %q", rep.Target.Protocol, p)
				}
			})
		}
	}
}

// An exec probe that fails for the attacker's uid on its own (it gives up
// before connecting, as psql does for a uid with no passwd entry) earns no
// pass: against a daemon that talks to everyone (plain) the auth scenarios
// reach no verdict and say why; against one that closes other uids'
// connections at once (none), the failed probe is a refusal and they pass.
func TestExecProbeFailingOnItsOwn(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("the auth scenarios act as another uid; run as root: sudo go test ./matrix/ (CI runs as root)")
	}
	needBins(t)
	probe := fmt.Sprintf("%s -probe {socket} -probe-as %d", bins.brokend, os.Geteuid())
	type want struct {
		status Status
		why    string
	}
	for _, c := range []struct {
		flaw string
		want map[string]want
	}{
		// A private directory but no peer check: the other uid cannot reach
		// the socket until auth.peercred loosens it; then the daemon keeps
		// that uid's connection, so the probe's own failure proves nothing.
		// (A daemon whose own directory is 0777, -flaw plain, is not probed
		// at all: the suite runs no exec probe through such a directory.)
		{"unlink", map[string]want{"auth.foreign-uid-connect": {Pass, "probe failed"}, "auth.peercred": {Error, "kept it open"}}},
		{"none", map[string]want{"auth.foreign-uid-connect": {Pass, "probe failed"}, "auth.peercred": {Pass, "probe failed"}}},
	} {
		t.Run(c.flaw, func(t *testing.T) {
			t.Parallel()
			target := brokenTarget(c.flaw)
			if c.flaw == "none" {
				target = Target{Cmd: []string{bins.brokend, "-flaw", "none", "-root", "{root}", "-name", "{name}"}, Socket: "{root}/bu.sock"}
			}
			target.PortFile, target.Protocol, target.Probe = "", ProtocolExec, probe
			rep := runSuite(t, target, "auth.*")
			for id, w := range c.want {
				r, _ := find(rep, id)
				if r.Status != w.status || !strings.Contains(r.Reason, w.why) {
					logReport(t, rep)
					t.Errorf("%s: %s %q, want %s saying %q", id, r.Status, r.Reason, w.status, w.why)
				}
			}
		})
	}
}

// A correct daemon passes under every protocol; what a protocol cannot
// judge skips and says why.
func TestProtocolsCorrectDaemonPasses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	t.Parallel()
	good := Target{Cmd: []string{bins.brokend, "-flaw", "none", "-root", "{root}", "-name", "{name}"}, Socket: "{root}/bu.sock", LockFile: "{root}/lock"}
	for _, p := range otherProtocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			rep := runSuite(t, withProtocol(good, p), "")
			wantFails := checkSharedTemplateSquatted(t, rep) // its root is made in a shared directory
			if fails := byStatus(rep, Fail); !slices.Equal(fails, wantFails) {
				logReport(t, rep)
				t.Fatalf("a correct daemon failed %v under --protocol %s, want %v", fails, p, wantFails)
			}
			want := applicable(false, false)
			if os.Geteuid() != 0 {
				want = slices.DeleteFunc(want, func(id string) bool { return slices.Contains(otherUIDScenarios(), id) })
			}
			want = slices.DeleteFunc(want, func(id string) bool { return slices.Contains(wantFails, id) })
			skips := map[string]string{}
			if p == ProtocolConnect {
				skips["proto.idle-connections"] = "give --protocol line or --protocol exec"
			}
			if p == ProtocolExec && os.Geteuid() == 0 {
				skips["auth.bound-address"] = "makes its own connection"
				skips["auth.pid-handoff"] = "makes its own connection"
			}
			for id, why := range skips {
				want = slices.DeleteFunc(want, func(x string) bool { return x == id })
				r, _ := find(rep, id)
				if r.Status != Skip || !strings.Contains(r.Reason, why) {
					t.Errorf("%s under --protocol %s: %s %q, want a skip saying %q", id, p, r.Status, r.Reason, why)
				}
			}
			if got := byStatus(rep, Pass); !slices.Equal(got, want) {
				logReport(t, rep)
				t.Errorf("passed %v\nwant   %v", got, want)
			}
		})
	}
}

// path.name-validation has nothing to validate when no template passes
// the name; other scenarios and named targets are not skipped for it.
func TestNameValidationSkipsWithoutName(t *testing.T) {
	s, _ := byID("path.name-validation")
	for _, c := range []struct {
		t    Target
		skip bool
	}{
		{Target{Cmd: []string{"ssh-agent", "-D", "-a", "{root}/agent.sock"}, Socket: "{root}/agent.sock", Protocol: ProtocolConnect}, true},
		{Target{Cmd: []string{"d", "--root", "{root}"}, Socket: "{root}/{name}.sock", Protocol: ProtocolConnect}, false},
		{Target{Cmd: []string{"d"}, Env: []string{"D_NAME={name}"}, Socket: "{root}/s", Protocol: ProtocolConnect}, false},
		{BuiltinTarget(), false},
	} {
		r := &Runner{Config: Config{Target: c.t}}
		why := r.TargetSkip(s)
		if (why != "") != c.skip || c.skip && !strings.Contains(why, "contains {name}") {
			t.Errorf("%v: targetSkip = %q, want skip=%v", c.t.Cmd, why, c.skip)
		}
		if other, _ := byID("dir.symlink"); r.TargetSkip(other) != "" {
			t.Errorf("%v: dir.symlink skipped: %q", c.t.Cmd, r.TargetSkip(other))
		}
	}
}

// A target without a tcp transport: every tcp scenario is skipped as not
// applicable, for one cause the reports fold into a line, whatever its own
// reason (tcp.portfile-dacl runs on Windows only); other skips are not.
func TestTransportSkipsNotApplicable(t *testing.T) {
	r := &Runner{Config: Config{Target: Target{Cmd: []string{"ssh-agent", "-D", "-a", "{root}/agent.sock"}, Socket: "{root}/agent.sock", Protocol: ProtocolConnect}}}
	const cause = "the target has no tcp transport; give --port-file TEMPLATE to run it"
	for _, s := range Catalogue() {
		if s.ID != "path.name-validation" && s.Transport != ipc.TransportTCP {
			continue // it would start the daemon
		}
		res := r.RunOne(t.Context(), s, 0)
		switch {
		case s.Transport == ipc.TransportTCP:
			if res.Status != Skip || res.NotApplicable != cause || res.Reason == "" {
				t.Errorf("%s: %s %q, not applicable %q; want a skip with its reason, not applicable: %q", s.ID, res.Status, res.Reason, res.NotApplicable, cause)
			}
			// The progress line shows the reason, the summary the cause:
			// for the transport they are the same words.
			if strings.HasPrefix(res.Reason, "the target has no") && res.Reason != cause {
				t.Errorf("%s: skipped %q, but its cause in the summary reads %q", s.ID, res.Reason, cause)
			}
		case s.ID == "path.name-validation" && runtime.GOOS != "windows": // there the target has no transport at all
			if res.Status != Skip || res.NotApplicable != "" {
				t.Errorf("%s: %s %q, not applicable %q; want an ordinary skip", s.ID, res.Status, res.Reason, res.NotApplicable)
			}
		}
	}
}

// A daemon that binds where it is told and makes no directory (as
// ssh-agent -a does): without --dir-created-by suite the preflight fails
// and suggests the flag; with it, the suite makes the directory before
// each start, except where a scenario planted something there, and the
// plant is what the daemon finds. No template holds {name}, so
// path.name-validation skips.
func TestDirCreatedBySuite(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	t.Parallel()
	target := Target{Cmd: []string{bins.brokend, "-socket", "{root}/agent.d/sock"}, Socket: "{root}/agent.d/sock", Protocol: ProtocolBHJSON}
	_, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, DaemonUID: -1, AttackerUID: -1})
	if err == nil || !strings.Contains(err.Error(), "add --dir-created-by suite") {
		t.Fatalf("without --dir-created-by suite: Run = %v, want a preflight error suggesting the flag", err)
	}
	target.DirCreatedBy = "suite"
	rep := runSuite(t, target, "")
	want := []string{"dir.loose-perms", "inst.stale-recovered"} // serves in a 0777 dir of its own; cannot bind over a stale socket
	if os.Geteuid() == 0 {
		want = append(want, "dir.symlink", "dir.foreign-owner") // binds in the attacker's directory
	}
	checkFails(t, rep, want)
	for _, id := range []string{"sock.mode-umask0", "inst.clean-shutdown", "auth.peercred"} {
		if r, _ := find(rep, id); r.Status != Pass && (id != "auth.peercred" || os.Geteuid() == 0) {
			t.Errorf("%s: %s %q, want a pass (the suite's 0700 directory, not counted as left behind)", id, r.Status, r.Reason)
		}
	}
	if r, _ := find(rep, "path.name-validation"); r.Status != Skip || !strings.Contains(r.Reason, "contains {name}") {
		t.Errorf("path.name-validation without {name}: %s %q, want a skip saying so", r.Status, r.Reason)
	}
	// The report says who made the directory: its 0700 was the suite's
	// doing, and the passes above rest on it.
	if rep.Target.DirCreatedBy != "suite" || !strings.Contains(rep.Target.Describe(), "socket directory made by the suite") {
		t.Errorf("report target %+v (%q) does not record --dir-created-by suite", rep.Target, rep.Target.Describe())
	}
	r, _ := find(rep, "sock.mode-umask0")
	if ev := strings.Join(r.Evidence, "\n"); !strings.Contains(ev, "made the socket's directory for the daemon (--dir-created-by suite)") || strings.Contains(ev, "planted: mkdir") {
		t.Errorf("sock.mode-umask0 evidence does not say the suite made the directory:\n%s", ev)
	}
}

// path.budget judges only a new entry at the truncated path: when the
// 107-byte cut lands on a directory of the nominal path ("/", "/." of a
// socket name that starts with a dot), a daemon that refuses clearly
// passes. The run of "./" in the template puts the cut there whatever the
// length of the temporary directory: the root grows in 26-byte steps.
func TestPathBudgetCutOnADirectory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	sock := "{root}/" + strings.Repeat("./", 15) + ".s.X.5432"
	target := Target{Cmd: []string{bins.brokend, "-socket", sock}, Socket: sock, Protocol: ProtocolConnect, DirCreatedBy: "suite"}
	rep := runSuite(t, target, "path.budget")
	checkFails(t, rep, nil)
	if r, _ := find(rep, "path.budget"); r.Status != Pass || !strings.Contains(r.Reason, "refused clearly") {
		t.Errorf("path.budget: %s %q, want a pass for a clear refusal", r.Status, r.Reason)
	}
}

func TestAncestorOf(t *testing.T) {
	nominal := "/t/r/long-rrrr/.s.PGSQL.5432"
	for truncated, want := range map[string]bool{
		"/t/r/long-rrrr/.":     true,
		"/t/r/long-rrrr/":      true,
		"/t/r/long-rrrr/..":    true,
		"/t/r/long-rrrr":       true,
		"/":                    true,
		"/t/r/long-rr":         false, // a name of its own, not the directory
		"/t/r/long-rrrr/.s.PG": false,
		"/t/r/long-rrrr/.s":    false,
	} {
		if got := scenario.AncestorOf(truncated, nominal); got != want {
			t.Errorf("ancestorOf(%q, %q) = %v, want %v", truncated, nominal, got, want)
		}
	}
}

// procsWith lists the running processes of this test binary whose
// command line holds every one of words (Linux /proc), zombies excluded.
// Only this process's descendants count: Run makes it a subreaper, so
// whatever a run leaves behind is reparented to it, while the same
// daemon run by another test binary on the machine (a concurrent go
// test, another checkout's CI) is not ours to report.
func procsWith(words ...string) []string {
	var out []string
	ps, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range ps {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err != nil || !descendsFromSelf(pid) {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(string(b), w)
		}
		if st, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat")); ok && !strings.Contains(string(st), ") Z ") {
			out = append(out, filepath.Dir(p)+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// descendsFromSelf reports whether pid is a descendant of this process
// (/proc/PID/stat's ppid chain).
func descendsFromSelf(pid int) bool {
	self := os.Getpid()
	for hops := 0; pid > 1 && hops < 64; hops++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			return false
		}
		if pid, err = strconv.Atoi(f[1]); err != nil {
			return false
		}
		if pid == self {
			return true
		}
	}
	return false
}

// A daemon that forks into the background (its first process exits 0 at
// once): without --forks the preflight fails and suggests the flag; with
// it, the serving process is found (its pid, or --pidfile), signals go to
// it, and no process of the run outlives the run.
func TestForks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend and the subreaper are Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	t.Parallel()
	name := fmt.Sprintf("fork%d", os.Getpid())
	target := Target{Cmd: []string{bins.brokend, "-detach", "-flaw", "none", "-root", "{root}", "-name", "{name}"}, Socket: "{root}/bu.sock", Protocol: ProtocolBHJSON}
	sc, _ := Select("sock.mode-umask0,inst.*,path.name-validation,auth.*")
	// Without --forks the preflight fails, unless, on a loaded machine (the
	// other parallel tests), the detached process answered while its parent
	// still ran: then the preflight says it was ready (as in
	// TestForksClearedEnvironment).
	var progress bytes.Buffer
	_, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, DaemonUID: -1, AttackerUID: -1, Name: name, ReadyTimeout: 2 * time.Second, Progress: &progress})
	switch {
	case err != nil && !strings.Contains(err.Error(), "add --forks"):
		t.Errorf("without --forks: Run = %v, want a preflight error suggesting --forks", err)
	case err == nil && !strings.Contains(progress.String(), "preflight: ready"):
		t.Errorf("without --forks: Run = nil and no preflight said the target was ready; want a preflight error suggesting --forks\n%s", progress.String())
	}
	for _, c := range []struct {
		name    string
		pidFile string
		proto   Protocol
	}{
		{"own pid", "", ProtocolBHJSON},
		{"peer credentials", "", ProtocolConnect},
		{"pid file", "{root}/d.pid", ProtocolConnect},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := withProtocol(target, c.proto)
			tg.Forks, tg.PidFile = true, c.pidFile
			if c.pidFile != "" {
				tg.Cmd = append(tg.Cmd, "-pidfile", c.pidFile)
			}
			rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Name: name})
			if err != nil {
				t.Fatal(err)
			}
			checkFails(t, rep, nil)
			if r, _ := find(rep, "inst.clean-shutdown"); r.Status != Pass || !strings.Contains(r.Reason, "exit 0") {
				t.Errorf("inst.clean-shutdown: %s %q, want SIGTERM delivered to the forked daemon and its exit 0 seen", r.Status, r.Reason)
			}
			if left := procsWith(bins.brokend, "\x00-name\x00"+name+"\x00"); len(left) > 0 {
				t.Errorf("processes of the run outlived it: %v", left)
			}
		})
	}
	// An exit 0 says nothing of a daemon that forks: one whose detached
	// child accepts traversal names (plain checks none) fails
	// path.name-validation, and its children are stopped all the same.
	t.Run("accepts traversal names", func(t *testing.T) {
		tg := target
		tg.Cmd = []string{bins.brokend, "-detach", "-flaw", "plain", "-root", "{root}", "-name", "{name}"}
		tg.Socket, tg.Forks = DefaultSocketTemplate, true
		sc, _ := Select("path.name-validation")
		rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		checkFails(t, rep, []string{"path.name-validation"})
		if r := rep.Results[0]; !strings.Contains(r.Reason, `accepted traversal names "../bh-escape-1"`) {
			t.Errorf("path.name-validation: %q, want the names the detached daemon kept serving", r.Reason)
		}
		// This run's name: other tests run brokend -flaw plain at the same time.
		if left := procsWith(bins.brokend, "-flaw\x00plain\x00", "\x00-name\x00"+name+"\x00"); len(left) > 0 {
			t.Errorf("processes of the run outlived it: %v", left)
		}
	})
}

// A daemon that listens, then forks and lets its first process exit (as
// ssh-agent does): SO_PEERCRED names a process that is gone, so the
// serving one is found through --pidfile, or else as the process of the
// start that listens on the socket.
func TestForksHandOff(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend and /proc are Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	t.Parallel()
	sc, _ := Select("sock.mode-umask0,inst.live-not-hijacked,inst.clean-shutdown")
	for _, c := range []struct{ name, pidFile, how, delay string }{
		{"pid file", "{root}/h.pid", "(pid file ", "0"},
		{"listening socket", "", "(it listens on ", "0"},
		// The parent that listened still lives when the suite finds the
		// daemon ready: it must not be taken for the server.
		{"listening socket, parent lingers", "", "(it listens on ", "200ms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := Target{Cmd: []string{bins.brokend, "-handoff", "-handoff-delay", c.delay, "-socket", "{root}/h.d/sock"}, Socket: "{root}/h.d/sock",
				Protocol: ProtocolConnect, DirCreatedBy: "suite", Forks: true, PidFile: c.pidFile}
			if c.pidFile != "" {
				tg.Cmd = append(tg.Cmd, "-pidfile", c.pidFile)
			}
			rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1})
			if err != nil {
				t.Fatal(err)
			}
			checkFails(t, rep, nil)
			for _, r := range rep.Results {
				if r.Status != Pass || !slices.ContainsFunc(r.Evidence, func(ev string) bool { return strings.Contains(ev, c.how) }) {
					t.Errorf("%s: %s %q; want a pass with the serving process found %s...): %v", r.ID, r.Status, r.Reason, c.how, r.Evidence)
				}
			}
			if left := procsWith(bins.brokend, "-handoff"); len(left) > 0 {
				t.Errorf("processes of the run outlived it: %v", left)
			}
		})
	}
}

// A pre-forking daemon (brokend -prefork: a master and workers accepting
// on the listener it passed them) is killed whole by inst.stale-recovered,
// and the new start is judged by its own processes: with -recover (a stale
// socket is removed, one that answers refuses the start) it passes; without
// it, its bind fails over the stale socket and it fails. Killing only the
// master leaves the workers answering: the recovering start then refuses
// ("another instance already listens") and fails too.
func TestPreforkStaleRecovered(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend and /proc are Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	t.Parallel()
	sc, _ := Select("inst.live-not-hijacked,inst.stale-recovered,inst.clean-shutdown")
	for _, c := range []struct {
		name   string
		flags  []string
		fails  []string
		reason string
	}{
		{"recovers", []string{"-recover"}, nil, "the new start (pid "},
		{"does not recover", nil, []string{"inst.stale-recovered"}, "address already in use"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := Target{Cmd: append([]string{bins.brokend, "-prefork", "3", "-socket", "{root}/p.d/sock"}, c.flags...), Socket: "{root}/p.d/sock",
				Protocol: ProtocolConnect, DirCreatedBy: "suite", Forks: true}
			rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1})
			if err != nil {
				t.Fatal(err)
			}
			checkFails(t, rep, c.fails)
			for _, r := range rep.Results {
				if r.ID == "inst.stale-recovered" && !strings.Contains(r.Reason+strings.Join(r.Evidence, "\n"), c.reason) {
					t.Errorf("%s: %s %q, want %q in it: %v", r.ID, r.Status, r.Reason, c.reason, r.Evidence)
				}
			}
			if left := procsWith(bins.brokend, "-prefork"); len(left) > 0 {
				t.Errorf("processes of the run outlived it: %v", left)
			}
		})
	}
}

// The serving pid a daemon names (its answer, its pid file, which other
// uids may be able to replace) is believed only for a process of that
// start: the suite must not signal an unrelated process on its word.
func TestOfStartRefusesForeignPID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("processes are attributed through /proc; this is %s", runtime.GOOS)
	}
	e := &Env{Parent: "/scenario"}
	d := &stage.Daemon{Pid: -1, Marker: e.MarkerFor(0)}
	start := func(env ...string) int {
		cmd := exec.Command("sleep", "30")
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process.Pid
	}
	victim, own, other := start(), start(d.Marker), start(e.MarkerFor(1))
	if e.OfStart(d, victim) {
		t.Errorf("pid %d, not of the start, accepted as its serving process", victim)
	}
	if e.OfStart(d, other) {
		t.Errorf("pid %d, of another start, accepted", other)
	}
	if !e.OfStart(d, own) {
		t.Errorf("pid %d, of the start, refused", own)
	}
}

// Under --protocol exec the suite runs no probe through a directory another
// uid can write (it could be the attacker's server), so a daemon that binds
// in the attacker's directory is judged by what it made there: a failure,
// not "no verdict" (as docs/cli.md's tmux recipe shows).
func TestExecProtocolJudgesDirPlantsFromTheFilesystem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("dir.symlink and dir.foreign-owner plant as another uid; run as root: sudo go test ./matrix/ (CI runs as root)")
	}
	needBins(t)
	target := Target{Cmd: []string{bins.brokend, "-socket", "{root}/agent.d/sock"}, Socket: "{root}/agent.d/sock",
		Protocol: ProtocolExec, Probe: bins.brokend + " -probe {socket}", DirCreatedBy: "suite"}
	rep := runSuite(t, target, "dir.symlink,dir.foreign-owner,dir.loose-perms")
	checkFails(t, rep, []string{"dir.symlink", "dir.foreign-owner", "dir.loose-perms"})
}

// A forking daemon whose second start's first process exits 0 at once and
// whose detached process takes the live socket only afterwards (memcached
// -d: its child unlinks and binds): inst.live-not-hijacked and
// inst.busy-not-stale wait for the second start to show what it does and
// fail it, instead of taking the first process's exit 0 for a refusal and
// the first daemon, still answering a moment later, for a pass.
func TestForksSecondStartTakesOverLate(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend and the subreaper are Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	t.Parallel()
	tg := brokenTarget("unlink")
	tg.Cmd = append([]string{tg.Cmd[0], "-detach", "-start-delay", "700ms"}, tg.Cmd[1:]...)
	tg.PortFile, tg.Forks = "", true
	sc, _ := Select("inst.live-not-hijacked,inst.busy-not-stale")
	rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkFails(t, rep, []string{"inst.busy-not-stale", "inst.live-not-hijacked"})
	if r, _ := find(rep, "inst.live-not-hijacked"); !strings.Contains(r.Reason, "hijacked") {
		t.Errorf("inst.live-not-hijacked: %s %q, want the second start named as the hijacker", r.Status, r.Reason)
	}
	if left := procsWith(bins.brokend, "-start-delay"); len(left) > 0 {
		t.Errorf("processes of the run outlived it: %v", left)
	}
}

// A forking daemon whose detached process ends without serving (memcached
// -d's child exits 71, its stderr on /dev/null): the preflight stops once
// every process of the start has ended and says so, instead of waiting out
// --ready-timeout for an answer nothing is left to give.
func TestForksStartThatEndsStopsTheWait(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend and the subreaper are Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	tg := Target{Cmd: []string{bins.brokend, "-detach", "-socket", "{root}/no-such-dir/sock"}, Socket: "{root}/no-such-dir/sock",
		Protocol: ProtocolConnect, Forks: true}
	_, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, DaemonUID: -1, AttackerUID: -1, ReadyTimeout: 5 * time.Second})
	var pe *PreflightError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "every process of its start has ended without answering") {
		t.Errorf("Run = %v, want a preflight error saying every process of the start ended", err)
	}
}
