package probe

// Exec probes as root (B3 of the red team): a probe of the suite's runs
// only once the endpoint's directory chain and peer are the daemon's; it
// gets none of the suite's environment; what it leaves running is killed.

import (
	"context"
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
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// probeListenEnv selects, in this test binary, a listener on the socket
// named by the variable's value that accepts until its stdin closes.
const probeListenEnv = "BH_TEST_PROBE_LISTEN"

func init() {
	sock := os.Getenv(probeListenEnv)
	if sock == "" {
		return
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
	fmt.Println("ready")
	done := make(chan struct{})
	go func() { os.Stdin.Read(make([]byte, 1)); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
	}
	os.Exit(0)
}

// serveUnix serves a Unix socket at sock, closing each connection, until
// the test ends.
func serveUnix(t *testing.T, sock string) {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for c, err := l.Accept(); err == nil; c, err = l.Accept() {
			c.Close()
		}
	}()
}

func needRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "the probe runs as root and the attacker as uid 31337", "go test ./matrix/internal/probe -run TestExecProbe")
}

// listenAs serves a Unix socket at sock as uid (this binary, copied where
// uid can run it), until the test ends.
func listenAs(t *testing.T, uid int, sock string) {
	t.Helper()
	bin := testenv.SelfForOtherUIDs(t, testenv.ShortDir(t, "bh-probe-bin-"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", probeListenEnv + "=" + sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	cmd.Dir = "/"
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cancel(); cmd.Wait() })
	buf := make([]byte, 6)
	if n, _ := out.Read(buf); string(buf[:n]) != "ready\n" {
		t.Fatalf("listener as uid %d: %q %s", uid, buf[:n], stderr.String())
	}
}

// TestExecProbeNotRunThroughAttackerDir: {root} is a link to a directory
// of uid 31337, writable by all, where a process of 31337 serves the
// socket: root's probe must not run (and says why); nobody answered it.
func TestExecProbeNotRunThroughAttackerDir(t *testing.T) {
	needRoot(t)
	base, err := os.MkdirTemp("", "bh-probe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	evil := filepath.Join(base, "evil")
	if err := os.Mkdir(evil, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(evil, 0o777)
	os.Chown(evil, 31337, 31337)
	if err := os.Symlink(evil, filepath.Join(base, "root")); err != nil {
		t.Fatal(err)
	}
	listenAs(t, 31337, filepath.Join(evil, "tmux.sock"))
	proof := filepath.Join(base, "proof")
	sp := Spec{Transport: "unix", Protocol: target.ProtocolExec, Sock: filepath.Join(base, "root", "tmux.sock"),
		Auth: &DaemonIdentity{UID: 0}, Probe: []string{"sh", "-c", "id -u > " + proof + "; echo ok", "sh", "{socket}"}}
	ctx, log := WithImpostorLog(context.Background())
	r := execProbe(ctx, sp)
	if _, err := os.Stat(proof); err == nil {
		t.Errorf("the probe ran as root through uid 31337's directory (%s)", r.Detail)
	}
	if r.Answered {
		t.Errorf("probe answered: %s", r.Detail)
	}
	// Not probing is no answer: the scenario then judges what the daemon
	// did to the filesystem (a dir.* scenario), never passes on a probe.
	if !strings.Contains(r.Detail, "not run") || !strings.Contains(r.Detail, "uid 31337") {
		t.Errorf("probe detail %q; want it not run, naming uid 31337's directory", r.Detail)
	}
	if seen := log.List(); len(seen) != 0 {
		t.Errorf("impostors %q: a probe not run met nobody", seen)
	}
}

// TestExecProbeEnvAndProcessGroup: an authenticated probe runs with the
// minimal environment plus the target's --env, and what it leaves in its
// process group does not outlive it.
func TestExecProbeEnvAndProcessGroup(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "d.sock")
	serveUnix(t, sock)
	t.Setenv("BH_SUITE_SECRET", "s3cr3t")
	envf, pidf := filepath.Join(dir, "env"), filepath.Join(dir, "pid")
	sp := Spec{Transport: "unix", Protocol: target.ProtocolExec, Sock: sock, Auth: &DaemonIdentity{UID: 0}, Env: []string{"FROM_TARGET=yes"},
		Probe: []string{"sh", "-c", "env > " + envf + "; sleep 30 >/dev/null 2>&1 & echo $! > " + pidf}}
	r := execProbe(context.Background(), sp)
	if !r.Answered {
		t.Fatalf("probe did not answer: %s", r.Detail)
	}
	env, _ := os.ReadFile(envf)
	if strings.Contains(string(env), "s3cr3t") || !strings.Contains(string(env), "FROM_TARGET=yes") {
		t.Errorf("probe environment %q: want the target's --env and none of the suite's", env)
	}
	b, _ := os.ReadFile(pidf)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	for i := 0; ; i++ {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if i == 100 {
			t.Fatalf("the probe's background sleep (pid %d) outlived it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVerifyEndpointChain: each way a path can let another uid redirect it.
func TestVerifyEndpointChain(t *testing.T) {
	needRoot(t)
	base, err := os.MkdirTemp("", "bh-chain-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	mk := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		os.Chown(p, uid, uid)
		serveUnix(t, filepath.Join(p, "s"))
		return p
	}
	good := mk("good", 0o700, 0)
	sticky := mk("sticky", 0o777|os.ModeSticky, 0)
	loose := mk("loose", 0o777, 0)
	theirs := mk("theirs", 0o755, 31337)
	os.Symlink(good, filepath.Join(base, "rootlink"))
	os.Symlink(good, filepath.Join(base, "theirlink"))
	os.Lchown(filepath.Join(base, "theirlink"), 31337, 31337)
	os.Lchown(filepath.Join(theirs, "s"), 0, 0)
	sockOf31337 := filepath.Join(good, "s31337")
	serveUnix(t, sockOf31337)
	os.Lchown(sockOf31337, 31337, 31337)
	for _, c := range []struct {
		path, want string
	}{
		{filepath.Join(good, "s"), ""},
		{filepath.Join(sticky, "s"), ""},
		{filepath.Join(base, "rootlink", "s"), ""},
		{filepath.Join(loose, "s"), "writable by group or others"},
		{filepath.Join(theirs, "s"), "owned by uid 31337"},
		{filepath.Join(base, "theirlink", "s"), "symlink of uid 31337"},
		{sockOf31337, "owned by uid 31337"},
		{filepath.Join(good, "nothere"), "no such file"},
		{good, "not a socket"},
	} {
		err := verifyEndpointChain(c.path, 0, endpointSocket)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v; want %q", c.path, err, c.want)
		}
	}
}

// TestExecProbeNoIdentityNotAsRoot: a probe without a daemon identity (an
// attacker's) does not run as root, and gives no verdict.
func TestExecProbeNoIdentityNotAsRoot(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	proof := filepath.Join(dir, "proof")
	sp := Spec{Transport: "unix", Protocol: target.ProtocolExec, Sock: filepath.Join(dir, "s"), Probe: []string{"touch", proof}}
	ctx, log := WithImpostorLog(context.Background())
	r := execProbe(ctx, sp)
	if _, err := os.Stat(proof); err == nil || r.Answered {
		t.Errorf("an attacker's probe ran as root: %s", r.Detail)
	}
	if len(log.List()) == 0 {
		t.Errorf("no impostor noted: the refusal could read as a refusal by the daemon (%s)", r.Detail)
	}
}
