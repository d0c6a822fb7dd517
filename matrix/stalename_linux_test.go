package matrix

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// bindFreedNames is another uid taking an abstract name the moment a
// daemon frees it: every abstract name starting with prefix that it sees
// listening (/proc/net/unix), it tries to bind (without listening) until
// it can, prints "bound NAME", and holds until its stdin closes.
func bindFreedNames(prefix string) {
	stop := stdinClosed()
	pending, bound := map[string]bool{}, map[string]int{}
	defer func() {
		for _, fd := range bound {
			unix.Close(fd)
		}
	}()
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		b, _ := os.ReadFile("/proc/net/unix")
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 8 && f[3] == "00010000" && strings.HasPrefix(f[7], "@"+prefix) {
				if _, ok := bound[f[7]]; !ok {
					pending[f[7]] = true
				}
			}
		}
		for name := range pending {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				continue
			}
			if unix.Bind(fd, &unix.SockaddrUnix{Name: name}) != nil {
				unix.Close(fd)
				continue
			}
			delete(pending, name)
			bound[name] = fd
			fmt.Println("bound", name)
		}
	}
}

// Another uid binds a daemon's abstract name the moment SIGKILL frees it:
// the new start then cannot bind. That says nothing of the daemon
// (socat's restart serves after SIGKILL left alone: TestRealSocatAbstract),
// so inst.stale-recovered has no verdict, naming the uid, never a fail.
func TestAttackFreedAbstractNameTaken(t *testing.T) {
	needProgram(t, "socat", "socat")
	at := newAttackTest(t)
	const bystander = 3002
	b := startOtherUID(t, at, bystander, "bindfreed", at.tmp)
	tgt := Target{Cmd: []string{"socat", "ABSTRACT-LISTEN:{root}/echo,fork", "EXEC:cat"}, Socket: "@{root}/echo",
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`}
	rep := at.run(tgt, "inst.stale-recovered")
	out := b.stop()
	t.Logf("bystander: %s", out)
	res := resultOf(t, rep, "inst.stale-recovered")
	t.Logf("%s: %s\n  %s", res.Status, res.Reason, strings.Join(res.Evidence, "\n  "))
	if !strings.Contains(out, "/01/root/echo") {
		t.Fatalf("the bystander took no name of the scenario's: %s", out)
	}
	if res.Status != Error || !strings.Contains(res.Reason, fmt.Sprintf("uid %d's", bystander)) {
		t.Errorf("%s %q; want an error naming uid %d, which took the freed name", res.Status, target.OneLine(res.Reason, 300), bystander)
	}
}
