package main

import (
	"sync"
	"time"
)

// rejectLogBurst and rejectLogInterval bound the reference daemon's
// rejection log: in each interval the first rejectLogBurst rejections are
// logged in full, the rest only counted, and the count is logged when the
// interval ends (and when the daemon stops). One attacker looping on
// connect otherwise writes a line per attempt (tens of thousands a minute).
const (
	rejectLogBurst    = 5
	rejectLogInterval = 10 * time.Second
)

// rejectLog is the daemon's rate-limited rejection logger. Safe for
// concurrent use (ipc calls WithOnReject's function from many goroutines).
type rejectLog struct {
	logf     func(format string, a ...any)
	burst    int
	interval time.Duration
	// after schedules f once after d (time.AfterFunc; a test records f).
	after func(d time.Duration, f func())

	mu      sync.Mutex
	open    bool  // an interval is running (its end is scheduled)
	full    int   // logged in full in this interval
	counted int   // only counted in this interval
	last    error // the last counted rejection
}

func newRejectLog(logf func(string, ...any)) *rejectLog {
	return &rejectLog{logf: logf, burst: rejectLogBurst, interval: rejectLogInterval,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// reject logs or counts one rejection.
func (r *rejectLog) reject(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.open {
		r.open = true
		r.after(r.interval, r.endInterval)
	}
	if r.full < r.burst {
		r.full++
		r.logf("rejected: %v", err)
		return
	}
	r.counted++
	r.last = err
}

// endInterval logs the count of the interval that ended and starts afresh.
func (r *rejectLog) endInterval() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked()
	r.open, r.full = false, 0
}

// flush logs the rejections counted but not yet logged (at shutdown).
func (r *rejectLog) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked()
}

func (r *rejectLog) flushLocked() {
	if r.counted > 0 {
		r.logf("rejected %d more connections since the last line (at most %d are logged in full per %s; last: %v)", r.counted, r.burst, r.interval, r.last)
		r.counted, r.last = 0, nil
	}
}
