package matrix

// The third round of attacks on the suite run as root (issue 24), with
// real attacker processes as other uids (attackTest).

import (
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

	"github.com/org/bh-ipc-check/report"
	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// attackForgeReply (issue 24, attack 2): take a copy of the stdout of
// every "connect" helper of this uid (pidfd_getfd, with the helper
// stopped so it cannot make itself non-dumpable meanwhile) and write a
// forged result around the real one: a JSON object whose "result" says
// the connect was refused, holding the helper's own line as the value of
// a key of its own, closed once the helper has exited. It prints "saw
// PID" for every helper it found, "took PID" when it got the fd and
// "refused PID: ERR" when it did not. (Against a helper exec'd as this
// uid it wins the race to the helper's prctl only some of the time.)
func attackForgeReply() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	stop := stdinClosed()
	seen := map[int]bool{}
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); {
		pids, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range pids {
			pid, err := strconv.Atoi(filepath.Base(p))
			if err != nil || seen[pid] {
				continue
			}
			b, err := os.ReadFile(p + "/cmdline")
			// Only helpers of this test's runs (their binary is under
			// a.Dir): never another run's on the same machine.
			if err != nil || !strings.HasPrefix(string(b), a.Dir+"/") || !strings.Contains(string(b), HelperCommand+"\x00connect") {
				continue
			}
			seen[pid] = true
			unix.Kill(pid, unix.SIGSTOP) // a root helper: EPERM, nothing stopped
			fmt.Println("saw", pid)
			pfd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				unix.Kill(pid, unix.SIGCONT)
				fmt.Println("refused", pid, ": pidfd_open:", err)
				continue
			}
			fd, err := unix.PidfdGetfd(pfd, 1, 0)
			unix.Kill(pid, unix.SIGCONT)
			if err != nil {
				unix.Close(pfd)
				fmt.Println("refused", pid, ":", err)
				continue
			}
			fmt.Println("took", pid)
			unix.Write(fd, []byte(`{"result":{"connected":false,"error":"connect: connection refused","refused":"connection refused"},"forged":`))
			go func() {
				// The helper's own line goes in between; close the object
				// once it has exited.
				unix.Poll([]unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}, int(attackDeadline/time.Millisecond))
				unix.Write(fd, []byte("}\n"))
				unix.Close(fd)
				unix.Close(pfd)
			}()
		}
	}
	return nil
}

// Attack 2 of issue 24: the attacker uid forges its own helper's reply.
// brokend -flaw plain answers every uid, so auth.foreign-uid-connect must
// fail; a suite that takes the forged bytes for the helper's result
// passes it.
func TestAttackForgedHelperReply(t *testing.T) {
	at := newAttackTest(t)
	atk := at.start(DefaultAttackerUID, "forgereply", attackArg{Dir: at.tmp})
	rep := at.run(brokenTarget("plain"), "auth.foreign-uid-connect")
	time.Sleep(100 * time.Millisecond)
	out := atk.stop()
	r := resultOf(t, rep, "auth.foreign-uid-connect")
	t.Logf("auth.foreign-uid-connect: %s: %s\n  %s\nattacker: %s", r.Status, r.Reason, strings.Join(r.Evidence, "\n  "), out)
	if !strings.Contains(out, "saw") {
		t.Fatalf("the attacker never saw a helper: %s", out)
	}
	if r.Status == Pass {
		t.Errorf("auth.foreign-uid-connect passed against a daemon that answers every uid: the forged reply was taken")
	}
	if strings.Contains(out, "took") {
		t.Errorf("uid %d took a copy of its helper's stdout: %s", DefaultAttackerUID, out)
	}
}

// slowExec (the daemon of the attack tests below) waits, in the first
// scenario only, until $BH_TEST_WAIT_FOR (with {root} replaced by the
// value after -root in args, else by $TMPDIR: brokenTarget's daemons get
// their root there) exists, at most 20 s, then execs args: the attacker
// acts between the plant and the daemon's start, as a fast one would on a
// busy host.
func slowExec(args []string) error {
	root := os.Getenv("TMPDIR")
	for i, a := range args {
		if a == "-root" && i+1 < len(args) {
			root = args[i+1]
		}
	}
	if root != "" && filepath.Base(filepath.Dir(root)) == firstScenario {
		wait := strings.ReplaceAll(os.Getenv("BH_TEST_WAIT_FOR"), "{root}", root)
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Lstat(wait); err == nil {
				break
			}
		}
	}
	return syscall.Exec(args[0], args, os.Environ())
}

