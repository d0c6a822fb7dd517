package stage

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// HelperCommand is the hidden CLI command that runs one helper action in a
// separate process: bh-ipc-check __helper ACTION, with the JSON argument on
// stdin (never in argv, which every uid can read). The suite starts it as
// root, and it drops to the uid it acts as in its own process (HelperMain);
// it also starts daemons with a umask of their own without touching the
// suite's.
const HelperCommand = "__helper"

// HelperReply is the one JSON line a helper prints.
type HelperReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Impostors: evidence of every impostor the action's clients met.
	Impostors []string `json:"impostors,omitempty"`
}

// pingResult is what the ping action returns. NotJSON: the daemon's reply
// when it was not a JSON object (probe.NotJSONError), which the error alone would
// not carry out of a helper process.
type pingResult struct {
	PID     int    `json:"pid"`
	NotJSON string `json:"not_json,omitempty"`
}

// notJSONReply is the reply a probe.NotJSONError holds, "" for any other err.
func notJSONReply(err error) string {
	if nj := (*probe.NotJSONError)(nil); errors.As(err, &nj) {
		return nj.Reply
	}
	return ""
}

// Action is a helper action: what a helper process does, as the uid it
// dropped to, with its JSON argument; its result is encoded as the reply.
type Action func(ctx context.Context, arg json.RawMessage) (any, error)

// RegisterAction adds the helper action name (a scenario's own, from its
// file's init) to actions.
func RegisterAction(name string, f Action) {
	if _, dup := Actions[name]; dup {
		panic("helper action " + name + " registered twice")
	}
	Actions[name] = f
}

// childMains are helper modes that are not actions: a process a helper
// starts (already as its uid) that reads no header and replies to no one
// (auth.pid-handoff's connector). HelperMain runs the one args names.
var childMains = map[string]func() int{}

// RegisterChildMain adds a helper mode to childMains (from a scenario's
// init).
func RegisterChildMain(name string, f func() int) { childMains[name] = f }

// Actions are the helper actions. "exec" is special: it replaces the helper
// process with the daemon (execDaemon, per platform).
var Actions = map[string]Action{
	"ping": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var sp probe.Spec
		if err := json.Unmarshal(arg, &sp); err != nil {
			return nil, err
		}
		pid, err := probe.PingOnce(ctx, sp)
		return pingResult{PID: pid, NotJSON: notJSONReply(err)}, err
	},
	"load": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var a struct {
			Spec         probe.Spec `json:"spec"`
			Conns, Pings int
			// Deadline: when the clients give up, the scenario's and
			// not this helper's own.
			Deadline time.Time `json:"deadline"`
		}
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		if d, ok := ctx.Deadline(); !a.Deadline.IsZero() && (!ok || a.Deadline.Before(d)) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, a.Deadline)
			defer cancel()
		}
		return probe.RunLoad(ctx, a.Spec, a.Conns, a.Pings), nil
	},
	"malformed": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var sp probe.Spec
		if err := json.Unmarshal(arg, &sp); err != nil {
			return nil, err
		}
		return probe.RunMalformed(ctx, sp), nil
	},
	"idle": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var a struct {
			Spec probe.Spec `json:"spec"`
			N    int        `json:"n"`
		}
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		return probe.RunIdle(ctx, a.Spec, a.N), nil
	},
	"plant": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var p PlantOp
		if err := json.Unmarshal(arg, &p); err != nil {
			return nil, err
		}
		return nil, p.Do()
	},
	"connect": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var sp probe.Spec
		if err := json.Unmarshal(arg, &sp); err != nil {
			return nil, err
		}
		return probe.AttackerConnect(ctx, sp), nil
	},
	"listening": func(ctx context.Context, arg json.RawMessage) (any, error) {
		// Run as the daemon's uid: reading another uid's /proc/<pid>/fd
		// needs CAP_SYS_PTRACE, which root in a container lacks.
		var pid int
		if err := json.Unmarshal(arg, &pid); err != nil {
			return nil, err
		}
		return proc.ListeningPaths(pid)
	},
	"read": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var path string
		if err := json.Unmarshal(arg, &path); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return map[string]any{"read": false, "error": err.Error()}, nil
		}
		return map[string]any{"read": true, "bytes": len(b)}, nil
	},
}

