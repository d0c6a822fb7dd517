package scenario

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
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// setuidBlockers are setuid-root programs that, run by an ordinary uid
// with a pipe as stdin, print a password prompt and wait reading stdin: as
// long as the pipe stays open, the process that exec'd one is root's in
// /proc and alive. Tried in order; the first that prompts is used. None is
// made by the suite: a setuid-root copy of anything would be an escalation
// path if it were left behind.
var setuidBlockers = [][]string{{"su"}, {"passwd"}, {"chfn"}, {"chsh"}, {"newgrp", "root"}, {"sudo", "-S", "-v"}}

// SetuidDirs are where setuidBlockers are looked for.
var SetuidDirs = []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"}

// passwordPrompt is how a setuidBlocker says it waits (su, chfn, chsh and
// newgrp "Password:", passwd "Current password:", sudo "[sudo] password
// for"), under probe.MinimalEnv's C locale.
var passwordPrompt = regexp.MustCompile(`(?i)password`)

// handoffSetupWait bounds each step of the attack's setup (the connector
// handing the connection over, its exec, the program's prompt). A step
// that takes longer ends the scenario with no verdict, never with one.
const handoffSetupWait = 10 * time.Second

// FindSetuidBlockers lists the setuidBlockers present here as an argv
// each (argv[0] the program's resolved path), and why others were passed
// over. Run as the attacker, whose access(2) decides who may execute.
func FindSetuidBlockers() (found [][]string, passed []string) {
	seen := map[string]bool{}
	for _, b := range setuidBlockers {
		for _, d := range SetuidDirs {
			p, err := filepath.EvalSymlinks(filepath.Join(d, b[0]))
			if err != nil || seen[p] {
				continue
			}
			seen[p] = true
			var st unix.Stat_t
			var fs unix.Statfs_t
			switch {
			case unix.Stat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG:
				passed = append(passed, p+": not a regular file")
			case st.Mode&unix.S_ISUID == 0 || st.Uid != 0:
				passed = append(passed, fmt.Sprintf("%s: not setuid root (mode %o, owner uid %d)", p, st.Mode&0o7777, st.Uid))
			case unix.Access(p, unix.X_OK) != nil:
				passed = append(passed, fmt.Sprintf("%s: uid %d may not execute it", p, os.Getuid()))
			case unix.Statfs(p, &fs) == nil && fs.Flags&unix.ST_NOSUID != 0:
				passed = append(passed, p+": on a nosuid mount")
			default:
				found = append(found, append([]string{p}, b[1:]...))
			}
		}
	}
	return found, passed
}

// run makes the attack with the first setuid-root program that blocks.
func (a pidHandoff) run(ctx context.Context) pidHandoffResult {
	var res pidHandoffResult
	if os.Geteuid() == 0 {
		res.Skip = "the attacker runs as root: its connection is root's whatever it execs; give --attacker-uid an unprivileged uid"
		return res
	}
	if nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err == nil && nnp == 1 {
		res.Skip = "the suite runs with no_new_privs (a container started with no-new-privileges?): a setuid program gains nothing, so the connecting process cannot become root's; run the suite without it"
		return res
	}
	progs, passed := FindSetuidBlockers()
	res.Tried = passed
	if len(progs) > 0 {
		if why := connectorUntraceable(a.Connector); why != "" {
			res.Unsure = why
			return res
		}
	}
	for _, argv := range progs {
		r, why := a.try(ctx, a.Connector, argv)
		if why != "" {
			res.Tried = append(res.Tried, argv[0]+": "+why)
			continue
		}
		r.Tried = res.Tried
		return r
	}
	res.Skip = NoSetuidBlocker(os.Getuid(), res.Tried)
	return res
}

// NoSetuidBlocker is the skip when no setuid-root program served uid:
// what was looked for, where, and what was passed over (tried).
func NoSetuidBlocker(uid int, tried []string) string {
	var names []string
	for _, b := range setuidBlockers {
		names = append(names, strings.Join(b, " "))
	}
	why := "none is installed"
	if len(tried) > 0 {
		why = strings.Join(tried, "; ")
	}
	return fmt.Sprintf("no setuid-root program here waits on a pipe for uid %d's password (looked for %s in %s: %s); install one the attacker uid can run (Debian: util-linux's su, or passwd) to run it", uid, strings.Join(names, ", "), strings.Join(SetuidDirs, " "), why)
}

