//go:build !linux && unix

package matrix

import "syscall"

const oNoFollow = syscall.O_NOFOLLOW