// attackWithdraw (issue 24, attack 1): in the first scenario's root, as
// soon as the endpoint directory's path holds a plant of this uid (the
// symlink of dir.symlink, the 0777 directory of dir.foreign-owner),
// rename it away, then make "withdrawn" in the root for slowExec.
func attackWithdraw() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	stop := stdinClosed()
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		for _, root := range scenarioRoots(a) {
			at := filepath.Join(root, "bu-"+a.Name+".d")
			var st unix.Stat_t
			if unix.Lstat(at, &st) != nil || int(st.Uid) != os.Getuid() {
				continue
			}
			if err := os.Rename(at, filepath.Join(root, "moved-away")); err != nil {
				fmt.Println("withdraw:", err)
				continue
			}
			os.WriteFile(filepath.Join(root, "withdrawn"), nil, 0o644)
			fmt.Println("withdrew", at)
			return nil
		}
	}
	return nil
}

// attackChmodPlant (the red team's variant of attack 1): instead of
// withdrawing its plant, the attacker uid chmods it (a planted directory
// 0700, a planted link's target directory 0555), so that a daemon that
// uses what it finds fails at bind, which looked like a refusal. It writes
// root/withdrawn and prints "chmodded PATH".
func attackChmodPlant() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	stop := stdinClosed()
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		for _, root := range scenarioRoots(a) {
			at := filepath.Join(root, "bu-"+a.Name+".d")
			var st unix.Stat_t
			if unix.Lstat(at, &st) != nil || int(st.Uid) != os.Getuid() {
				continue
			}
			what, mode := at, os.FileMode(0o700)
			if st.Mode&unix.S_IFMT == unix.S_IFLNK {
				l, err := os.Readlink(at)
				if err != nil {
					continue
				}
				what, mode = l, 0o555
			}
			if err := os.Chmod(what, mode); err != nil {
				fmt.Println("chmod:", err)
				continue
			}
			os.WriteFile(filepath.Join(root, "withdrawn"), nil, 0o644)
			fmt.Println("chmodded", what)
			return nil
		}
	}
	return nil
}

// attackKeepDrop: another uid makes "data" in every endpoint directory it
// can write (brokend -flaw plain leaves its own 0777), once each, and
// prints "dropped PATH".
func attackKeepDrop() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	stop := stdinClosed()
	done := map[string]bool{}
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		for _, root := range scenarioRoots(a) {
			at := filepath.Join(root, "bu-"+a.Name+".d", "data")
			if !done[at] && os.Mkdir(at, 0o755) == nil {
				done[at] = true
				fmt.Println("dropped", at)
			}
		}
	}
	return nil
}

// The red team's break of --keep: another uid's entry matching a --keep
// glob exempted the daemon's directory holding it from "left behind", so
// a daemon that leaves its directory passed inst.clean-shutdown. Another
// uid's entries are interference whatever --keep says.
func TestAttackForeignEntryIsNotKept(t *testing.T) {
	at := newAttackTest(t)
	atk := at.start(DefaultAttackerUID, "keepdrop", attackArg{Dir: at.tmp, Slug: firstScenario, Name: DefaultName})
	target := brokenTarget("plain")
	target.Keep = []string{"{root}/bu-{name}.d/data"}
	rep := at.runDaemonAs(target, "inst.clean-shutdown", daemonUIDForRaces)
	out := atk.stop()
	r := resultOf(t, rep, "inst.clean-shutdown")
	t.Logf("%s: %s\n  %s\nattacker: %s", r.Status, r.Reason, strings.Join(r.Evidence, "\n  "), out)
	if !strings.Contains(out, "dropped") {
		t.Fatalf("the attacker never made its entry: %s", out)
	}
	if r.Status != Error || !strings.Contains(r.Reason, fmt.Sprintf("uid %d", DefaultAttackerUID)) {
		t.Errorf("%s %q; want an error naming uid %d's entry", r.Status, r.Reason, DefaultAttackerUID)
	}
}

