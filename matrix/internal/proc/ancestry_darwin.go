package proc

import "golang.org/x/sys/unix"

// parentPID asks the kernel for pid's parent (sysctl kern.proc.pid).
func parentPID(pid int) (int, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return 0, err
	}
	return int(kp.Eproc.Ppid), nil
}
