package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/containers"
	"github.com/org/bh-ipc-check/matrix"
	"github.com/org/bh-ipc-check/report"
)

// cmdRun is "bh-ipc-check run": its flags, then runSuite. What the flags
// configure is checked by matrix.Config.Validate (runFlags.options).
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run [flags]\n\nRuns the scenarios against a daemon on this host and reports.\nExternal target example:\n  bh-ipc-check run --cmd 'python3 -m mydaemon --root {root} --name {name}' \\\n    --socket '{root}/bu-{name}.d/sock' --protocol bh-json", stderr)
	f := defineRunFlags(fs)
	pos, err := parse(fs, args)
	if err == nil {
		err = noArgs(pos)
	}
	var o runOptions
	if err == nil {
		o, err = f.options(fs, args, stderr)
	}
	if err != nil {
		return exitFor(err, stderr)
	}
	return runSuite(o, stdout, stderr)
}

// runFlags are run's flags, as the flag set fills them.
type runFlags struct {
	target, cmd, socket, portFile, protocol, send, sendFile, expect, probe *string
	dirCreatedBy, pidFile, lockFile, scenarios, umask, reportDir, format   *string
	leg, name, image                                                       *string
	envs, keep                                                             multiFlag
	envClear, forks, perUserBase, containers, native, allowIncomplete      *bool
	daemonUID, attackerUID                                                 *int
	attackerGID, attackerGroups                                            gidsFlag
	timeout, legTimeout, readyTimeout                                      *time.Duration
	sarif                                                                  sarifFlagSet
}

// defineRunFlags defines run's flags on fs.
func defineRunFlags(fs *flag.FlagSet) *runFlags {
	f := &runFlags{}
	f.target = fs.String("target", "builtin", "builtin (the reference daemon) or external (needs --cmd)")
	f.cmd = fs.String("cmd", "", "external daemon: program and arguments; {root}, {name} and {transport} (unix|tcp) are substituted. Split into words, no shell: like a POSIX shell (quotes group, \\ escapes); on Windows by the C runtime's rules (double quotes group, \\ is a path separator: 'C:\\tools\\python.exe D:\\a\\d.py --root {root}')")
	fs.Var(&f.envs, "env", "KEY=VALUE added to the external daemon's (--cmd) environment after the inherited one; {root}, {name} and {transport} are substituted (repeatable). This command line is readable by every local user: pass secrets in the environment, not here")
	f.envClear = fs.Bool("env-clear", false, "start daemons from a minimal environment (PATH, LANG, HOME=/nonexistent) instead of this process's; --env entries are added to it")
	f.socket = fs.String("socket", matrix.DefaultSocketTemplate, "external daemon: socket path template, or '@NAME' for a Linux abstract socket name (e.g. '@{root}/bu-{name}.sock'; Linux only)")
	f.portFile = fs.String("port-file", "", "external daemon: port file template (enables the tcp scenarios)")
	f.protocol = fs.String("protocol", "", "bh-json, ipc, connect, line or exec (default: ipc for builtin, bh-json for external)")
	f.send = fs.String("send", "", "--protocol line: what to write (escapes \\r \\n \\t \\\\ \\xNN), e.g. 'PING\\r\\n'")
	f.sendFile = fs.String("send-file", "", "--protocol line: a file whose bytes are written as they are (a binary protocol's greeting; at most 64 KiB), instead of --send")
	f.expect = fs.String("expect", "", "--protocol line: a regular expression the reply must match, e.g. '^\\+PONG'")
	f.probe = fs.String("probe", "", "--protocol exec: probe command template run as the uid in question, exit 0 = answered; {socket} {dir} {root} {name} {port}; split into words like --cmd (no shell)")
	f.dirCreatedBy = fs.String("dir-created-by", "daemon", "daemon, or suite: the suite makes the socket's directory (0700, as the daemon's uid) before each start")
	f.forks = fs.Bool("forks", false, "the daemon may detach: exit 0 before ready is not a failure; signals go to the serving process")
	f.pidFile = fs.String("pidfile", "", "with --forks: pid file template ({root} {name}) naming the serving process")
	f.perUserBase = fs.Bool("per-user-base", false, "external daemon: it chooses its own base as ipc does ($XDG_RUNTIME_DIR when a 0700 directory of its uid, else $TMPDIR) and its clients look there; the suite gives it {root} as $TMPDIR, and dir.squat-dos a per-user base as $XDG_RUNTIME_DIR (with --socket '' only the first: a TCP-only daemon's port file in {root}). Not with an abstract --socket '@NAME' (in no directory) or --dir-created-by suite (the suite's choice of directory, not the daemon's)")
	f.lockFile = fs.String("lockfile", "", "external daemon: template ({root} {name}) of a lock file it opens or creates at start; path.pidfile-link plants a link there")
	fs.Var(&f.keep, "keep", "`GLOB` template ({root} {name}) naming the daemon's own data, e.g. '{root}/gnupg/private-keys-v1.d': inst.clean-shutdown does not count it, what it holds or the directories holding it as left behind (repeatable; recorded in the report)")
	f.scenarios = fs.String("scenarios", "", "comma-separated scenario IDs or patterns, e.g. 'dir.*,inst.live-not-hijacked' (default all)")
	f.umask = fs.String("umask", "000", "octal umask the daemons start with")
	f.daemonUID = uidVar(fs, "daemon-uid", "`uid` the daemons run as (root only; default this uid)")
	f.attackerUID = uidVar(fs, "attacker-uid", fmt.Sprintf("`uid` the attacker acts as (root only; default %d)", matrix.DefaultAttackerUID))
	fs.Var(&f.attackerGID, "attacker-gid", "primary `gid` the attacker's helpers hold (root only; default: the attacker uid's group in /etc/passwd, or a gid equal to the uid)")
	fs.Var(&f.attackerGroups, "attacker-groups", "comma-separated supplementary `gids` the attacker's helpers hold, e.g. the socket's group to model an attacker in it (root only; default: the groups /etc/group lists the attacker in; '' for none)")
	f.reportDir = fs.String("report-dir", "", "write report.json, report.md, junit.xml and report.sarif here (made if missing; the path is walked without following another uid's links, and a directory another uid owns, or others can write without the sticky bit, is refused)")
	f.format = fs.String("format", "table", "stdout format: table, json or sarif")
	f.sarif = sarifFlags(fs)
	f.leg = fs.String("leg", "native", "name of this leg (the report's column)")
	f.name = fs.String("name", matrix.DefaultName, "endpoint name the daemons are started with ([A-Za-z0-9_-]{1,64})")
	f.timeout = durationFlag(fs, "timeout", matrix.DefaultScenarioTimeout, "per-scenario timeout")
	f.containers = fs.Bool("containers", false, "also run the Linux container legs (Docker; this binary must be static: CGO_ENABLED=0)")
	f.native = fs.Bool("native", true, "run the native leg (--native=false with --containers runs only the container legs)")
	f.image = fs.String("image", "", "container legs for an external target: the image holding the daemon and its runtime (must be present for the engine)")
	f.legTimeout = durationFlag(fs, "leg-timeout", 5*time.Minute, "container legs: kill a leg after this long")
	f.readyTimeout = durationFlag(fs, "ready-timeout", matrix.DefaultReadyTimeout, "a daemon must answer its first ping within this long (the preflight and every start)")
	f.allowIncomplete = fs.Bool("allow-incomplete", false, "exit 0 instead of 3 when required scenarios reached no verdict (the summary still says INCOMPLETE)")
	return f
}