// HelperMain runs a helper action and returns the exit code. args is
// ACTION alone: the action's JSON argument is read from standard input,
// never taken from the command line, because any uid can read a process's
// argv (/proc/<pid>/cmdline) and the "exec" action's argument carries the
// daemon's environment. "exec" (started under SysProcAttr.Credential by
// DaemonCommand) reads its argument alone and becomes the daemon. Every
// other action is started as root with a header line first (HelperHeader),
// drops to the header's uid in this process (dropToUID) and prints one JSON
// line and its MAC (SealHelperReply).
func HelperMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: bh-ipc-check __helper ACTION < JSON (internal: started by bh-ipc-check run)")
		return 2
	}
	if child, ok := childMains[args[0]]; ok {
		// A helper's own child, already as its uid (auth.pid-handoff's
		// connector: its stdin is the pipe the program it becomes waits
		// on, and its instruction comes on fd 3).
		return child()
	}
	arg, err := io.ReadAll(io.LimitReader(os.Stdin, maxHelperArg+1))
	if err == nil && len(arg) > maxHelperArg {
		err = fmt.Errorf("argument over %d bytes", maxHelperArg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: reading the argument from stdin: %v\n", args[0], err)
		return 2
	}
	if args[0] == "exec" {
		var a ExecArg
		if err := json.Unmarshal(arg, &a); err != nil {
			fmt.Fprintln(os.Stderr, "helper exec:", err)
			return 2
		}
		err := execDaemon(a) // returns only on failure
		// The daemon's output: name the program, not the helper.
		var ee *exec.Error
		if errors.As(err, &ee) {
			fmt.Fprintf(os.Stderr, "cannot run %q: %v\n", ee.Name, ee.Err)
		} else if len(a.Argv) > 0 {
			fmt.Fprintf(os.Stderr, "cannot run %q: %v\n", a.Argv[0], err)
		} else {
			fmt.Fprintln(os.Stderr, "cannot run the daemon:", err)
		}
		return 127
	}
	// Every other action: started as root, it reads its header (the uid
	// to act as and the reply's key) and drops to that uid in this
	// process before it acts (dropToUID).
	hdrLine, arg, ok := bytes.Cut(arg, []byte("\n"))
	var h HelperHeader
	if !ok || json.Unmarshal(hdrLine, &h) != nil || len(h.Key) != HelperKeySize {
		fmt.Fprintf(os.Stderr, "helper %s: standard input does not start with a header line (internal: started by bh-ipc-check run)\n", args[0])
		return 2
	}
	if h.UID != os.Geteuid() {
		if err := dropToUID(h.UID, h.GID, h.Groups); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: dropping to uid %d: %v\n", args[0], h.UID, err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx, log := probe.WithImpostorLog(ctx)
	if h.Side {
		if side := openSideSender(); side != nil {
			ctx = context.WithValue(ctx, probe.SideKey{}, side)
		}
	}
	var res json.RawMessage
	if err = GuardHelper(); err == nil {
		res, err = callAction(ctx, args[0], json.RawMessage(arg))
	}
	rep := HelperReply{Result: res, Impostors: log.List()}
	if err != nil {
		rep.Error = err.Error()
	}
	os.Stdout.Write(SealHelperReply(h.Key, rep))
	return 0
}

// HelperHeader is the first line of a helper's standard input (every
// action but "exec"): the uid and gid it acts as, and a key of
// HelperKeySize random bytes, new for each helper, that authenticates its
// reply. It is written by the suite (root) before the helper drops to the
// uid, on a pipe only the suite and that helper hold.
type HelperHeader struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
	// Groups are the supplementary groups it holds (none when empty).
	Groups []int  `json:"groups,omitempty"`
	Key    []byte `json:"key"`
	// Side: fd 3 is the helper's end of its side channel (helperSide).
	Side bool `json:"side,omitempty"`
}

