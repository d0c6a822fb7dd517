//go:build unix

package main

import "syscall"

// asUID runs a child as uid (and the gid of the same number); needs root.
func asUID(uid int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
}
