package matrix

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// A scenario that times out while it is starting a daemon leaves nothing
// running: its env is closed only once the scenario returned (or refuses
// it any start after), so no daemon is started after the processes were
// stopped. Scenario timeouts far below a daemon's start time make every
// scenario time out somewhere in its start.
func TestTimeoutLeavesNoDaemon(t *testing.T) {
	needBins(t)
	t.Parallel()
	name := fmt.Sprintf("tmo%d", os.Getpid())
	target := Target{Cmd: []string{bins.brokend, "-flaw", "none", "-root", "{root}", "-name", "{name}"}, Socket: "{root}/bu.sock", Protocol: ProtocolBHJSON}
	sc, _ := Select("sock.*,inst.*,path.*,auth.*")
	for _, timeout := range []time.Duration{time.Microsecond, 300 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond} {
		// Below MinScenarioTimeout, which Validate refuses: through the
		// test hook.
		rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Name: name,
			Hooks: &stage.TestHooks{ScenarioTimeout: timeout}})
		if err != nil {
			t.Fatal(err)
		}
		if left := procsWith(bins.brokend, "-name\x00"+name+"\x00"); len(left) > 0 {
			t.Errorf("--timeout %s: processes of the run outlived it: %v", timeout, left)
			killLeft(left)
		}
		if len(rep.Results) != len(sc) {
			t.Errorf("--timeout %s: %d results, want %d", timeout, len(rep.Results), len(sc))
		}
	}
}

// killLeft kills the processes procsWith listed ("/proc/PID: cmdline").
func killLeft(left []string) {
	for _, l := range left {
		var pid int
		if _, err := fmt.Sscanf(l, "/proc/%d:", &pid); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// A daemon that detaches and wipes its environment (redis sets its process
// title over it) loses the start marker: with --forks it is believed as
// the suite's adopted descendant (the suite is the child subreaper), the
// preflight passes, and it is stopped at the end of each scenario.
func TestForksClearedEnvironment(t *testing.T) {
	needBins(t)
	name := fmt.Sprintf("clr%d", os.Getpid())
	sc, _ := Select("sock.mode-umask0,inst.*,auth.foreign-uid-connect")
	// Without --forks the preflight fails (unless, on a loaded machine, the
	// detached process answered while its parent still ran: then the
	// preflight says it was ready), and the detached process is stopped
	// all the same. A run with no preflight fails this.
	tg := Target{Cmd: []string{bins.brokend, "-detach", "-clearenv", "-flaw", "none", "-root", "{root}", "-name", "{name}"}, Socket: "{root}/bu.sock", Protocol: ProtocolConnect}
	var progress bytes.Buffer
	_, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Name: name, ReadyTimeout: 2 * time.Second, Progress: &progress})
	switch {
	case err != nil && !strings.Contains(err.Error(), "add --forks"):
		t.Errorf("without --forks: Run = %v, want a preflight error suggesting --forks", err)
	case err == nil && !strings.Contains(progress.String(), "preflight: ready"):
		t.Errorf("without --forks: Run = nil and no preflight said the target was ready; want a preflight error suggesting --forks\n%s", progress.String())
	}
	if left := procsWith(bins.brokend, "-name\x00"+name+"\x00"); len(left) > 0 {
		t.Errorf("without --forks: processes of the run outlived it: %v", left)
		killLeft(left)
	}
	for _, c := range []struct {
		name    string
		proto   Protocol
		pidFile string
	}{
		{"own pid", ProtocolBHJSON, ""},
		{"peer credentials", ProtocolConnect, ""},
		{"pid file", ProtocolConnect, "{root}/d.pid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := Target{Cmd: []string{bins.brokend, "-detach", "-clearenv", "-flaw", "none", "-root", "{root}", "-name", "{name}"},
				Socket: "{root}/bu.sock", Protocol: c.proto, Forks: true, PidFile: c.pidFile}
			if c.pidFile != "" {
				tg.Cmd = append(tg.Cmd, "-pidfile", c.pidFile)
			}
			rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Name: name})
			if left := procsWith(bins.brokend, "-name\x00"+name+"\x00"); len(left) > 0 {
				t.Errorf("processes of the run outlived it: %v", left)
				killLeft(left)
			}
			if err != nil {
				t.Fatal(err)
			}
			checkFails(t, rep, nil)
			if r, _ := find(rep, "inst.clean-shutdown"); r.Status != Pass {
				t.Errorf("inst.clean-shutdown: %s %q, want SIGTERM delivered to the detached daemon", r.Status, r.Reason)
			}
		})
	}
}

// A daemon runs in its scenario's working directory (beside {root}), not
// the suite's: what it writes in its working directory stays in the run
// and is removed with it, and is neither left behind nor created outside
// the root.
func TestDaemonWorkingDirectory(t *testing.T) {
	needBins(t)
	cwd := t.TempDir()
	t.Chdir(cwd)
	target := Target{Cmd: []string{"sh", "-c", "echo cwd=$(pwd); echo dump > dump.rdb; exit 3"}, Socket: "{root}/d.sock", Protocol: ProtocolConnect}
	_, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, DaemonUID: -1, AttackerUID: -1, ReadyTimeout: 2 * time.Second})
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("Run = %v, want a preflight error (the daemon exits 3)", err)
	}
	if _, err := os.Lstat(filepath.Join(cwd, "dump.rdb")); err == nil {
		t.Errorf("the daemon wrote dump.rdb in the suite's working directory %s", cwd)
	}
	dir, _ := strings.CutPrefix(strings.TrimSpace(pe.Output), "cwd=")
	// The preflight's scenario directory: <run dir>/00/wd, beside its root.
	if !strings.Contains(dir, "/"+stage.RunDirPrefix) || filepath.Base(filepath.Dir(dir)) != "00" || filepath.Base(dir) != stage.DaemonWorkDir {
		t.Errorf("the daemon ran in %q, want the scenario's working directory in the run directory (%s…/00/%s)", dir, stage.RunDirPrefix, stage.DaemonWorkDir)
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("the daemon's working directory %s outlived the run", dir)
	}
	target.Cmd = []string{"sh", "-c", `echo dump > dump.rdb; exec "$0" "$@"`, bins.brokend, "-flaw", "none", "-root", "{root}", "-name", "{name}"}
	target.Socket = "{root}/bu.sock"
	sc, _ := Select("inst.clean-shutdown,path.name-validation")
	rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, Scenarios: sc, DaemonUID: -1, AttackerUID: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkFails(t, rep, nil)
	if _, err := os.Lstat(filepath.Join(cwd, "dump.rdb")); err == nil {
		t.Errorf("the daemon wrote dump.rdb in the suite's working directory %s", cwd)
	}
}

// A daemon that SIGTERM kills (it does not catch it) fails
// inst.clean-shutdown with how it ended, the signal named, and what it
// left behind in the reason.
func TestCleanShutdownKilledBySIGTERM(t *testing.T) {
	needBins(t)
	target := Target{Cmd: []string{bins.brokend, "-dieonterm", "-socket", "{root}/agent.sock"}, Socket: "{root}/agent.sock", Protocol: ProtocolBHJSON, DirCreatedBy: "suite"}
	sc, _ := Select("inst.clean-shutdown")
	rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, Scenarios: sc, DaemonUID: -1, AttackerUID: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	for _, w := range []string{"killed by SIGTERM (signal 15)", "left behind: root/agent.sock (socket"} {
		if r.Status != Fail || !strings.Contains(r.Reason, w) {
			t.Errorf("inst.clean-shutdown: %s %q, want a failure saying %q", r.Status, r.Reason, w)
		}
	}
}