// connectorUntraceable says why the connector, exec'd from exe, could be
// traced by this uid ("" when it cannot). Another process of the
// attacker's uid tracing it (ptrace, pidfd_getfd) could hand over a
// connection of its own making, one whose connecting process never
// became root's, and so turn a daemon's flaw into a pass. The kernel
// makes a process non-dumpable from its exec when its executable is not
// readable by it (fs/exec.c would_dump: dumpable becomes
// fs.suid_dumpable), and a fork inherits this helper's non-dumpable mm
// until then: with exe unreadable and fs.suid_dumpable not 1, no process
// of this uid can trace the connector at any instant.
func connectorUntraceable(exe string) string {
	if exe == "" {
		return "no connector executable was prepared (the runner copies one when auth.pid-handoff runs as another uid)"
	}
	if unix.Access(exe, unix.R_OK) == nil {
		return fmt.Sprintf("the connector's executable %s is readable by uid %d, which could then trace the connector from its exec", exe, os.Getuid())
	}
	if b, err := os.ReadFile("/proc/sys/fs/suid_dumpable"); err != nil || strings.TrimSpace(string(b)) == "1" {
		return fmt.Sprintf("fs.suid_dumpable is %q (%v): 1 leaves every process traceable by its uid, the connector included; run with fs.suid_dumpable 0 or 2", strings.TrimSpace(string(b)), err)
	}
	return ""
}

// try makes the attack with argv. why says why argv did not serve (its
// exec failed, it did not wait for a password, or it did not become
// root's); then r is unused.
func (a pidHandoff) try(ctx context.Context, exe string, argv []string) (r pidHandoffResult, why string) {
	k, err := startConnector(ctx, exe, handoffArg{Sock: a.Spec.Sock, Argv: argv, Limits: a.Limits})
	if k == nil {
		r.Unsure = err.Error()
		return r, ""
	}
	defer k.end()
	r.Program, r.ConnPID, r.TalkPID = argv[0], k.cmd.Process.Pid, os.Getpid()
	var cf *connectFailure
	var ef execFailure
	switch {
	case errors.As(err, &cf):
		// What stopped the connect is the daemon's doing (a refused
		// connect) or no verdict.
		r.Error, r.Refused = cf.Error(), probe.RefusalOf(cf, false)
		if r.Refused == "" {
			r.Unsure = cf.Error()
		}
		return r, ""
	case errors.As(err, &ef):
		return a.endedEarly(k, r, fmt.Sprintf("could not be exec'd (%s)", string(ef)))
	case err != nil:
		r.Unsure = err.Error()
		return r, ""
	}
	// The prompt, printed by the program itself, comes after the exec has
	// committed its credentials (the end of file awaitExec saw may come
	// just before).
	prompted, out, err := k.awaitPrompt(ctx)
	r.Output = out
	if err != nil {
		// Neither a prompt nor an exit: a machine too slow to tell.
		r.Unsure = err.Error()
		return r, ""
	}
	// Race point: the connector is this process's child and is reaped only
	// in end() or killedBy, after which its pid is read no more, so its pid
	// names it (or its zombie) until then and cannot be reused: proc.Alive
	// and procOwner read the connector itself.
	if !prompted || !proc.Alive(r.ConnPID) {
		return a.endedEarly(k, r, fmt.Sprintf("exited instead of waiting on stdin for a password (output %q)", target.OneLine(out, 120)))
	}
	if uid := procOwner(r.ConnPID); uid != 0 {
		return r, fmt.Sprintf("it runs, but /proc/%d is owned by uid %d, not root (a setuid exec that gave no privilege)", r.ConnPID, uid)
	}
	r.ConnectResult = probe.Watched(func() probe.ConnectResult { return talkOn(ctx, k.conn, a.Spec, "the handed-over connection") })
	// The program was alive and root's before the request; still so after
	// the reply, it was throughout: whenever the daemon looked, /proc/<pid>
	// said root.
	if !proc.Alive(r.ConnPID) || procOwner(r.ConnPID) != 0 {
		r.Unsure = fmt.Sprintf("%s (pid %d) exited or was no longer root's by the end of the request (/proc/%d owner %d)", r.Program, r.ConnPID, r.ConnPID, procOwner(r.ConnPID))
	}
	return r, ""
}

// connectFailure is the connector's report that its connect failed,
// with the errno it names (probe.RefusalOf reads it) when it names one.
type connectFailure struct {
	msg   string
	errno syscall.Errno
}

func (f *connectFailure) Error() string { return "connector: " + f.msg }
func (f *connectFailure) Unwrap() error {
	if f.errno == 0 {
		return nil
	}
	return f.errno
}

// execFailure is the connector's report that its exec failed.
type execFailure string

func (f execFailure) Error() string { return string(f) }

