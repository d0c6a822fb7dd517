package matrix

// The attacks of "the suite is safe to run as root" as tests: each runs a
// real attacker process as another uid (this test binary re-executed in an
// attacker mode, under SysProcAttr.Credential), bounded in time, racing a
// real run of the suite as root, and checks what the attacker wanted did
// not happen. They use only the package's long-standing API, so the same
// file runs against older code.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// attackEnv selects the attacker mode when this test binary is executed
// by the tests below; attackArgEnv carries its JSON argument.
const (
	attackEnv    = "BH_TEST_ATTACK"
	attackArgEnv = "BH_TEST_ATTACK_ARG"
)

// attackDeadline bounds every attacker process.
const attackDeadline = 90 * time.Second

func init() {
	mode := os.Getenv(attackEnv)
	if mode == "" {
		return
	}
	var err error
	switch mode {
	case "slowdaemon":
		err = slowDaemon(os.Args[1:])
	case "squat":
		err = attackSquat()
	case "swapdelete":
		err = attackSwapDelete()
	case "envleak":
		err = attackEnvLeak()
	case "rename":
		err = attackRename()
	case "forgereply":
		err = attackForgeReply()
	case "withdraw":
		err = attackWithdraw()
	case "chmodplant":
		err = attackChmodPlant()
	case "keepdrop":
		err = attackKeepDrop()
	case "slowexec":
		err = slowExec(os.Args[1:])
	case "drop":
		err = attackDrop()
	case "v6squat":
		err = attackV6Squat()
	case "precreate":
		err = attackPrecreate()
	default:
		err = fmt.Errorf("unknown attack %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type attackArg struct {
	Dir    string `json:"dir"`    // the runs' temporary directory
	Slug   string `json:"slug"`   // scenario directory suffix, e.g. auth-peercred
	Name   string `json:"name"`   // endpoint name
	Target string `json:"target"` // the file or directory the attacker aims at
	Marker string `json:"marker"` // the secret it looks for
}

func readAttackArg() (attackArg, error) {
	var a attackArg
	err := json.Unmarshal([]byte(os.Getenv(attackArgEnv)), &a)
	return a, err
}

// scenarioRoots lists the roots of the scenario directories named a.Slug
// (the scenario's sequence number, "01" for a run's first scenario; "00"
// is the preflight's) in every run under a.Dir.
func scenarioRoots(a attackArg) []string {
	m, _ := filepath.Glob(filepath.Join(a.Dir, stage.RunDirPrefix+"*", a.Slug, "root"))
	return m
}

// firstScenario is the directory of a run's first scenario (stage.ScenarioDirs).
const firstScenario = "01"

// stdinClosed is closed when the test closes the attacker's stdin: time
// to stop.
func stdinClosed() chan struct{} {
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
	return stop
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// slowDaemon waits until the path in $BH_TEST_WAIT_FOR exists (at most
// 20 s), then becomes the reference daemon: the attacker gets to the
// scenario's root first, as a fast attacker would on a busy host, however
// busy this one is. args: CLI root name transport.
func slowDaemon(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("slowdaemon: want CLI ROOT NAME TRANSPORT, got %q", args)
	}
	// Only in the attacked scenario: the preflight's start (in "00") must
	// answer at once, or the run stops before any scenario.
	if filepath.Base(filepath.Dir(args[1])) != firstScenario {
		return syscall.Exec(args[0], []string{args[0], "daemon", "--root", args[1], "--name", args[2], "--transport", args[3]}, os.Environ())
	}
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Lstat(os.Getenv("BH_TEST_WAIT_FOR")); err == nil {
			break
		}
	}
	return syscall.Exec(args[0], []string{args[0], "daemon", "--root", args[1], "--name", args[2], "--transport", args[3]}, os.Environ())
}

// attackSquat (issue 10, attack 2): in each new scenario root, pre-create
// the endpoint directory with a listening socket of its own and answer the
// suite's pings as the daemon; just before the first answer, turn sock
// into a symlink to the target, so that a suite that chmods the socket by
// path as root chmods the target.
func attackSquat() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	done := map[string]bool{}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	stop := stdinClosed()
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		for _, root := range scenarioRoots(a) {
			if done[root] {
				continue
			}
			dir := filepath.Join(root, "bu-"+a.Name+".d")
			if err := os.Mkdir(dir, 0o755); err != nil {
				if errors.Is(err, os.ErrExist) {
					done[root] = true // the daemon was first
					fmt.Fprintln(os.Stderr, "squat:", err)
				}
				continue // the root is not open to others yet: retry
			}
			done[root] = true
			sock := filepath.Join(dir, "sock")
			l, err := net.Listen("unix", sock)
			if err != nil {
				fmt.Fprintln(os.Stderr, "squat:", err)
				continue
			}
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			os.Chmod(sock, 0o777)
			ls = append(ls, l)
			var once sync.Once
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					// Tells slowDaemon the suite has come to the squatter.
					os.WriteFile(filepath.Join(dir, "seen"), nil, 0o644)
					go func() {
						defer c.Close()
						c.SetDeadline(time.Now().Add(10 * time.Second))
						buf := make([]byte, 4096)
						for {
							n, err := c.Read(buf)
							if n > 0 {
								once.Do(func() {
									os.Remove(sock)
									os.Symlink(a.Target, sock)
								})
								reply := `{"error":"no"}`
								if strings.Contains(string(buf[:n]), "ping") {
									reply = fmt.Sprintf(`{"pong":true,"pid":%d}`, os.Getpid())
								}
								c.Write([]byte(reply + "\n"))
							}
							if err != nil {
								return
							}
						}
					}()
				}
			}()
		}
	}
	return nil
}

