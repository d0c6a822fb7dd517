package matrix

import (
	"context"
	"errors"
	"net"
)

// sideSink takes what an action hands the suite: the suite's own
// helperSide in its process, the side channel in a helper process.
type sideSink interface {
	// holdConn hands c to the suite, which keeps it open; c stays the
	// caller's to close.
	holdConn(c net.Conn) error
	// reportProc names pid, a process the caller started, as one the
	// suite kills once the helper is done.
	reportProc(pid int) error
}

type sideKey struct{}

// sideOf is the sink ctx carries, nil when none.
func sideOf(ctx context.Context) sideSink {
	s, _ := ctx.Value(sideKey{}).(sideSink)
	return s
}

// errNoSide: the action runs with nothing to hand the suite over.
var errNoSide = errors.New("no side channel to the suite")

// holdForSuite hands c to the suite (sideOf(ctx)).
func holdForSuite(ctx context.Context, c net.Conn) error {
	s := sideOf(ctx)
	if s == nil {
		return errNoSide
	}
	return s.holdConn(c)
}

// reportToSuite names pid, a process this action started, to the suite
// (sideOf(ctx)), which kills it once the helper is done.
func reportToSuite(ctx context.Context, pid int) error {
	s := sideOf(ctx)
	if s == nil {
		return errNoSide
	}
	return s.reportProc(pid)
}
