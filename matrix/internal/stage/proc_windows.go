package stage

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
)

// execDaemon: Windows has no exec and no umask; daemons start directly.
func execDaemon(a ExecArg) error { return errors.New("exec is not available on windows") }

// DaemonCommand starts the daemon directly: there is no umask to set, and
// switching users is not supported.
func DaemonCommand(exe string, a ExecArg, uid int, canSwitch bool) (*exec.Cmd, error) {
	if len(a.Argv) == 0 {
		return nil, errors.New("empty argv")
	}
	cmd := exec.Command(a.Argv[0], a.Argv[1:]...)
	cmd.Env = a.Env
	return cmd, nil
}

// signalName is sig's description (Windows has no signal names).
func signalName(sig syscall.Signal) string { return sig.String() }

func KillTree(cmd *exec.Cmd) { cmd.Process.Kill() }

// terminate: Windows has no SIGTERM to send to another process; the
// daemon is killed (its port file is then stale, which a restart handles).
func terminate(cmd *exec.Cmd) error { return errors.New("no SIGTERM on windows") }

func SignalDaemon(d *Daemon, sig string) error { return SignalNow(d, sig) }

// SignalNow: on Windows nothing settles before a signal (no --forks).
func SignalNow(d *Daemon, sig string) error {
	if sig == "KILL" {
		return d.Cmd.Process.Kill()
	}
	return fmt.Errorf("signal %s: not available on windows", sig)
}
