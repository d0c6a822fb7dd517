package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reaperLaunchEnv is set in the launcher only: the process that starts the
// reaper and exits, so that the reaper is nobody's child but init's (see
// startReaper).
const reaperLaunchEnv = "BH_TEST_REAPER_LAUNCH"

// reaperPipes are this process's ends of the reaper's two pipes, held for
// the process's whole life (a package variable: no finalizer closes them).
// Closing ctl, which only this process's exit does, is what the reaper
// waits for.
var reaperPipes struct {
	mu  sync.Mutex
	ctl *os.File // write end: a byte asks for a look now
	ack *os.File // read end: a byte for each look done
}

// startReaper starts the reaper through a launcher that exits at once:
// the reaper is then re-parented to init, not a child of this process,
// so code that watches this process's children (the matrix suite, a child
// subreaper, counts them) never meets it.
func startReaper() error {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	token := hex.EncodeToString(b)
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return err
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return err
	}
	// /proc/self/exe: this test binary, even if its file was removed.
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(withoutEnv(os.Environ(), reapEnv), reaperEnv+"="+strconv.Itoa(os.Getpid())+":"+token, reaperLaunchEnv+"=1")
	// fds 3 and 4 of the launcher, passed on to the reaper. Its stderr is
	// ours, so what it says goes where the test output goes; its stdin and
	// stdout are /dev/null.
	cmd.ExtraFiles = []*os.File{ctlR, ackW}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Run()
	ctlR.Close()
	ackW.Close()
	if err != nil {
		ctlW.Close()
		ackR.Close()
		return fmt.Errorf("starting the reaper: %w", err)
	}
	reaperPipes.ctl, reaperPipes.ack = ctlW, ackR
	return os.Setenv(reapEnv, token)
}

// lookNow asks the reaper to look at this process's descendants now and
// waits until it has: a test uses it to know that a process it started
// was seen.
func lookNow() error {
	reaperPipes.mu.Lock()
	defer reaperPipes.mu.Unlock()
	if reaperPipes.ctl == nil {
		return errors.New("no reaper runs for this process")
	}
	if _, err := reaperPipes.ctl.Write([]byte{1}); err != nil {
		return err
	}
	_, err := reaperPipes.ack.Read(make([]byte, 1))
	return err
}

func withoutEnv(env []string, key string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
}

// runReaper is the reaper's (or its launcher's) main; v is reaperEnv's
// value.
func runReaper(v string) int {
	if os.Getenv(reaperLaunchEnv) != "" {
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = withoutEnv(os.Environ(), reaperLaunchEnv)
		cmd.ExtraFiles = []*os.File{os.NewFile(3, "reaper-ctl"), os.NewFile(4, "reaper-ack")}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: starting the reaper: %v\n", err)
			return 1
		}
		return 0
	}
	pid, token, _ := strings.Cut(v, ":")
	watched, err := strconv.Atoi(pid)
	if err != nil || token == "" {
		fmt.Fprintf(os.Stderr, "testenv: reaper: bad %s=%q\n", reaperEnv, v)
		return 2
	}
	r := &reaper{watched: watched, token: token, seen: map[procRef]string{}}
	r.watch(os.NewFile(3, "reaper-ctl"), os.NewFile(4, "reaper-ack"))
	r.reap()
	return 0
}

// reaper is the state of the watch over one test binary.
type reaper struct {
	watched int
	token   string
	// seen are the processes found below watched at a look (and not gone
	// at a later one), with their names.
	seen map[procRef]string
}

// procRef names a process across pid reuse: its pid and start time.
type procRef struct {
	pid   int
	start uint64
}

// procStat is what /proc/<pid>/stat says that the reaper uses.
type procStat struct {
	ppid   int
	start  uint64
	comm   string
	zombie bool
}

// watch looks below the watched process once a second, and when asked on
// ctl (answering on ack), until ctl reads EOF: the watched process ended.
func (r *reaper) watch(ctl, ack *os.File) {
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		b := make([]byte, 1)
		for {
			if _, err := ctl.Read(b); err != nil {
				return
			}
			asked <- struct{}{}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.look()
		select {
		case _, ok := <-asked:
			if !ok {
				return
			}
			r.look()
			ack.Write([]byte{1}) // best effort: the asker may be gone
		case <-tick.C:
		}
	}
}

// look records every process below the watched one, except a subtree
// whose root carries another token (another test binary's, or one started
// to outlive the test), and forgets recorded processes that have gone.
func (r *reaper) look() {
	procs := readProcs()
	for ref := range r.seen {
		if p, ok := procs[ref.pid]; !ok || p.start != ref.start || p.zombie {
			delete(r.seen, ref)
		}
	}
	for _, pid := range r.below(procs, []int{r.watched}) {
		r.seen[procRef{pid, procs[pid].start}] = procs[pid].comm
	}
}

