package probe

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// DaemonIdentity is who may answer at a daemon's endpoint: a process of the
// daemon's uid and, when the suite started daemons in the scenario, one of
// them or a descendant of one. It travels to helper processes inside
// Spec; a nil identity (attacker probes) authenticates nothing.
type DaemonIdentity struct {
	UID  int   `json:"uid"`
	PIDs []int `json:"pids,omitempty"`
	// Marker: the scenario's start marker (startMarkerEnv=<dir>): a process
	// of the daemon's uid whose environment carries it is of a start of
	// this scenario, even when it detached from the pids above (--forks:
	// its parent exited and it was reparented to the subreaper). Another
	// uid can put the marker in its own environment, but fails the uid
	// check before this one.
	Marker string `json:"marker,omitempty"`
	// Reaper (--forks, Linux): the suite's pid. A process of the daemon's
	// uid that descends from it is of the run even without the marker: a
	// detached daemon that wiped its environment (redis sets its process
	// title over it) was re-parented to the suite, its child subreaper.
	Reaper int `json:"reaper,omitempty"`
}

// ImpostorError says that something other than the daemon answered at its
// endpoint: a socket of another owner, a peer of another uid, or a process
// the suite did not start. A scenario that meets one ends as an error with
// the evidence, never as a pass.
type ImpostorError struct{ Evidence string }

func (e *ImpostorError) Error() string { return "impostor at the daemon's endpoint: " + e.Evidence }

// impostorLog collects the impostors met while one helper action runs (in a
// helper process or in this one); the action's own result may hide them
// (a load counts failed pings), the log does not. Safe for concurrent use.
type impostorLog struct {
	mu   sync.Mutex
	seen []string
}

type impostorLogKey struct{}

func WithImpostorLog(ctx context.Context) (context.Context, *impostorLog) {
	l := &impostorLog{}
	return context.WithValue(ctx, impostorLogKey{}, l), l
}

// noteImpostor records err in ctx's log when it is an impostor error, and
// returns err.
func noteImpostor(ctx context.Context, err error) error {
	var ie *ImpostorError
	if errors.As(err, &ie) {
		if l, ok := ctx.Value(impostorLogKey{}).(*impostorLog); ok {
			l.mu.Lock()
			if len(l.seen) < 8 {
				l.seen = append(l.seen, ie.Evidence)
			}
			l.mu.Unlock()
		}
	}
	return err
}

func (l *impostorLog) List() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// ImpostorsError is the log as one impostor error, nil when it is empty.
func ImpostorsError(seen []string) error {
	if len(seen) == 0 {
		return nil
	}
	return &ImpostorError{Evidence: strings.Join(seen, "; ")}
}
