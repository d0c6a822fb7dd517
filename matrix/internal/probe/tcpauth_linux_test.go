package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// tcpImpostorEnv makes this test binary a TCP impostor (tcpImpostor).
const tcpImpostorEnv = "BH_TEST_TCP_IMPOSTOR"

func init() {
	if os.Getenv(tcpImpostorEnv) == "" {
		return
	}
	if err := tcpImpostor(); err != nil {
		fmt.Fprintln(os.Stderr, "tcp impostor:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// tcpImpostor listens on a loopback port, prints it, and answers every
// line with a pong naming its parent (the suite), printing each line it
// got, until stdin closes.
func tcpImpostor() error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	go servePongs(ln, os.Getppid(), func(line string) { fmt.Printf("got %s\n", line) })
	os.Stdin.Read(make([]byte, 1))
	return nil
}

// servePongs answers every line on every connection ln accepts with a
// pong naming pid, telling got each line first.
func servePongs(ln net.Listener, pid int, got func(line string)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if line != "" {
					got(strings.TrimSpace(line))
				}
				if err != nil {
					return
				}
				fmt.Fprintf(c, "{\"pong\":true,\"pid\":%d}\n", pid)
			}
		}()
	}
}

// A listener of another uid on the port a port file of the daemon's uid
// names (the daemon died; B5) is an impostor: the suite's bh-json client
// sends it nothing, so it never learns the token, and the scenario gets an
// impostor error, never a pass.
func TestTCPImpostorGetsNoToken(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the impostor runs as uid 31337; run: sudo go test ./matrix -run TestTCPImpostorGetsNoToken")
	}
	dir := testenv.ShortDir(t, "bh-tcpimp-")
	bin := testenv.SelfForOtherUIDs(t, dir)
	cmd := exec.Command(bin)
	cmd.Env = []string{tcpImpostorEnv + "=1"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 31337, Gid: 31337}}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("impostor did not start")
	}
	port, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "port "))
	if err != nil {
		t.Fatalf("impostor said %q", sc.Text())
	}
	const token = "5ec12e7-70ken-of-the-daemon"
	portFile := filepath.Join(dir, "port")
	if err := os.WriteFile(portFile, fmt.Appendf(nil, `{"port":%d,"token":%q}`, port, token), 0o600); err != nil {
		t.Fatal(err)
	}
	sp := Spec{Transport: ipc.TransportTCP, Protocol: target.ProtocolBHJSON, Port: portFile, Name: "x",
		Auth: &DaemonIdentity{UID: 0, PIDs: []int{os.Getpid()}}}
	ctx, log := WithImpostorLog(context.Background())
	pid, err := PingOnce(ctx, sp)
	var ie *ImpostorError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "31337") {
		t.Errorf("ping through the impostor: pid %d, err %v; want an impostor error naming uid 31337", pid, err)
	}
	if len(log.List()) == 0 {
		t.Errorf("the impostor was not logged, so the scenario would not end as an error")
	}
	stdin.Close()
	var got strings.Builder
	for sc.Scan() {
		got.WriteString(sc.Text() + "\n")
	}
	if strings.Contains(got.String(), token) || got.Len() > 0 {
		t.Errorf("the impostor received %q", got.String())
	}
}

// The check lets the daemon through: a listener of the daemon's uid held
// by a process of the start (this one) gets the ping; the same listener
// held by no process of the start is an impostor.
func TestTCPListenerOfTheStart(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go servePongs(ln, os.Getpid(), func(string) {})
	port := ln.Addr().(*net.TCPAddr).Port
	if err := tcpListenerCheck(port, &DaemonIdentity{UID: os.Geteuid(), PIDs: []int{os.Getpid()}}); err != nil {
		t.Errorf("this process's listener: %v, want nil", err)
	}
	pf := filepath.Join(t.TempDir(), "port")
	os.WriteFile(pf, fmt.Appendf(nil, `{"port":%d,"token":"t"}`, port), 0o600)
	sp := Spec{Transport: ipc.TransportTCP, Protocol: target.ProtocolBHJSON, Port: pf, Name: "x",
		Auth: &DaemonIdentity{UID: os.Geteuid(), PIDs: []int{os.Getpid()}}}
	if pid, err := PingOnce(context.Background(), sp); err != nil || pid != os.Getpid() {
		t.Errorf("ping of the start's listener: pid %d, %v; want %d", pid, err, os.Getpid())
	}
	err = tcpListenerCheck(port, &DaemonIdentity{UID: os.Geteuid(), PIDs: []int{1 << 30}})
	var ie *ImpostorError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Errorf("a listener held by no process of the start: %v, want an impostor error naming pid %d", err, os.Getpid())
	}
	if err := tcpListenerCheck(port, &DaemonIdentity{UID: os.Geteuid() + 1, PIDs: []int{os.Getpid()}}); !errors.As(err, &ie) {
		t.Errorf("a listener of another uid: %v, want an impostor error", err)
	}
}

// When no holder of the daemon's socket can be found, the evidence says
// which processes' fds could not be read, with which errno, and what would
// let the suite read them.
func TestDescribeUnreadable(t *testing.T) {
	err := &os.PathError{Op: "readlink", Path: "/proc/42/fd/3", Err: syscall.EACCES}
	got := describeUnreadable(map[string][]int{readErrno(err): {42, 7}})
	for _, want := range []string{"failed for 2 processes", "EACCES for 2 (pids [7 42])", "setfsuid", "CAP_SYS_PTRACE"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
