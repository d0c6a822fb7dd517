package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRejectLogBurstThenCount(t *testing.T) {
	var lines []string
	var end func()
	r := newRejectLog(func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) })
	r.after = func(d time.Duration, f func()) {
		if end != nil {
			t.Errorf("a second interval was scheduled before the first ended")
		}
		end = f
	}
	for i := range 1000 {
		r.reject(fmt.Errorf("peer %d", i))
	}
	if len(lines) != rejectLogBurst || lines[0] != "rejected: peer 0" {
		t.Fatalf("after 1000 rejections in one interval: %q, want the first %d in full", lines, rejectLogBurst)
	}
	end()
	want := fmt.Sprintf("rejected %d more connections", 1000-rejectLogBurst)
	if len(lines) != rejectLogBurst+1 || !strings.HasPrefix(lines[rejectLogBurst], want) || !strings.Contains(lines[rejectLogBurst], "last: peer 999") {
		t.Fatalf("at the end of the interval: %q, want one line %q... naming the last", lines[rejectLogBurst:], want)
	}
	end = nil
	r.reject(fmt.Errorf("peer late"))
	if lines[len(lines)-1] != "rejected: peer late" || end == nil {
		t.Errorf("a new interval: %q (scheduled %v), want the rejection in full", lines[len(lines)-1], end != nil)
	}
	r.flush()
	if len(lines) != rejectLogBurst+2 {
		t.Errorf("flush with nothing counted logged %q", lines[rejectLogBurst+2:])
	}
}
