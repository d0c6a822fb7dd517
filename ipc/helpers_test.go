package ipc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/internal/fsx"
	"github.com/org/bh-ipc-check/internal/testenv"
)

// helperEnv selects a helper mode when the test binary is re-executed as a
// child process (another process, and as root another uid).
const helperEnv = "BH_IPC_TEST_HELPER"

func TestMain(m *testing.M) {
	// No process a test starts outlives this test binary (a helper
	// carries the token and does nothing here).
	testenv.Reap()
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

// runHelper runs one child-process mode; arg is its single argument.
func runHelper(mode, arg string) int {
	switch mode {
	case "hold":
		// Listen on endpoint "held" under root arg and serve until killed.
		ln, err := Listen(context.Background(), "held", WithRoot(arg))
		if err != nil {
			fmt.Println("error", err)
			return 3
		}
		fmt.Println("ready", os.Getpid())
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := Serve(ctx, ln, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "connect-read":
		// Connect to the socket at arg, send a ping, report what came back.
		c, err := net.Dial("unix", arg)
		if err != nil {
			fmt.Println("dial-error", err)
			return 0
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(`{"meta":"ping"}` + "\n"))
		b, err := io.ReadAll(c)
		fmt.Printf("read %d bytes %q err=%v\n", len(b), b, err)
		return 0
	case "serve-plain":
		// A server with no checks at socket path arg, mode 0666.
		os.Remove(arg)
		ln, err := net.Listen("unix", arg)
		if err != nil {
			fmt.Println("error", err)
			return 3
		}
		os.Chmod(arg, 0o666)
		fmt.Println("ready", os.Getpid())
		for {
			c, err := ln.Accept()
			if err != nil {
				return 0
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					fmt.Fprintf(c, `{"pong":true,"pid":%d}`+"\n", os.Getpid())
				}
			}()
		}
	}
	if f, ok := platformHelpers[mode]; ok {
		return f(arg)
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// platformHelpers are further helper modes registered by platform test
// files (init), keyed by mode.
var platformHelpers = map[string]func(arg string) int{}

// child is a helper process started by startHelper.
type child struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

// startHelper re-executes the test binary (or exe when set) in mode with
// arg, with attr (as root: Credential to run as another uid), and waits for its first output line.
// The process is killed and reaped in t.Cleanup.
func startHelper(t testing.TB, exe, mode, arg string, attr *syscall.SysProcAttr) (*child, string) {
	t.Helper()
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(exe, "-test.run=^$", arg)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = attr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper %s: %v", mode, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := &child{cmd: cmd, out: bufio.NewReader(stdout)}
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper %s: no first line: %v", mode, err)
	}
	return c, strings.TrimSpace(line)
}

// shortRoot makes a fresh root with a short path (t.TempDir() can exceed
// sun_path on macOS) and the given mode, removed in t.Cleanup. As root it
// goes where other uids can reach it (testTempBase). A numeric sticky bit
// (0o1777) is made os.ModeSticky: os.Chmod ignores the 0o1000 bit.
func shortRoot(t testing.TB, mode os.FileMode) string {
	t.Helper()
	d, err := os.MkdirTemp(testTempBase(t), "ipc")
	if err != nil {
		t.Fatal(err)
	}
	if mode&0o1000 != 0 {
		mode = mode&^0o1000 | os.ModeSticky
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsx.RemoveTree(d) }) // not os.RemoveAll: it fails under Wine
	return d
}

// testTempBase is where shortRoot makes its directories: os.TempDir(), or
// /tmp when root's $TMPDIR or an ancestor is not searchable by other uids
// (root's $TMPDIR on macOS is the invoking user's 0700 directory), since
// the tests run helpers and daemons as other uids there.
func testTempBase(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return os.TempDir()
	}
	base, err := fsx.TempDirFor(fsx.NobodyUID)
	if err != nil {
		t.Fatalf("no temporary directory other uids can reach: %v", err)
	}
	return base
}

// otherUIDExe copies the test binary somewhere every uid can execute it
// (go test's build directory is private to us).
func otherUIDExe(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := shortRoot(t, 0o755)
	dst := filepath.Join(dir, "ipc.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// pingServe serves ln until the test ends; it returns a func that reports
// how many non-ping requests the handler saw.
func pingServe(t testing.TB, ln *Listener) func() int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	handled := make(chan struct{}, 1<<16)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, HandlerFunc(func(ctx context.Context, req json.RawMessage) (any, error) {
			handled <- struct{}{}
			return map[string]any{"ok": true}, nil
		}))
	}()
	t.Cleanup(func() {
		cancel()
		// A test may Close the listener itself first: Serve then reports
		// net.ErrClosed, which is expected here.
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return func() int { return len(handled) }
}

// mustPing dials name and pings it.
func mustPing(t testing.TB, name string, opts ...Option) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, name, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	defer c.Close()
	pid, err := c.Identify(ctx)
	if err != nil {
		t.Fatalf("ping %s: %v", name, err)
	}
	return pid
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
