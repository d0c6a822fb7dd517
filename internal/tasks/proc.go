package tasks

import (
	"context"
	"os/exec"
	"time"
)

// killGrace is how long a command's output pipes may stay open after the
// command was killed or exited (a grandchild holding them) before Wait
// gives up on them.
const killGrace = 10 * time.Second

// command is exec.CommandContext with the child in a process group of its
// own (POSIX): when ctx ends, the whole group is killed — a go build's
// compile and link, a go test's test binary, a Wine program's children —
// not just the direct child, which would leave the rest running. Wait
// returns at most killGrace after that even if something still holds the
// output pipes.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	inOwnGroup(cmd)
	cmd.WaitDelay = killGrace
	return cmd
}