// Attack 1 of issue 24, and the red team's variant of it: the attacker uid
// withdraws its plant, or chmods it (a planted directory 0700, a planted
// link's target 0555), before the daemon starts. brokend -flaw plain makes
// its directory with MkdirAll, through a symlink or into another uid's
// directory, so it fails both scenarios with the plant in place; with the
// plant gone it would pass them, and with it chmodded it fails at bind
// (EACCES), which looked like a refusal. Neither a pass nor a fail (the
// link target's mode changed, but not through the link): no verdict is
// the only right outcome.
func TestAttackWithdrawnPlant(t *testing.T) {
	for _, a := range []struct{ attack, did string }{{"withdraw", "withdrew"}, {"chmodplant", "chmodded"}} {
		for _, id := range []string{"dir.symlink", "dir.foreign-owner"} {
			t.Run(a.attack+"/"+id, func(t *testing.T) {
				at := newAttackTest(t)
				atk := at.start(DefaultAttackerUID, a.attack, attackArg{Dir: at.tmp, Slug: firstScenario, Name: DefaultName})
				target := brokenTarget("plain")
				target.Cmd = append([]string{at.bin}, target.Cmd...)
				target.Env = []string{attackEnv + "=slowexec", "BH_TEST_WAIT_FOR={root}/withdrawn"}
				rep := at.runDaemonAs(target, id, daemonUIDForRaces)
				out := atk.stop()
				r := resultOf(t, rep, id)
				t.Logf("%s: %s: %s\n  %s\nattacker: %s", id, r.Status, r.Reason, strings.Join(r.Evidence, "\n  "), out)
				if !strings.Contains(out, a.did) {
					t.Fatalf("the attacker never %s its plant: %s", a.did, out)
				}
				if r.Status != Error || !strings.Contains(r.Reason, fmt.Sprintf("uid %d's", DefaultAttackerUID)) {
					t.Errorf("%s: %s %q; want an error naming uid %d's plant (%s)", id, r.Status, r.Reason, DefaultAttackerUID, a.did)
				}
			})
		}
	}
}

// The warning that --attacker-uid has live processes is in the report
// (report.json's warnings, and the Markdown), not only on stderr.
func TestAttackerBusyWarningInReport(t *testing.T) {
	needBins(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as uid 31337; run: sudo go test ./matrix -run TestAttackerBusyWarningInReport")
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 31337, Gid: 31337}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc, err := Select("sock.mode-umask0")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: BuiltinTarget(), Scenarios: sc, DaemonUID: -1, AttackerUID: 31337})
	if err != nil {
		t.Fatal(err)
	}
	const want = "--attacker-uid 31337 has"
	if len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], want) || !strings.Contains(rep.Warnings[0], fmt.Sprint(cmd.Process.Pid)) {
		t.Errorf("report warnings %q; want one naming uid 31337 and pid %d", rep.Warnings, cmd.Process.Pid)
	}
	if md := report.Markdown(report.NewMatrix(rep)); !strings.Contains(md, want) {
		t.Errorf("the Markdown does not carry the warning:\n%s", md)
	}
}

// attackDrop (issue 24, attack 4): drop a new file every few milliseconds
// into every scenario directory and root (both 01777) it finds, until its
// stdin closes; it prints "dropped N".
func attackDrop() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	stop := stdinClosed()
	n := 0
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(2 * time.Millisecond) {
		for _, root := range scenarioRoots(a) {
			for _, d := range []string{root, filepath.Dir(root)} {
				if os.WriteFile(filepath.Join(d, fmt.Sprintf("dropped-%d", n)), nil, 0o644) == nil {
					n++
				}
			}
		}
	}
	fmt.Println("dropped", n)
	return nil
}

// Attack 4 of issue 24: another local user (not the attacker uid) drops
// files into the scenarios' 01777 directories. They are not the daemon's:
// the builtin daemon must not fail for them; the scenarios they touch end
// as errors naming the uid.
func TestAttackDroppedFilesAreNotTheDaemons(t *testing.T) {
	at := newAttackTest(t)
	const user = 23501
	atk := at.start(user, "drop", attackArg{Dir: at.tmp, Slug: "0[1-9]"})
	rep := at.run(BuiltinTarget(), "inst.clean-shutdown,path.name-validation")
	out := atk.stop()
	t.Logf("attacker: %s", out)
	if !strings.Contains(out, "dropped") || strings.Contains(out, "dropped 0") {
		t.Fatalf("the attacker dropped nothing: %s", out)
	}
	// The attacker was still dropping files while the run directory was
	// removed: the directory is closed to it first, so none is left (and
	// one left would have to be in the report).
	left, _ := filepath.Glob(filepath.Join(at.tmp, stage.RunDirPrefix+"*"))
	t.Logf("run directories left: %v; warnings: %q", left, rep.Warnings)
	for _, d := range left {
		t.Errorf("the run directory %s was left behind (warnings %q)", d, rep.Warnings)
	}
	for _, id := range []string{"inst.clean-shutdown", "path.name-validation"} {
		r := resultOf(t, rep, id)
		t.Logf("%s: %s: %s", id, r.Status, target.OneLine(r.Reason, 400))
		if r.Status == Fail {
			t.Errorf("%s failed the builtin daemon for another uid's files: %s", id, target.OneLine(r.Reason, 300))
		}
		if r.Status == Error && !strings.Contains(r.Reason, fmt.Sprintf("uid %d,", user)) {
			t.Errorf("%s: error %q does not name uid %d", id, target.OneLine(r.Reason, 300), user)
		}
	}
}

