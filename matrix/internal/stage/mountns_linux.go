package stage

import "syscall"

// MountNSAttr starts a helper in a mount namespace of its own: the child
// calls unshare(CLONE_NEWNS) before it execs (and Go makes its mounts
// private, MS_REC|MS_PRIVATE, so nothing it does there reaches ours). It
// still shares the suite's network namespace, and so every abstract
// socket name, as a container run with --net=host does. Started as root
// (CAP_SYS_ADMIN), it drops to its uid afterwards (HelperMain).
func MountNSAttr() (*syscall.SysProcAttr, error) {
	return &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}, nil
}
