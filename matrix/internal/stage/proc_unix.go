//go:build unix

package stage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
)

// execDaemon is the helper's "exec" action: set the umask of this (helper)
// process, which the daemon inherits, then replace the process with the
// daemon. The suite's own umask is never touched.
func execDaemon(a ExecArg) error {
	if len(a.Argv) == 0 {
		return errors.New("empty argv")
	}
	// The program is looked up on the daemon's PATH, not the helper's
	// minimal one.
	for _, kv := range a.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			os.Setenv("PATH", v)
		}
	}
	prog, err := exec.LookPath(a.Argv[0])
	if err != nil {
		return err
	}
	// The exec spec came on stdin; the daemon gets /dev/null there, as a
	// process started without one would. Best effort: without /dev/null
	// it keeps the spent pipe, which reads as end of file.
	if null, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil && null != 0 {
		unix.Dup2(null, 0) // dup2 clears close-on-exec on fd 0
		unix.Close(null)
	}
	unix.Umask(a.Umask)
	if a.ListenGate {
		// The filter is this thread's, and exec keeps only this thread.
		runtime.LockOSThread()
		installListenGate()
	}
	return syscall.Exec(prog, a.Argv, a.Env)
}

// DaemonCommand starts a daemon through the helper, as uid when the suite
// may switch uids, in a process group of its own so it can be killed whole.
// The exec spec, which holds the daemon's environment, goes to the helper
// on stdin: argv is readable by every uid.
func DaemonCommand(exe string, a ExecArg, uid int, canSwitch bool) (*exec.Cmd, error) {
	spec, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, HelperCommand, "exec")
	cmd.Stdin = bytes.NewReader(spec)
	cmd.Env = probe.MinimalEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if uid != os.Geteuid() {
		if !canSwitch {
			return nil, fmt.Errorf("starting the daemon as uid %d needs root", uid)
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}
	}
	return cmd, nil
}

// terminate resumes the daemon (in case a scenario stopped it) and sends
// it SIGTERM.
func terminate(cmd *exec.Cmd) error {
	unix.Kill(-cmd.Process.Pid, unix.SIGCONT)
	return cmd.Process.Signal(unix.SIGTERM)
}

// KillTree resumes (in case it was stopped) and kills the daemon's whole
// process group.
func KillTree(cmd *exec.Cmd) {
	pid := cmd.Process.Pid
	unix.Kill(-pid, unix.SIGCONT)
	unix.Kill(-pid, unix.SIGKILL)
	cmd.Process.Kill()
}

func SignalDaemon(d *Daemon, sig string) error {
	if d.env != nil {
		d.env.SettleBeforeSignal(d)
	}
	return SignalNow(d, sig)
}

// SignalNow is SignalDaemon without the wait for the start to settle, for
// a caller that has waited for it itself and times what follows the
// signal (inst.clean-shutdown's grace starts when the signal is sent, not
// before the settling, which takes longer on a loaded machine).
func SignalNow(d *Daemon, sig string) error {
	s := map[string]syscall.Signal{"TERM": unix.SIGTERM, "KILL": unix.SIGKILL, "STOP": unix.SIGSTOP, "CONT": unix.SIGCONT}[sig]
	if s == 0 {
		return fmt.Errorf("unknown signal %s", sig)
	}
	// --forks: every process of the start that holds the endpoint.
	if d.env != nil && d.env.Runner.Config.Target.Forks {
		if ok, err := d.env.signalStart(d, s); ok {
			return err
		}
	}
	if ok, err := signalServing(d, s); ok {
		return err
	}
	return d.Cmd.Process.Signal(s)
}

// signalName is sig's name (SIGTERM).
func signalName(sig syscall.Signal) string { return unix.SignalName(sig) }
