package matrix

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// bindFreedEnv selects bindFreedNames (its value the prefix of the names
// to take) when this test binary is executed by the test below.
const bindFreedEnv = "BH_TEST_BIND_FREED"

func init() {
	if p := os.Getenv(bindFreedEnv); p != "" {
		bindFreedNames(p)
		os.Exit(0)
	}
}

// bindFreedNames is another uid taking an abstract name the moment a
// daemon frees it: every abstract name starting with prefix that it sees
// listening (/proc/net/unix), it tries to bind (without listening) until
// it can, prints "bound NAME", and holds until its stdin closes.
func bindFreedNames(prefix string) {
	fmt.Println("ready")
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
	cmd := exec.CommandContext(at.ctx, at.bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", bindFreedEnv + "=" + at.tmp}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: bystander, Gid: bystander}}
	cmd.Dir = "/"
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); line != "ready\n" {
		t.Fatalf("the bystander is not ready: %q %v", line, err)
	}
	target := Target{Cmd: []string{"socat", "ABSTRACT-LISTEN:{root}/echo,fork", "EXEC:cat"}, Socket: "@{root}/echo",
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`}
	rep := at.run(target, "inst.stale-recovered")
	stdin.Close()
	out, _ := io.ReadAll(r)
	t.Logf("bystander: %s", out)
	res := resultOf(t, rep, "inst.stale-recovered")
	t.Logf("%s: %s\n  %s", res.Status, res.Reason, strings.Join(res.Evidence, "\n  "))
	if !strings.Contains(string(out), "/01/root/echo") {
		t.Fatalf("the bystander took no name of the scenario's: %s", out)
	}
	if res.Status != Error || !strings.Contains(res.Reason, fmt.Sprintf("uid %d's", bystander)) {
		t.Errorf("%s %q; want an error naming uid %d, which took the freed name", res.Status, oneLine(res.Reason, 300), bystander)
	}
}