// attackSwapDelete (issue 10, attack 3): in each new scenario root, make
// directories a-0 ... a-7 holding the target's name and a large b/; once b
// starts to disappear (the suite's final clean-up has begun), swap every
// a-N still there for a symlink to the target's directory, so that a
// clean-up that removes by path unlinks the target. (Several a-N: a
// remover that works in directory order may reach b before some of them.)
func attackSwapDelete() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	const filler, decoys = 400, 8
	type planted struct{ root, trigger string }
	var roots []planted
	seen := map[string]bool{}
	for end := time.Now().Add(attackDeadline); time.Now().Before(end); {
		for _, root := range scenarioRoots(a) {
			if seen[root] {
				continue
			}
			if err := os.Mkdir(filepath.Join(root, "b"), 0o755); err != nil {
				continue // the root is not open to others yet: retry
			}
			seen[root] = true
			for i := range decoys {
				d := filepath.Join(root, fmt.Sprintf("a-%d", i))
				os.Mkdir(d, 0o755)
				os.WriteFile(filepath.Join(d, filepath.Base(a.Target)), []byte("mine"), 0o644)
			}
			for i := range filler {
				os.WriteFile(filepath.Join(root, "b", fmt.Sprintf("f-%04d", i)), nil, 0o644)
			}
			roots = append(roots, planted{root, filepath.Join(root, "b", fmt.Sprintf("f-%04d", filler-1))})
			fmt.Println("planted", root)
		}
		for i := 0; i < len(roots); i++ {
			p := roots[i]
			if _, err := os.Lstat(p.trigger); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			roots = append(roots[:i], roots[i+1:]...)
			i--
			for j := range decoys {
				d := filepath.Join(p.root, fmt.Sprintf("a-%d", j))
				if os.Rename(d, d+"-moved") == nil && os.Symlink(filepath.Dir(a.Target), d) == nil {
					fmt.Println("swapped", d)
				}
			}
		}
		if len(seen) > 0 && len(roots) == 0 {
			return nil
		}
	}
	return nil
}