// procOwner is the owner of /proc/<pid> (the process's effective uid), -1
// when it cannot be read.
func procOwner(pid int) int {
	var st unix.Stat_t
	if unix.Stat("/proc/"+strconv.Itoa(pid), &st) != nil {
		return -1
	}
	return int(st.Uid)
}

// handoffArg is the connector's instruction, sent on its control socket.
type handoffArg struct {
	Sock string   `json:"sock"`
	Argv []string `json:"argv"`
	// Limits are the suite's resource limits (pidHandoff.Limits).
	Limits []rlimitOf `json:"limits,omitempty"`
}

// connector is the attacker's connecting process as the talking helper
// holds it: the process, the write end of its stdin (held open, so the
// program it became waits on it), its output and the connection it made.
type connector struct {
	cmd   *exec.Cmd
	stdin *os.File
	outR  *os.File
	out   chan []byte
	ctl   *net.UnixConn
	conn  net.Conn
	// waitOnce reaps cmd once; waited is closed then.
	waitOnce sync.Once
	waited   chan struct{}
}

// startConnector starts the connector and takes the connection it makes,
// then waits for its exec. k is nil when the connector could not be
// started; otherwise the caller calls k.end, and err is what stopped the
// connector from connecting or exec'ing (nil when it did both).
func startConnector(ctx context.Context, exe string, arg handoffArg) (k *connector, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control")
	defer mine.Close()
	cmd := exec.Command(exe, stage.HelperCommand, pidHandoffChild)
	cmd.ExtraFiles = []*os.File{theirs} // fd 3: the control socket
	if k, err = startPiped(cmd); err != nil {
		return nil, fmt.Errorf("start the connector: %w", err)
	}
	// Race point: the connector is reported to the suite before it has its
	// instruction, so before it can exec the setuid program. This helper
	// is its uid's to kill at any instant, end() with it; the suite then
	// kills what was reported (helperSide.end), a program its uid stopped
	// too, which would otherwise outlive the run as root's.
	if err := probe.ReportToSuite(ctx, cmd.Process.Pid); err != nil {
		return k, fmt.Errorf("reporting the connector to the suite: %w", err)
	}
	fc, err := net.FileConn(mine)
	if err != nil {
		return k, err
	}
	k.ctl = fc.(*net.UnixConn)
	if err := k.handOver(ctx, arg); err != nil {
		return k, err
	}
	return k, k.awaitExec(ctx)
}

// handOver sends the connector its instruction and receives the
// connection it made.
func (k *connector) handOver(ctx context.Context, arg handoffArg) error {
	k.ctl.SetDeadline(setupDeadline(ctx))
	b, _ := json.Marshal(arg)
	if _, err := k.ctl.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("instruct the connector: %w", err)
	}
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := k.ctl.ReadMsgUnix(buf, oob)
	if err != nil {
		return fmt.Errorf("the connector handed nothing over: %w", err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	var fds []int
	if len(msgs) == 1 {
		fds, _ = unix.ParseUnixRights(&msgs[0])
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		if n == 0 {
			return errors.New("the connector ended without handing anything over or saying why")
		}
		return connectorError(strings.TrimSpace(string(buf[:n])))
	}
	f := os.NewFile(uintptr(fds[0]), "handed-over connection")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return err
	}
	k.conn = c
	return nil
}

// connectorError is the connector's own report of what stopped it
// before it handed a connection over.
func connectorError(msg string) error {
	if !strings.HasPrefix(msg, "connect ") {
		return fmt.Errorf("connector: %s", msg)
	}
	f := &connectFailure{msg: msg}
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.EACCES, syscall.EPERM, syscall.ENOENT, syscall.EAGAIN} {
		if strings.HasSuffix(msg, e.Error()) {
			f.errno = e
		}
	}
	return f
}

// awaitExec waits for the connector's exec: its end of the control socket
// is close-on-exec, so the exec shows as end of file; anything it writes
// first is why the exec failed.
func (k *connector) awaitExec(ctx context.Context) error {
	k.ctl.SetDeadline(setupDeadline(ctx))
	b, err := io.ReadAll(io.LimitReader(k.ctl, 4096))
	if err != nil {
		return fmt.Errorf("waiting for the connector's exec: %w", err)
	}
	if msg := strings.TrimSpace(string(b)); strings.HasPrefix(msg, interferencePrefix) {
		return errors.New(strings.TrimSpace(strings.TrimPrefix(msg, interferencePrefix)))
	} else if len(b) > 0 {
		return execFailure(msg)
	}
	return nil
}

// interferencePrefix starts the connector's report of interference (not
// an exec that failed): no verdict.
const interferencePrefix = "interference:"

