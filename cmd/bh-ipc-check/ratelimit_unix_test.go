//go:build unix

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
	"strconv"
	"strings"
	"syscall"
	"testing"
)

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
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as uid 1001; run as root: sudo go test ./cmd/bh-ipc-check/ (CI runs as root)")
	}
	bin := buildCLI(t)
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
	// Read to EOF (the daemon's exit) before Wait, which closes the pipe
	// and would cut off the last lines: the count flushed at shutdown.
	log := <-rest
	if err := d.Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}
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