// runOptions are a run as its flags ask for it: the native leg's
// configuration (validated) and what the CLI does around it.
type runOptions struct {
	cfg                                 matrix.Config
	native, containers, allowIncomplete bool
	image, scenarios, reportDir, format string
	legTimeout                          time.Duration
	sarif                               sarifFlagSet
}

// options turns the parsed flags into a run: what only the flags can say
// (which flags were given, their syntax, the CLI's own output options) is
// checked here, the run's configuration by matrix.Config.Validate. Every
// error is a usage error.
func (f *runFlags) options(fs *flag.FlagSet, args []string, stderr io.Writer) (runOptions, error) {
	usageErr := func(format string, a ...any) (runOptions, error) {
		return runOptions{}, errUsage{fmt.Errorf(format, a...)}
	}
	o := runOptions{native: *f.native, containers: *f.containers, allowIncomplete: *f.allowIncomplete, image: *f.image,
		scenarios: *f.scenarios, reportDir: *f.reportDir, format: *f.format, legTimeout: *f.legTimeout, sarif: f.sarif}
	cfg := matrix.Config{Leg: *f.leg, Name: *f.name, DaemonUID: *f.daemonUID, AttackerUID: *f.attackerUID,
		Timeout: *f.timeout, ReadyTimeout: *f.readyTimeout, EnvClear: *f.envClear}
	if f.attackerGID.set {
		if len(f.attackerGID.ids) != 1 {
			return usageErr("--attacker-gid %q: want one gid", f.attackerGID.String())
		}
		cfg.AttackerGID = &f.attackerGID.ids[0]
	}
	if f.attackerGroups.set {
		cfg.AttackerGroups = append([]int{}, f.attackerGroups.ids...)
	}
	var err error
	if cfg.Target, err = f.targetOf(fs); err != nil {
		return runOptions{}, err
	}
	if !o.native && !o.containers {
		return usageErr("--native=false needs --containers: nothing would run")
	}
	if o.image != "" && !o.containers {
		return usageErr("--image needs --containers")
	}
	if o.format != "table" && o.format != "json" && o.format != "sarif" {
		return usageErr("--format %q: want table, json or sarif", o.format)
	}
	if err := o.sarif.check(); err != nil {
		return runOptions{}, err
	}
	u, err := strconv.ParseUint(*f.umask, 8, 32)
	if err != nil || u > 0o777 {
		return usageErr("--umask %q: want an octal value from 000 to 777", *f.umask)
	}
	cfg.Umask = int(u)
	if cfg.Scenarios, err = matrix.Select(*f.scenarios); err != nil {
		return usageErr("%v", err)
	}
	if cfg.Exe, err = os.Executable(); err != nil {
		return runOptions{}, errUsage{err}
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	cfg.Command = append([]string{cfg.Exe, "run"}, args...)
	cfg.Progress = report.ControlEscaper{W: stderr} // a file name or a daemon's output in a reason
	o.cfg = cfg
	return o, nil
}

// targetOf is the daemon the flags name: the builtin, or the external one
// --cmd and the flags that describe it give (those flags without --cmd are
// refused: the builtin would be tested).
func (f *runFlags) targetOf(fs *flag.FlagSet) (matrix.Target, error) {
	usageErr := func(format string, a ...any) (matrix.Target, error) {
		return matrix.Target{}, errUsage{fmt.Errorf(format, a...)}
	}
	if *f.cmd == "" {
		if set := externalOnlyFlags(fs); len(set) > 0 {
			verbs := "describes an external daemon and needs"
			if len(set) > 1 {
				verbs = "describe an external daemon and need"
			}
			return usageErr("%s %s --cmd (without it the builtin daemon would be tested)", strings.Join(set, ", "), verbs)
		}
	}
	var t matrix.Target
	switch {
	case *f.target == "builtin" && *f.cmd == "":
		t = matrix.BuiltinTarget()
	case *f.target == "external" || (*f.target == "builtin" && *f.cmd != ""):
		if *f.cmd == "" {
			return usageErr("--target external needs --cmd")
		}
		argv, err := matrix.SplitCommand(*f.cmd)
		if err != nil {
			return usageErr("--cmd: %v", err)
		}
		t = matrix.Target{Cmd: argv, Env: f.envs, Socket: *f.socket, PortFile: *f.portFile, Protocol: matrix.ProtocolBHJSON,
			Send: *f.send, Expect: *f.expect, Probe: *f.probe, Forks: *f.forks, PidFile: *f.pidFile, Keep: f.keep, LockFile: *f.lockFile,
			PerUserBase: *f.perUserBase}
		if *f.sendFile != "" {
			if *f.send != "" {
				return usageErr("--send and --send-file: give one of them")
			}
			b, err := readSendFile(*f.sendFile)
			if err != nil {
				return usageErr("%v", err)
			}
			t.Send = matrix.EscapeSend(b)
		}
		if *f.dirCreatedBy != "daemon" {
			t.DirCreatedBy = *f.dirCreatedBy
		}
	default:
		return usageErr("--target %q: want builtin or external", *f.target)
	}
	if *f.protocol != "" {
		t.Protocol = matrix.Protocol(*f.protocol)
	}
	return t, nil
}

// runSuite runs o's legs (native, then the container legs), writes and
// prints the reports and returns the exit code.
func runSuite(o runOptions, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var reports []matrix.Report
	if o.native {
		rep, code := runNative(ctx, o, stdout, stderr)
		if code >= 0 {
			return code
		}
		reports = append(reports, rep)
	}
	if o.containers {
		legs, err := containers.Run(ctx, containers.Options{
			Binary: o.cfg.Exe, Image: o.image, Target: o.cfg.Target, Scenarios: o.scenarios, Name: o.cfg.Name,
			LegTimeout: o.legTimeout, Progress: report.ControlEscaper{W: stderr}, RequireEngine: containers.RequireEngineFromEnv(),
		})
		if err != nil {
			return exitFor(errUsage{err}, stderr)
		}
		reports = append(reports, legs...)
	}
	m := report.NewMatrix(reports...)
	if code := emitReports(m, o.reportDir, o.format, *o.sarif.docsURL, o.sarif.options(), stdout, stderr); code != 0 {
		return code
	}
	m.DocsURL = *o.sarif.docsURL
	// The rerun command adds what the results show was missing (--forks).
	rerun := append(o.cfg.Command, matrix.RerunFlags(o.cfg.Target, reports...)...)
	return runExit(ctx, m, rerun, o.allowIncomplete, o.format == "table", stdout, stderr)
}

// runNative runs the native leg. A code of 0 or more ends the command
// with it: the run could not be set up, or was interrupted before any
// scenario ran; -1 goes on with the report.
func runNative(ctx context.Context, o runOptions, stdout, stderr io.Writer) (matrix.Report, int) {
	rep, err := matrix.Run(ctx, o.cfg)
	if err == nil {
		return rep, -1
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "bh-ipc-check: interrupted before any scenario ran")
		return rep, report.ExitInterrupted
	}
	if rep.SetupError != "" && (o.format != "table" || o.reportDir != "") {
		// A failed preflight still leaves a report CI can read
		// (no results, setup_error set); the run exits 2. No
		// empty table: the error below says it all.
		f := o.format
		if f == "table" {
			f = ""
		}
		if code := emitReports(report.NewMatrix(rep), o.reportDir, f, *o.sarif.docsURL, o.sarif.options(), stdout, stderr); code != 0 {
			return rep, code
		}
	}
	return rep, exitFor(errUsage{err}, stderr)
}
