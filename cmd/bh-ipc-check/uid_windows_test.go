package main

import "syscall"

// asUID: Windows has no uids to switch to; the callers skip there.
func asUID(int) *syscall.SysProcAttr { return nil }