// attackV6Squat (issue 24, attack 5): bind [::1] at the port of every new
// TCP listener of uid daemonUIDForRaces on 127.0.0.1 (the test's daemon;
// no other run's), and listen there, until its stdin closes; it prints
// "listening on [::1]:PORT".
func attackV6Squat() error {
	fmt.Println("ready")
	stop := stdinClosed()
	done := map[int]bool{}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		ents, err := proc.TCPEntries()
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.State != "0A" || e.Uid != daemonUIDForRaces || !e.Local.Equal(net.IPv4(127, 0, 0, 1)) || done[e.Lport] {
				continue
			}
			done[e.Lport] = true
			l, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", e.Lport))
			if err != nil {
				continue
			}
			ls = append(ls, l)
			fmt.Printf("listening on [::1]:%d\n", e.Lport)
		}
	}
	return nil
}

// Attack 5 of issue 24 (its second half): another local user listening
// on [::1] at the daemon's TCP port. The suite dials 127.0.0.1 only: that
// listener must neither make tcp.auth-required an impostor error nor be
// judged by tcp.loopback-only.
func TestAttackV6ListenerAtTheDaemonsPort(t *testing.T) {
	at := newAttackTest(t)
	const user = 23501
	atk := at.start(user, "v6squat", attackArg{})
	rep := at.runDaemonAs(BuiltinTarget(), "tcp.auth-required,tcp.loopback-only", daemonUIDForRaces)
	out := atk.stop()
	t.Logf("attacker: %s", out)
	if !strings.Contains(out, "listening on [::1]") {
		t.Fatalf("the attacker never listened at the daemon's port: %s", out)
	}
	for _, id := range []string{"tcp.auth-required", "tcp.loopback-only"} {
		r := resultOf(t, rep, id)
		t.Logf("%s: %s: %s\n  %s", id, r.Status, r.Reason, strings.Join(r.Evidence, "\n  "))
		if r.Status != Pass {
			t.Errorf("%s: %s (%s); want a pass: the [::1] listener is not what the suite dials", id, r.Status, target.OneLine(r.Reason, 300))
		}
		if strings.Contains(r.Reason, "::1") {
			t.Errorf("%s judged the [::1] listener: %s", id, r.Reason)
		}
	}
}

// attackPrecreate (issue 24, attack 5): make bu-NAME.d (0777) in every
// scenario root of every run under a.Dir, the preflight's included, as
// soon as it can; it prints "precreated PATH" for each it made.
func attackPrecreate() error {
	a, err := readAttackArg()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	stop := stdinClosed()
	done := map[string]bool{}
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		roots, _ := filepath.Glob(filepath.Join(a.Dir, stage.RunDirPrefix+"*", "[0-9][0-9]", "root"))
		for _, root := range roots {
			if done[root] {
				continue
			}
			p := filepath.Join(root, "bu-"+a.Name+".d")
			err := os.Mkdir(p, 0o777)
			switch {
			case err == nil:
				done[root] = true
				fmt.Println("precreated", p)
			case errors.Is(err, os.ErrExist):
				done[root] = true // the daemon's, made first
			}
		}
	}
	return nil
}

// Attack 5 of issue 24: any local user pre-creates the endpoint
// directory in each scenario root. The preflight must not fail for it and
// the scenarios must reach their verdicts: the roots stay private until
// the (root) daemon is ready.
func TestAttackPrecreatedEndpointDir(t *testing.T) {
	at := newAttackTest(t)
	const user = 23501
	atk := at.start(user, "precreate", attackArg{Dir: at.tmp, Name: DefaultName})
	sc, err := Select("sock.mode-umask0,sock.first-seen-mode,auth.foreign-uid-connect")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(at.ctx, Config{Exe: bins.cli, Target: BuiltinTarget(), Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Timeout: 30 * time.Second})
	out := atk.stop()
	t.Logf("attacker: %s", out)
	if err != nil {
		t.Fatalf("the run failed: %v", err)
	}
	for _, r := range rep.Results {
		t.Logf("%s: %s: %s", r.ID, r.Status, target.OneLine(r.Reason, 300))
		if r.Status != Pass {
			t.Errorf("%s: %s; want a pass: uid %d's directory kept the daemon from its root", r.ID, r.Status, user)
		}
	}
}
