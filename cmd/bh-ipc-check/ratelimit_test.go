package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
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

// floodEnv makes the test binary a flood helper: connect to the socket it
// names again and again (see TestFloodHelper).
const floodEnv = "BH_CLI_TEST_FLOOD"

// TestFloodHelper is not a test: TestDaemonRejectLogRateLimited runs the
// test binary as another uid with floodEnv set, and this connects to the
// daemon's socket floodConnects times, reading each connection to its end.
func TestFloodHelper(t *testing.T) {
	sock := os.Getenv(floodEnv)
	if sock == "" {
		t.Skip("helper process of TestDaemonRejectLogRateLimited (run that test as root)")
	}
	n := 0
	for range floodConnects {
		c, err := net.Dial("unix", sock)
		if err != nil {
			fmt.Println("dial error", err)
			os.Exit(1)
		}
		io.Copy(io.Discard, c)
		c.Close()
		n++
	}
	fmt.Println("done", n)
	os.Exit(0)
}

const floodConnects = 300

// The reference daemon under a flood of connections from another uid logs
// the first few rejections in full and counts the rest.
func TestDaemonRejectLogRateLimited(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("peer uids are POSIX; the windows leg covers the tcp daemon")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as uid 1001; run as root: sudo go test ./cmd/bh-ipc-check/ (CI runs as root)")
	}
	bin := filepath.Join(t.TempDir(), "bh-ipc-check")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	// The test binary, where uid 1001 can run it.
	pub, err := os.MkdirTemp("", "cli")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(pub)
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	flooder := filepath.Join(pub, "cli.test")
	if err := os.WriteFile(flooder, b, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(pub, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	d := exec.Command(bin, "daemon", "--name", "flood", "--root", root, "--transport", "unix")
	stderr, _ := d.StderrPipe()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Process.Kill()
	br := bufio.NewReader(stderr)
	if first, _ := br.ReadString('\n'); !strings.Contains(first, "listening on") {
		t.Fatalf("daemon said %q", first)
	}
	rest := make(chan string, 1)
	go func() { b, _ := io.ReadAll(br); rest <- string(b) }()
	// Loosen what the filesystem guards, so that uid 1001 reaches the
	// socket and only the peer check stands.
	dir, sock := filepath.Join(root, "bu-flood.d"), filepath.Join(root, "bu-flood.d", "sock")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	f := exec.Command(flooder, "-test.run=^TestFloodHelper$")
	f.Env = []string{floodEnv + "=" + sock}
	f.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1001, Gid: 1001}}
	out, err := f.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprint("done ", floodConnects)) {
		t.Fatalf("flood as uid 1001: %v\n%s", err, out)
	}
	d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}
	log := <-rest
	full := len(regexp.MustCompile(`(?m)daemon\[\d+\]: rejected: `).FindAllString(log, -1))
	total := full
	for _, m := range regexp.MustCompile(`rejected (\d+) more connections`).FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	lines := strings.Count(log, "\n")
	if full > 3*rejectLogBurst || lines > 4*rejectLogBurst || total != floodConnects {
		t.Errorf("%d rejections as uid 1001: %d lines, %d in full, %d accounted for; want a few in full and the rest counted:\n%s", floodConnects, lines, full, total, log)
	}
}