const HelperKeySize = 32

// SealHelperReply is a helper's whole output: the reply's JSON line, then
// the hex HMAC-SHA256 of that line under key, on a line of its own.
func SealHelperReply(key []byte, rep HelperReply) []byte {
	line, err := json.Marshal(rep)
	if err != nil {
		line, _ = json.Marshal(HelperReply{Error: "encoding the reply: " + err.Error()})
	}
	m := hmac.New(sha256.New, key)
	m.Write(line)
	return fmt.Appendf(nil, "%s\n%x\n", line, m.Sum(nil))
}

// OpenHelperReply checks a helper's output against its key and decodes
// it. The suite takes a helper's result only from bytes that carry the
// helper's MAC, and only when they are the whole output: a process that
// got hold of the helper's stdout (the attacker's uid, through a child
// the helper ran or any other way) can add bytes, not forge them, and
// added bytes make the reply no answer at all.
func OpenHelperReply(key, out []byte) (HelperReply, error) {
	var rep HelperReply
	line, rest, ok1 := bytes.Cut(out, []byte("\n"))
	sum, rest, ok2 := bytes.Cut(rest, []byte("\n"))
	if !ok1 || !ok2 || len(rest) > 0 {
		return rep, fmt.Errorf("the reply (%d bytes) is not one line and its MAC: other bytes were written to the helper's output", len(out))
	}
	m := hmac.New(sha256.New, key)
	m.Write(line)
	got := make([]byte, sha256.Size)
	if n, err := hex.Decode(got, sum); err != nil || n != sha256.Size || !hmac.Equal(got, m.Sum(nil)) {
		return rep, errors.New("the reply's MAC does not match: its bytes are not the helper's")
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		return rep, fmt.Errorf("bad reply %q: %v", line, err)
	}
	return rep, nil
}

// maxHelperArg bounds a helper's JSON argument.
const maxHelperArg = 1 << 20

func callAction(ctx context.Context, name string, arg json.RawMessage) (json.RawMessage, error) {
	f, ok := Actions[name]
	if !ok {
		return nil, fmt.Errorf("unknown helper action %q", name)
	}
	res, err := f(ctx, arg)
	if res == nil {
		return nil, err
	}
	b, merr := json.Marshal(res)
	if merr != nil {
		return nil, errors.Join(err, merr)
	}
	return b, err
}

// ExecArg starts a daemon: the helper sets the umask, then execs argv.
type ExecArg struct {
	Umask int      `json:"umask"`
	Argv  []string `json:"argv"`
	Env   []string `json:"env"`
	// ListenGate: fd 3 is the listen gate's socketpair (Linux; see
	// listengate_linux.go): the daemon's listen() calls wait for the suite.
	ListenGate bool `json:"listen_gate,omitempty"`
}

// callAs runs action name with arg as uid and decodes its result into out
// (which may be nil): in this process when uid is ours and attr is nil;
// otherwise in a helper process (runHelper), which needs root, started
// under attr when it is set (MountNSAttr: a mount namespace of its own).
// Scenarios act through Env.RunAs, which keeps the impostors an action
// met as the scenario's evidence.
func (r *Runner) callAs(ctx context.Context, uid int, attr *syscall.SysProcAttr, name string, arg, out any) error {
	b, err := json.Marshal(arg)
	if err != nil {
		return err
	}
	var res json.RawMessage
	var impostors []string
	if uid == os.Geteuid() && attr == nil {
		actx, log := probe.WithImpostorLog(ctx)
		res, err = callAction(actx, name, b)
		impostors = log.List()
	} else {
		res, impostors, err = r.runHelper(ctx, uid, attr, name, b)
	}
	if ierr := probe.ImpostorsError(impostors); ierr != nil {
		err = errors.Join(ierr, err)
	}
	if out != nil && len(res) > 0 {
		if uerr := json.Unmarshal(res, out); uerr != nil {
			return errors.Join(err, uerr)
		}
	}
	return err
}

