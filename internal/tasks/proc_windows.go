package tasks

import "os/exec"

// inOwnGroup: Windows has no process groups to kill; cancellation kills
// the direct child (exec's default).
func inOwnGroup(cmd *exec.Cmd) {}
