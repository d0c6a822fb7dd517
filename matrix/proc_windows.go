package matrix

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// execDaemon: Windows has no exec and no umask; daemons start directly.
func execDaemon(a execArg) error { return errors.New("exec is not available on windows") }

// daemonCommand starts the daemon directly: there is no umask to set, and
// switching users is not supported.
func daemonCommand(exe string, a execArg, uid int, canSwitch bool) (*exec.Cmd, error) {
	if len(a.Argv) == 0 {
		return nil, errors.New("empty argv")
	}
	cmd := exec.Command(a.Argv[0], a.Argv[1:]...)
	cmd.Env = a.Env
	return cmd, nil
}

// signalName is sig's description (Windows has no signal names).
func signalName(sig syscall.Signal) string { return sig.String() }

func credentialAttr(uid, gid int, groups []int) *syscall.SysProcAttr { return nil }

func killTree(cmd *exec.Cmd) { cmd.Process.Kill() }

// terminate: Windows has no SIGTERM to send to another process; the
// daemon is killed (its port file is then stale, which a restart handles).
func terminate(cmd *exec.Cmd) error { return errors.New("no SIGTERM on windows") }

func signalDaemon(d *daemon, sig string) error {
	if sig == "KILL" {
		return d.cmd.Process.Kill()
	}
	return fmt.Errorf("signal %s: not available on windows", sig)
}

func mkfifo(path string, mode uint32) error { return errors.New("no FIFOs on windows") }

func isBacklogFull(err error) bool { return false }

func describe(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "missing"
		}
		return "lstat: " + err.Error()
	}
	return fmt.Sprintf("%s %v", kindOfInfo(fi), fi.Mode().Perm())
}

// describeInfo is describe's text for an lstat result already taken.
func describeInfo(fi os.FileInfo, link string) string {
	return fmt.Sprintf("%s %v", kindOfInfo(fi), fi.Mode().Perm())
}

func kindOfInfo(fi os.FileInfo) string {
	switch {
	case fi.IsDir():
		return "dir"
	case fi.Mode()&os.ModeSymlink != 0:
		return "symlink"
	case fi.Mode().IsRegular():
		return "file"
	}
	return "other"
}

type facts struct {
	Exists bool
	Kind   string
	Mode   uint32
	UID    int
	GID    int
}

func stat(path string) facts {
	fi, err := os.Lstat(path)
	if err != nil {
		return facts{}
	}
	return facts{Exists: true, Kind: kindOfInfo(fi), Mode: uint32(fi.Mode().Perm()), UID: -1, GID: -1}
}

// factsOf is stat's result for an lstat already taken.
func factsOf(fi os.FileInfo) facts {
	return facts{Exists: true, Kind: kindOfInfo(fi), Mode: uint32(fi.Mode().Perm()), UID: -1, GID: -1}
}

func fillBacklog(path string, max int) (int, bool, func(), error) {
	return 0, false, func() {}, errors.New("not available on windows")
}