// runHelper runs action name with arg in a helper process acting as uid,
// started under attr (nil: as any other process of ours).
func (r *Runner) runHelper(ctx context.Context, uid int, attr *syscall.SysProcAttr, name string, arg []byte) (json.RawMessage, []string, error) {
	if !r.canSwitchUID() {
		return nil, nil, fmt.Errorf("acting as uid %d needs root", uid)
	}
	key := make([]byte, HelperKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	// The attacker's helpers hold the attacker's groups (--attacker-gid,
	// --attacker-groups); any other uid's, its uid as gid and no others.
	gid, groups := uid, []int(nil)
	if uid == r.AttackerUID {
		gid, groups = r.attackerGID, r.attackerGroups
	}
	// The side channel (helperSide), when the caller asked for one.
	side, _ := probe.SideOf(ctx).(*helperSide)
	var helperEnd, suiteEnd *os.File
	if side != nil {
		var err error
		if helperEnd, suiteEnd, err = sidePair(); err != nil {
			side = nil // nothing can be handed over: its absence is judged where it matters
		}
	}
	hdr, err := json.Marshal(HelperHeader{UID: uid, GID: gid, Groups: groups, Key: key, Side: side != nil})
	if err != nil {
		return nil, nil, err
	}
	// Started as root (no SysProcAttr.Credential): the helper drops to uid
	// inside its own process once it is not dumpable (dropToUID), so uid
	// never holds a process of the helper's it could trace or take the
	// reply's pipe from. Its header and argument go on stdin, not argv:
	// see HelperMain.
	cmd := exec.CommandContext(ctx, r.exe, HelperCommand, name)
	cmd.Stdin = io.MultiReader(bytes.NewReader(hdr), strings.NewReader("\n"), bytes.NewReader(arg))
	cmd.Env = probe.MinimalEnv()
	cmd.SysProcAttr = attr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if side != nil {
		cmd.ExtraFiles = []*os.File{helperEnd} // fd 3 (sideFD)
	}
	if err := runWithSide(cmd, side, helperEnd, suiteEnd); err != nil {
		return nil, nil, fmt.Errorf("helper %s as uid %d: %w: %s", name, uid, err, strings.TrimSpace(stderr.String()))
	}
	out := stdout.Bytes()
	if h := r.Config.Hooks; h != nil && h.HelperOutput != nil {
		id, _ := ctx.Value(hookScenario{}).(string)
		out = h.HelperOutput(id, name, uid, out)
	}
	rep, err := OpenHelperReply(key, out)
	if err != nil {
		return nil, nil, fmt.Errorf("helper %s as uid %d: no answer: %w", name, uid, err)
	}
	if rep.Error != "" {
		return rep.Result, rep.Impostors, errors.New(rep.Error)
	}
	return rep.Result, rep.Impostors, nil
}

// runWithSide runs cmd, a helper given helperEnd of its side channel
// when side is set, and then collects what it handed over on suiteEnd:
// also when it failed or was killed (a process it reported must still be
// killed).
func runWithSide(cmd *exec.Cmd, side *helperSide, helperEnd, suiteEnd *os.File) error {
	err := cmd.Start()
	if side == nil {
		if err == nil {
			err = cmd.Wait()
		}
		return err
	}
	helperEnd.Close() // the helper's alone now: end of file comes with its exit
	if err == nil {
		err = cmd.Wait()
	}
	side.collect(suiteEnd)
	return err
}
