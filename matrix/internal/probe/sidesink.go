package probe

import (
	"context"
	"errors"
	"net"
)

// SideSink takes what an action hands the suite: the suite's own
// helperSide in its process, the side channel in a helper process.
type SideSink interface {
	// HoldConn hands c to the suite, which keeps it open; c stays the
	// caller's to close.
	HoldConn(c net.Conn) error
	// ReportProc names pid, a process the caller started, as one the
	// suite kills once the helper is done.
	ReportProc(pid int) error
}

type SideKey struct{}

// SideOf is the sink ctx carries, nil when none.
func SideOf(ctx context.Context) SideSink {
	s, _ := ctx.Value(SideKey{}).(SideSink)
	return s
}

// errNoSide: the action runs with nothing to hand the suite over.
var errNoSide = errors.New("no side channel to the suite")

// holdForSuite hands c to the suite (SideOf(ctx)).
func holdForSuite(ctx context.Context, c net.Conn) error {
	s := SideOf(ctx)
	if s == nil {
		return errNoSide
	}
	return s.HoldConn(c)
}

// ReportToSuite names pid, a process this action started, to the suite
// (SideOf(ctx)), which kills it once the helper is done.
func ReportToSuite(ctx context.Context, pid int) error {
	s := SideOf(ctx)
	if s == nil {
		return errNoSide
	}
	return s.ReportProc(pid)
}
