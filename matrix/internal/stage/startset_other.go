//go:build !linux

package stage

// holdsEndpoint: without /proc the holders of a socket cannot be read;
// only the process the suite started (or the serving one found) is
// signalled.
func (e *Env) holdsEndpoint(pid int) bool { return false }

// sigCaught: no /proc to read a process's caught signals from.
func sigCaught(pid int) string { return "" }

// blockedOnPeer: without /proc a process's wait cannot be read.
func blockedOnPeer(pid int) bool { return false }