// attackRename (issue 10, attack 1): rename the daemon's endpoint
// directory out of each new scenario root, which a sticky root forbids.
func attackRename() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	done := map[string]bool{}
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && len(done) == 0; time.Sleep(time.Millisecond) {
		for _, root := range scenarioRoots(a) {
			dir := filepath.Join(root, "bu-"+a.Name+".d")
			if done[root] {
				continue
			}
			if _, err := os.Lstat(dir); err != nil {
				continue
			}
			done[root] = true
			if err := os.Rename(dir, filepath.Join(root, "stolen")); err != nil {
				fmt.Println("rename refused:", err)
			} else {
				fmt.Println("renamed", dir)
			}
		}
	}
	return nil
}

// attackEnvLeak (issue 10, attack 4): read every process's cmdline and
// environ it may read, until its stdin closes, and print where it saw the
// marker.
func attackEnvLeak() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	stop := stdinClosed()
	found := map[string]bool{}
	for n, end := 0, time.Now().Add(attackDeadline); time.Now().Before(end); n++ {
		if n == 1 {
			fmt.Println("ready") // after one full scan
		}
		select {
		case <-stop:
			for f := range found {
				fmt.Println(f)
			}
			return nil
		default:
		}
		pids, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range pids {
			// Only processes started after it (the run's), and not itself:
			// its own argument holds the marker.
			if pid, err := strconv.Atoi(filepath.Base(p)); err != nil || pid <= os.Getpid() {
				continue
			}
			for _, f := range []string{"cmdline", "environ"} {
				if b, err := os.ReadFile(filepath.Join(p, f)); err == nil && bytes.Contains(b, []byte(a.Marker)) {
					found[fmt.Sprintf("%s/%s: %.200q", p, f, b)] = true
				}
			}
		}
	}
	for f := range found {
		fmt.Println(f)
	}
	return nil
}

// attackTest holds what the attack tests share: a directory of their own
// for the runs (so attackers never touch other runs on the host) and the
// test binary copied where other uids can execute it.
type attackTest struct {
	t      *testing.T
	tmp    string // TMPDIR of the run
	bin    string // this test binary, runnable by any uid
	ctx    context.Context
	cancel func()
}

func newAttackTest(t *testing.T) *attackTest {
	t.Helper()
	needBins(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the attacker runs as another uid and the suite as root; run: sudo go test ./matrix -run TestAttack")
	}
	tmp, err := os.MkdirTemp("", "bh-attack-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := selfForOtherUIDs(t, tmp)
	t.Setenv("TMPDIR", tmp) // the run directory goes here
	ctx, cancel := context.WithTimeout(context.Background(), attackDeadline+30*time.Second)
	t.Cleanup(cancel)
	return &attackTest{t: t, tmp: tmp, bin: bin, ctx: ctx, cancel: cancel}
}

// victim makes a root-owned 0600 file in a 0755 directory only root can
// write, outside the run.
func (at *attackTest) victim() string {
	at.t.Helper()
	d, err := os.MkdirTemp("", "bh-victim-")
	if err != nil {
		at.t.Fatal(err)
	}
	at.t.Cleanup(func() { os.RemoveAll(d) })
	os.Chmod(d, 0o755)
	p := filepath.Join(d, "secret")
	if err := os.WriteFile(p, []byte("root's\n"), 0o600); err != nil {
		at.t.Fatal(err)
	}
	return p
}

// slowTarget is the reference daemon started once the attacker has made
// waitFor (a template: {root}, {name}) (slowDaemon).
func (at *attackTest) slowTarget(waitFor string) Target {
	return Target{
		Cmd:      []string{at.bin, bins.cli, "{root}", "{name}", "{transport}"},
		Env:      []string{attackEnv + "=slowdaemon", "BH_TEST_WAIT_FOR=" + waitFor},
		Socket:   DefaultSocketTemplate,
		Protocol: ProtocolIPC,
	}
}

type attacker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   chan string // everything after its "ready" line, once it ends
	err   bytes.Buffer
}

