//go:build unix

package tasks

import (
	"os/exec"
	"syscall"
)

// inOwnGroup puts cmd in a new process group (its pid is the group's id)
// and makes its cancellation kill the group. Race point: the group is
// killed only while cmd has not been waited for, so its pid (the group id)
// cannot have been reused by an unrelated group.
func inOwnGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
