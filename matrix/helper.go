package matrix

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
	"strings"
	"time"
)

// HelperCommand is the hidden CLI command that runs one helper action in a
// separate process: bh-ipc-check __helper ACTION, with the JSON argument on
// stdin (never in argv, which every uid can read). The suite starts it
// under SysProcAttr.Credential to act as another uid, and to start daemons
// with a umask of their own without touching the suite's.
const HelperCommand = "__helper"

// helperReply is the one JSON line a helper prints.
type helperReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Impostors: evidence of every impostor the action's clients met.
	Impostors []string `json:"impostors,omitempty"`
}

type action func(ctx context.Context, arg json.RawMessage) (any, error)

// actions are the helper actions. "exec" is special: it replaces the helper
// process with the daemon (execDaemon, per platform).
var actions = map[string]action{
	"ping": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var sp probeSpec
		if err := json.Unmarshal(arg, &sp); err != nil {
			return nil, err
		}
		pid, err := pingOnce(ctx, sp)
		return map[string]int{"pid": pid}, err
	},
	"load": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var a struct {
			Spec         probeSpec `json:"spec"`
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
		return runLoad(ctx, a.Spec, a.Conns, a.Pings), nil
	},
	"malformed": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var sp probeSpec
		if err := json.Unmarshal(arg, &sp); err != nil {
			return nil, err
		}
		return runMalformed(ctx, sp), nil
	},
	"idle": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var a struct {
			Spec probeSpec `json:"spec"`
			N    int       `json:"n"`
		}
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		return runIdle(ctx, a.Spec, a.N), nil
	},
	"plant": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var p plantOp
		if err := json.Unmarshal(arg, &p); err != nil {
			return nil, err
		}
		return nil, p.do()
	},
	"connect": func(ctx context.Context, arg json.RawMessage) (any, error) {
		var sp probeSpec
		if err := json.Unmarshal(arg, &sp); err != nil {
			return nil, err
		}
		return attackerConnect(ctx, sp), nil
	},
	"listening": func(ctx context.Context, arg json.RawMessage) (any, error) {
		// Run as the daemon's uid: reading another uid's /proc/<pid>/fd
		// needs CAP_SYS_PTRACE, which root in a container lacks.
		var pid int
		if err := json.Unmarshal(arg, &pid); err != nil {
			return nil, err
		}
		return listeningPaths(pid)
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
// daemon's environment. It prints one JSON line (except "exec", which
// becomes the daemon).
func HelperMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: bh-ipc-check __helper ACTION < JSON (internal: started by bh-ipc-check run)")
		return 2
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
		var a execArg
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx, log := withImpostorLog(ctx)
	var res json.RawMessage
	if err = guardHelper(); err == nil {
		res, err = callAction(ctx, args[0], json.RawMessage(arg))
	}
	rep := helperReply{Result: res, Impostors: log.list()}
	if err != nil {
		rep.Error = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// maxHelperArg bounds a helper's JSON argument.
const maxHelperArg = 1 << 20

// minimalEnv is the whole environment of helpers that act as another uid
// (the attacker's among them): nothing of the caller's, whose variables
// that uid could then read in /proc/<pid>/environ. Daemons start from it
// with --env-clear.
func minimalEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/nonexistent"}
}

func callAction(ctx context.Context, name string, arg json.RawMessage) (json.RawMessage, error) {
	f, ok := actions[name]
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

// execArg starts a daemon: the helper sets the umask, then execs argv.
type execArg struct {
	Umask int      `json:"umask"`
	Argv  []string `json:"argv"`
	Env   []string `json:"env"`
	// ListenGate: fd 3 is the listen gate's socketpair (Linux; see
	// listengate_linux.go): the daemon's listen() calls wait for the suite.
	ListenGate bool `json:"listen_gate,omitempty"`
}

// runAs runs action with arg as uid and decodes its result into out (which
// may be nil). In this process when uid is ours; otherwise in a helper
// process under SysProcAttr.Credential, which needs root.
func (r *Runner) runAs(ctx context.Context, uid int, name string, arg, out any) error {
	b, err := json.Marshal(arg)
	if err != nil {
		return err
	}
	var res json.RawMessage
	var impostors []string
	if uid == os.Geteuid() {
		actx, log := withImpostorLog(ctx)
		res, err = callAction(actx, name, b)
		impostors = log.list()
	} else {
		res, impostors, err = r.runHelper(ctx, uid, name, b)
	}
	if ierr := impostorsError(impostors); ierr != nil {
		err = errors.Join(ierr, err)
	}
	if out != nil && len(res) > 0 {
		if uerr := json.Unmarshal(res, out); uerr != nil {
			return errors.Join(err, uerr)
		}
	}
	return err
}

func (r *Runner) runHelper(ctx context.Context, uid int, name string, arg []byte) (json.RawMessage, []string, error) {
	if !r.canSwitchUID() {
		return nil, nil, fmt.Errorf("acting as uid %d needs root", uid)
	}
	cmd := exec.CommandContext(ctx, r.exe, HelperCommand, name)
	// The attacker's helpers hold the attacker's groups (--attacker-gid,
	// --attacker-groups); any other uid's, its uid as gid and no others.
	gid, groups := uid, []int(nil)
	if uid == r.attackerUID {
		gid, groups = r.attackerGID, r.attackerGroups
	}
	cmd.SysProcAttr = credentialAttr(uid, gid, groups)
	cmd.Stdin = bytes.NewReader(arg) // not argv: see HelperMain
	cmd.Env = minimalEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("helper %s as uid %d: %v: %s", name, uid, err, strings.TrimSpace(stderr.String()))
	}
	var rep helperReply
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, nil, fmt.Errorf("helper %s as uid %d: bad reply %q: %v", name, uid, stdout.String(), err)
	}
	if rep.Error != "" {
		return rep.Result, rep.Impostors, errors.New(rep.Error)
	}
	return rep.Result, rep.Impostors, nil
}