// start runs this binary in attack mode as uid, with nothing of the
// caller's environment.
func (at *attackTest) start(uid int, mode string, a attackArg) *attacker {
	at.t.Helper()
	arg, _ := json.Marshal(a)
	cmd := exec.CommandContext(at.ctx, at.bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", attackEnv + "=" + mode, attackArgEnv + "=" + string(arg)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	cmd.Dir = "/"
	atk := &attacker{cmd: cmd, out: make(chan string, 1)}
	cmd.Stderr = &atk.err
	var err error
	if atk.stdin, err = cmd.StdinPipe(); err != nil {
		at.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		at.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		at.t.Fatal(err)
	}
	at.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		var rest strings.Builder
		buf := make([]byte, 4096)
		first := true
		for {
			n, err := stdout.Read(buf)
			rest.Write(buf[:n])
			if first && strings.Contains(rest.String(), "ready\n") {
				first = false
				s := strings.Replace(rest.String(), "ready\n", "", 1)
				rest.Reset()
				rest.WriteString(s)
				ready <- true
			}
			if err != nil {
				break
			}
		}
		if first {
			ready <- false
		}
		atk.out <- rest.String()
	}()
	select {
	case ok := <-ready:
		if !ok {
			at.t.Fatalf("attacker %s ended before it was ready: %s", mode, atk.err.String())
		}
	case <-time.After(30 * time.Second):
		at.t.Fatalf("attacker %s not ready within 30 s", mode)
	}
	return atk
}

// stop closes the attacker's stdin, waits for it (killing it when it
// does not end within a few seconds) and returns its output.
func (atk *attacker) stop() string {
	atk.stdin.Close()
	// Its output to EOF (its exit) first: Wait closes the pipe, and would
	// cut off what it printed last.
	var out string
	select {
	case out = <-atk.out:
	case <-time.After(5 * time.Second):
		atk.cmd.Process.Kill()
		out = <-atk.out
	}
	atk.cmd.Wait()
	return strings.TrimSpace(out + atk.err.String())
}

func (at *attackTest) run(target Target, scenarios string) Report {
	at.t.Helper()
	return at.runDaemonAs(target, scenarios, -1)
}

// daemonUIDForRaces is a daemon uid other than root's: a scenario root is
// opened to other uids when such a daemon starts (OpenRoot), so attackers
// can race its start; a root daemon's root stays private until it is
// ready.
const daemonUIDForRaces = 23502

// runDaemonAs is run with the daemon as DaemonUID (-1: the suite's).
func (at *attackTest) runDaemonAs(target Target, scenarios string, daemonUID int) Report {
	at.t.Helper()
	sc, err := Select(scenarios)
	if err != nil {
		at.t.Fatal(err)
	}
	rep, err := Run(at.ctx, Config{Exe: bins.cli, Target: target, Scenarios: sc, DaemonUID: daemonUID, AttackerUID: -1, Timeout: 30 * time.Second})
	if err != nil {
		at.t.Fatal(err)
	}
	return rep
}

func resultOf(t *testing.T, rep Report, id string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no result for %s", id)
	return Result{}
}