// below are the live processes under roots in procs, not entering a
// process that carries another token.
func (r *reaper) below(procs map[int]procStat, roots []int) []int {
	kids := map[int][]int{}
	for pid, p := range procs {
		kids[p.ppid] = append(kids[p.ppid], pid)
	}
	var out []int
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, k := range kids[pid] {
			if procs[k].zombie || k == os.Getpid() || r.otherToken(k) {
				continue
			}
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// token reads process pid's reapEnv: its value and whether it has one;
// ok is false when the environment cannot be read (another uid's without
// CAP_SYS_PTRACE, or gone).
func envToken(pid int) (value string, has, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return "", false, false
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, found := bytes.CutPrefix(kv, []byte(reapEnv+"=")); found {
			return string(v), true, true
		}
	}
	return "", false, true
}

func (r *reaper) otherToken(pid int) bool {
	v, has, ok := envToken(pid)
	return ok && has && v != r.token
}

// victims are the live processes the watched one left: those that carry
// its token, those seen below it, and everything below those.
func (r *reaper) victims(procs map[int]procStat) []int {
	var roots []int
	for pid, p := range procs {
		if p.zombie || pid == os.Getpid() || pid == 1 {
			continue
		}
		if _, seen := r.seen[procRef{pid, p.start}]; seen {
			roots = append(roots, pid)
		} else if v, has, _ := envToken(pid); has && v == r.token {
			roots = append(roots, pid)
		}
	}
	out := append(roots, r.below(procs, roots)...)
	slices.Sort(out)
	return slices.Compact(out)
}

// reap stops what the watched process left: SIGTERM first (a go command
// removes its work directory, the CLI its daemons), then SIGKILL for what
// is still there after a grace, then says what it stopped.
func (r *reaper) reap() {
	stopped := map[procRef]string{}
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL, unix.SIGKILL} {
		procs := readProcs()
		victims := r.victims(procs)
		if len(victims) == 0 {
			break
		}
		var refs []procRef
		for _, pid := range victims {
			ref := procRef{pid, procs[pid].start}
			if signalRef(ref, sig) {
				refs = append(refs, ref)
				stopped[ref] = procs[pid].comm
			}
		}
		waitGone(refs, 3*time.Second)
	}
	if len(stopped) == 0 {
		return
	}
	var names []string
	for ref, comm := range stopped {
		names = append(names, fmt.Sprintf("%d (%s)", ref.pid, comm))
	}
	slices.Sort(names)
	var left []string
	procs := readProcs()
	for _, pid := range r.victims(procs) {
		left = append(left, fmt.Sprintf("%d (%s)", pid, procs[pid].comm))
	}
	fmt.Fprintf(os.Stderr, "testenv: test binary pid %d ended; its reaper stopped what it left running: %s\n", r.watched, strings.Join(names, ", "))
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "testenv: still running after SIGKILL: %s\n", strings.Join(left, ", "))
	}
}

// signalRef sends sig to the process ref names, if it is still that one.
// Race point: the pid may have been reused since it was read. The pidfd
// names the process that has the pid when it is opened; the start time
// read after that is that process's (or the pid is free), so a reused pid
// is refused here and a pidfd signal can reach no other process.
func signalRef(ref procRef, sig unix.Signal) bool {
	fd, err := unix.PidfdOpen(ref.pid, 0)
	if errors.Is(err, unix.ENOSYS) {
		// Kernels before 5.3: the check and the kill are apart (a pid
		// reused between them, within microseconds, would be signalled).
		if p, ok := readStat(ref.pid); !ok || p.start != ref.start {
			return false
		}
		return unix.Kill(ref.pid, sig) == nil
	}
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if p, ok := readStat(ref.pid); !ok || p.start != ref.start {
		return false
	}
	return unix.PidfdSendSignal(fd, sig, nil, 0) == nil
}

// waitGone waits, up to grace, until every process of refs has ended (a
// zombie has).
func waitGone(refs []procRef, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		alive := false
		for _, ref := range refs {
			if p, ok := readStat(ref.pid); ok && p.start == ref.start && !p.zombie {
				alive = true
				break
			}
		}
		if !alive {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readProcs is every process /proc lists now.
func readProcs() map[int]procStat {
	ents, _ := filepath.Glob("/proc/[0-9]*")
	procs := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(filepath.Base(e))
		if err != nil {
			continue
		}
		if p, ok := readStat(pid); ok {
			procs[pid] = p
		}
	}
	return procs
}

// readStat parses /proc/<pid>/stat: "pid (comm) state ppid ... starttime"
// (comm may hold spaces and parentheses: the fields follow the last ')';
// starttime is field 22, the 20th after it).
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procStat{ppid: ppid, start: start, comm: string(b[open+1 : end]), zombie: f[0] == "Z"}, true
}