// connectResult is what an attacker saw when it connected and pinged.
type connectResult struct {
	Connected bool   `json:"connected"`
	Error     string `json:"error,omitempty"`
	Reply     string `json:"reply,omitempty"`
	// Talked: the daemon answered this uid (the protocols that do not
	// speak bh-json; for those, a pong is never in Reply).
	Talked bool `json:"talked,omitempty"`
	// ConnectCheck: after a failed exec probe, what a plain connect of
	// the same uid met (refused, closed by the daemon, or held open);
	// Held: the daemon kept that connection open for heldOpen.
	ConnectCheck string `json:"connect_check,omitempty"`
	Held         bool   `json:"held,omitempty"`
	// Refused names the expected refusal that stopped this uid
	// (refusalOf); "" when it was stopped by something else (EMFILE, a
	// stalled helper...), which is no verdict.
	Refused string `json:"refused,omitempty"`
}

// attackerConnect connects without any checks, sends a ping (with no
// token) and reads what comes back.
func attackerConnect(ctx context.Context, sp probeSpec) connectResult {
	sp.Auth = nil // the attacker takes the endpoint as it finds it
	w := watchStalls()
	r := attackerConnectOnce(ctx, sp)
	if err := w.done(); err != nil {
		r.Refused, r.Error = "", r.Error+"; "+err.Error()
	}
	return r
}

func attackerConnectOnce(ctx context.Context, sp probeSpec) connectResult {
	if !sp.Protocol.speaksJSON() {
		return attackerTalk(ctx, sp)
	}
	var r connectResult
	c, _, err := rawConn(ctx, sp)
	if err != nil {
		r.Error, r.Refused = err.Error(), refusalOf(err, false)
		return r
	}
	defer c.Close()
	r.Connected = true
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte(`{"meta":"ping"}` + "\n"))
	b, err := io.ReadAll(io.LimitReader(c, 4096))
	r.Reply = string(b)
	if err == nil {
		err = io.EOF // ReadAll's nil: the daemon closed
	}
	r.Refused = refusalOf(err, true)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		r.Error = "no reply within 3s (connection held open)"
	case err != io.EOF:
		r.Error = err.Error()
	}
	return r
}
