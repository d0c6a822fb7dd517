package main

import (
	"syscall"
	"testing"
)

// asUID: Windows has no uids to switch to; the callers skip there.
func asUID(int) *syscall.SysProcAttr { return nil }

// tmpdirFor: likewise.
func tmpdirFor(t *testing.T, _ int) string {
	t.Fatal("no uids on Windows")
	return ""
}