func setupDeadline(ctx context.Context) time.Time {
	d := time.Now().Add(handoffSetupWait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		return dl
	}
	return d
}

// readOutput sends the connector's output (its program's) on k.out in
// chunks, and closes k.out at end of file.
func (k *connector) readOutput() {
	defer close(k.out)
	for {
		b := make([]byte, 512)
		n, err := k.outR.Read(b)
		if n > 0 {
			k.out <- b[:n]
		}
		if err != nil {
			return
		}
	}
}

// awaitPrompt waits for the program's password prompt: prompted once it
// printed one, not at the end of its output (it exited); err after
// handoffSetupWait without either. out is what it printed.
func (k *connector) awaitPrompt(ctx context.Context) (prompted bool, out string, err error) {
	t := time.NewTimer(time.Until(setupDeadline(ctx)))
	defer t.Stop()
	var got []byte
	for {
		select {
		case b, ok := <-k.out:
			if !ok {
				return false, string(got), nil
			}
			if got = append(got, b...); passwordPrompt.Match(got) {
				return true, string(got), nil
			}
		case <-t.C:
			return false, string(got), fmt.Errorf("the setuid program neither printed a password prompt nor exited within %s (output %q)", handoffSetupWait, target.OneLine(string(got), 120))
		}
	}
}

// end kills the connector (the program it became: its real uid is still
// ours, so this uid may signal it), reaps it and closes what k holds.
// Killed before its stdin is closed: at end of file the program would
// fail an authentication (and log it) on its way out.
func (k *connector) end() {
	if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		// Not ours to signal after all: the end of its stdin ends it.
		k.stdin.Close()
	}
	k.wait()
	k.stdin.Close()
	k.outR.Close()
	for range k.out {
	}
	if k.ctl != nil {
		k.ctl.Close()
	}
	if k.conn != nil {
		k.conn.Close()
	}
}

// pidHandoffChildMain is the connector, run by the attacker's helper as
// the attacker's uid: it reads its instruction (handoffArg) from fd 3,
// connects to the socket, sends the connection back over fd 3 and execs
// the setuid-root program with the stdin it was given. Its pid is the one
// SO_PEERCRED records for the connection; after the exec, /proc/<that pid>
// is root's. Any failure is written on fd 3 before it exits.
func pidHandoffChildMain() int {
	unix.CloseOnExec(3) // the exec shows to the helper as end of file
	ctl := os.NewFile(3, "control")
	failed := func(format string, a ...any) int {
		fmt.Fprintf(ctl, format+"\n", a...)
		return 1
	}
	// Race point: a process of this uid tracing the connector could hand
	// a connection of its own making in place of this one. The connector
	// is not dumpable from its exec (connectorUntraceable): checked here,
	// so a kernel that made it dumpable ends the attack before it
	// connects. stage.GuardHelper keeps it so and checks its file limit, as for
	// every helper.
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
		return failed("the connector was dumpable (%d, %v) from its exec: its uid could have traced it", d, err)
	}
	if err := stage.GuardHelper(); err != nil {
		return failed("%v", err)
	}
	line, err := bufio.NewReader(ctl).ReadBytes('\n')
	var a handoffArg
	if err != nil || json.Unmarshal(line, &a) != nil || len(a.Argv) == 0 {
		return failed("no instruction on fd 3: %q %v", line, err)
	}
	path, done, err := proc.ReachableSockPath(a.Sock)
	if err != nil {
		return failed("%v", err)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	done()
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return failed("connect %s: %v", a.Sock, errno)
		}
		return failed("connect %s: %v", a.Sock, err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return failed("%v", err)
	}
	var serr error
	raw.Control(func(fd uintptr) {
		serr = unix.Sendmsg(3, []byte("connected\n"), unix.UnixRights(int(fd)), nil, 0)
	})
	if serr != nil {
		return failed("send the connection: %v", serr)
	}
	c.Close() // the helper's copy keeps the connection open
	// Race point: its uid may prlimit the connector at any instant until
	// the exec (a setuid program is out of its reach after it), so that
	// the program ends before its prompt (RLIMIT_AS of a few MB), which
	// would look like a host where it does not prompt. Checked as late as
	// can be; a limit lowered after this check still ends the program
	// early, which pidHandoff.endedEarly makes no verdict.
	if low := LoweredLimits(a.Limits); low != "" {
		return failed("%s the connector's limits were lowered by another process of its uid: %s", interferencePrefix, low)
	}
	err = syscall.Exec(a.Argv[0], a.Argv, probe.MinimalEnv())
	return failed("exec %s: %v", a.Argv[0], err)
}