// Attack 2: an attacker squats the endpoint, answers the suite's readiness
// ping, and turns sock into a symlink to a root-owned file just before
// answering. The suite must not chmod the file, and must not report the
// daemon as tested.
func TestAttackSquatterCannotMakeRootChmod(t *testing.T) {
	at := newAttackTest(t)
	victim := at.victim()
	atk := at.start(31337, "squat", attackArg{Dir: at.tmp, Slug: firstScenario, Name: DefaultName, Target: victim})
	rep := at.runDaemonAs(at.slowTarget("{root}/bu-{name}.d/seen"), "auth.peercred", daemonUIDForRaces)
	out := atk.stop()
	r := resultOf(t, rep, "auth.peercred")
	t.Logf("auth.peercred: %s: %s\n  %s\nattacker: %s", r.Status, r.Reason, strings.Join(r.Evidence, "\n  "), out)
	fi, err := os.Lstat(victim)
	if err != nil {
		t.Fatalf("victim: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("root chmodded %s to %v through the attacker's symlink", victim, fi.Mode().Perm())
	}
	if r.Status == Pass {
		t.Errorf("auth.peercred passed with an impostor answering for the daemon")
	}
	if r.Status != "error" || !strings.Contains(r.Reason, "uid 31337") {
		t.Errorf("auth.peercred: %s %q; want error naming the impostor's uid 31337", r.Status, r.Reason)
	}
}

// Attack 3: an attacker swaps a directory it made in a scenario root for a
// symlink to a root-only directory while the suite removes the run. The
// clean-up must not unlink what the link points to.
func TestAttackSwapCannotMakeRootDelete(t *testing.T) {
	at := newAttackTest(t)
	victim := at.victim()
	atk := at.start(31337, "swapdelete", attackArg{Dir: at.tmp, Slug: firstScenario, Target: victim})
	rep := at.run(at.slowTarget("{root}/b/f-0399"), "proto.idle-connections")
	time.Sleep(200 * time.Millisecond)
	out := atk.stop()
	t.Logf("proto.idle-connections: %s; attacker: %s", resultOf(t, rep, "proto.idle-connections").Status, out)
	if !strings.Contains(out, "planted") {
		t.Errorf("the attacker never planted its directories: %s", out)
	}
	if !strings.Contains(out, "swapped") {
		// os.RemoveAll may have emptied every a-N before b: no race this time.
		t.Logf("the clean-up reached no a-N after b, so the attacker swapped nothing this time")
	}
	if _, err := os.Lstat(victim); err != nil {
		t.Errorf("root removed %s through the attacker's symlink: %v", victim, err)
	}
}

// Attack 4: a secret in the suite's environment and in the daemon's --env
// must not be readable by another uid in any process's cmdline or environ
// during a run (the attacker runs as the run's attacker uid, so it may
// read its own helpers' environ).
func TestAttackOtherUIDSeesNoSecret(t *testing.T) {
	at := newAttackTest(t)
	marker := "bh-secret-" + fmt.Sprint(time.Now().UnixNano())
	t.Setenv("BH_TEST_SECRET", marker)
	atk := at.start(DefaultAttackerUID, "envleak", attackArg{Marker: marker})
	target := BuiltinTarget()
	target.Env = []string{"BH_TEST_SECRET_ENV=" + marker + "-env"}
	rep := at.run(target, "dir.*,auth.*,tcp.portfile-private")
	out := atk.stop()
	for _, r := range rep.Results {
		t.Logf("%s: %s", r.ID, r.Status)
	}
	if out != "" {
		t.Errorf("uid %d read the secret during the run:\n%s", DefaultAttackerUID, out)
	}
}

// Attack 1: another uid renames the daemon's endpoint directory out of the
// scenario root (and could then put its own in place). A sticky root, like
// /tmp, lets only the owner rename an entry.
func TestAttackRenameOutOfScenarioRoot(t *testing.T) {
	at := newAttackTest(t)
	// load.concurrent keeps the daemon, and its directory, for a while.
	atk := at.start(31337, "rename", attackArg{Dir: at.tmp, Slug: firstScenario, Name: DefaultName})
	rep := at.run(BuiltinTarget(), "load.concurrent")
	out := atk.stop()
	t.Logf("load.concurrent: %s; attacker: %s", resultOf(t, rep, "load.concurrent").Status, out)
	if strings.Contains(out, "renamed") {
		t.Errorf("uid 31337 renamed the daemon's endpoint directory: %s", out)
	}
	if !strings.Contains(out, "rename refused") && !strings.Contains(out, "renamed") {
		t.Errorf("the attacker never tried: %s", out)
	}
}
