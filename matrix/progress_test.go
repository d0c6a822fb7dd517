package matrix

import (
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// The progress lines: "1 scenario" against a target, and a preflight that
// knows no pid (a connect or line daemon over TCP) says what answered
// instead of "pid 0".
func TestProgressWording(t *testing.T) {
	for n, want := range map[int]string{1: "1 scenario", 2: "2 scenarios", 30: "30 scenarios"} {
		if got := stage.CountOf(n, "scenario"); got != want {
			t.Errorf("countOf(%d) = %q, want %q", n, got, want)
		}
	}
	for _, c := range []struct {
		tr   ipc.Transport
		pid  int
		want string
	}{
		{ipc.TransportUnix, 4242, "pid 4242 answered"},
		{ipc.TransportTCP, 0, "the port in the port file answered, its pid unknown"},
		{ipc.TransportUnix, 0, "the socket answered, its pid unknown"},
	} {
		e := &Env{Transport: c.tr}
		if got := e.WhoAnswered(c.pid); got != c.want || strings.Contains(got, "pid 0") {
			t.Errorf("whoAnswered(%s, %d) = %q, want %q", c.tr, c.pid, got, c.want)
		}
	}
}
