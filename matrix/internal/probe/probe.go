package probe

import (
	"bytes"
	"cmp"
	"context"
	"errors"
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
	"sync"
	"time"

	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// HeldOpen is how long a daemon of the connect protocol must keep another
// uid's connection open for that uid to count as talking to it: a daemon
// that checks its peer closes at once (ssh-agent does).
const HeldOpen = 500 * time.Millisecond

// WithTarget adds t's probe (line, exec) to sp.
func WithTarget(t target.Target, sp Spec, root string) Spec {
	sp.Root = root
	switch t.Protocol {
	case target.ProtocolLine:
		sp.Send, _ = target.DecodeEscapes(t.Send) // checked by Validate
		sp.Expect = t.Expect
	case target.ProtocolExec:
		sp.Probe, _ = target.SplitCommand(t.Probe) // checked by Validate
		sp.Env = t.DaemonEnv(root, sp.Name, sp.Transport)
	}
	return sp
}

// probeResult is one probe of a daemon that does not speak bh-json.
type probeResult struct {
	// Answered: ready (the suite's own uid) or talked to (another uid).
	Answered bool
	// Connected: the connection was made (connect and line).
	Connected bool
	// What happened, for evidence: the reply or output, or the error.
	Detail string
	// PID of the process that called listen() (SO_PEERCRED on a Linux
	// Unix socket); 0 when unknown.
	PID int
	// Refused: the expected refusal that stopped a probe that was not
	// answered (RefusalOf); "" for any other cause.
	Refused string
	// Got: what the daemon sent on a probe it did not answer (a reply
	// that does not match --expect, such as a protocol's own refusal:
	// D-Bus's "REJECTED EXTERNAL"), clipped; "" when it sent nothing.
	Got string
}

// probe asks the daemon once in sp's protocol, as this process's uid.
// hold is how long a connect-protocol daemon must keep the connection
// open to count as answering (0 for a readiness probe: connect is enough).
func probe(ctx context.Context, sp Spec, hold time.Duration) probeResult {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second+hold)
	defer cancel()
	return probeWithin(ctx, sp, hold)
}

// probeWithin is probe within ctx's own deadline (connects retried on a
// full backlog until then, and counted when ctx carries countBusy's
// counter).
func probeWithin(ctx context.Context, sp Spec, hold time.Duration) probeResult {
	if sp.Protocol == target.ProtocolExec {
		return execProbe(ctx, sp)
	}
	c, _, err := rawConn(ctx, sp)
	if err != nil {
		return probeResult{Detail: "connect: " + err.Error(), Refused: RefusalOf(err, false)}
	}
	defer c.Close()
	return OnConn(ctx, c, sp, hold)
}

// OnConn is probeWithin on a connection already made (connect and line
// protocols); it does not close c.
func OnConn(ctx context.Context, c net.Conn, sp Spec, hold time.Duration) probeResult {
	r := probeResult{Connected: true, PID: proc.ListenerPID(c)}
	if sp.Protocol == target.ProtocolConnect {
		if hold <= 0 {
			r.Answered, r.Detail = true, "connected"
			return r
		}
		return holdOpen(c, r, hold)
	}
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if len(sp.Send) > 0 {
		if _, err := c.Write(sp.Send); err != nil {
			r.Detail, r.Refused = "write: "+err.Error(), WriteRefusal(err)
			return r
		}
	}
	re, err := regexp.Compile(sp.Expect)
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < 64<<10 {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if re.Match(got) {
			r.Answered, r.Detail = true, fmt.Sprintf("reply %q matches %q", clip(got, 120), sp.Expect)
			return r
		}
		if err != nil {
			var note string
			r.Refused, note = HandSilence(ctx, c, RefusalOf(err, true))
			r.Detail = fmt.Sprintf("no reply matching %q: got %q, then %v%s", sp.Expect, clip(got, 120), readErr(err), note)
			r.Got = clip(got, 120)
			return r
		}
	}
	r.Detail, r.Got = fmt.Sprintf("no reply matching %q in the first 64 KiB: %q", sp.Expect, clip(got, 120)), clip(got, 120)
	return r
}

// holdOpen reads from c until the daemon closes it or hold passes; the
// daemon answered (kept talking to this peer) when it held it open.
func holdOpen(c net.Conn, r probeResult, hold time.Duration) probeResult {
	t0 := time.Now()
	c.SetReadDeadline(t0.Add(hold))
	got, err := io.ReadAll(io.LimitReader(c, 4096))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.Answered = true
		r.Detail = fmt.Sprintf("connection held open %s", hold)
	} else {
		r.Detail = fmt.Sprintf("closed by the daemon after %s", time.Since(t0).Round(time.Millisecond))
		r.Refused = RefusalOf(cmp.Or(err, io.EOF), true)
		if err != nil {
			r.Detail = fmt.Sprintf("%s after %s", readErr(err), time.Since(t0).Round(time.Millisecond))
		}
	}
	if len(got) > 0 {
		r.Detail += fmt.Sprintf("; it sent %q", clip(got, 120))
	}
	return r
}

func readErr(err error) string {
	if errors.Is(err, io.EOF) {
		return "closed"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no more within the deadline"
	}
	return err.Error()
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// probeArgv is the exec probe's command line for sp ({port} read from the
// port file when the template needs it).
func probeArgv(sp Spec) ([]string, error) {
	dir := filepath.Dir(sp.Sock)
	switch {
	case sp.Sock == "":
		dir = filepath.Dir(sp.Port)
	case target.IsAbstract(sp.Sock):
		dir = "" // an abstract name is in no directory
	}
	port := ""
	for _, a := range sp.Probe {
		if strings.Contains(a, "{port}") {
			pf, err := ReadPortFileOf(sp.Port, sp.Auth)
			if err != nil {
				return nil, fmt.Errorf("{port}: %w", err)
			}
			port = strconv.Itoa(pf.Port)
			break
		}
	}
	rep := strings.NewReplacer("{socket}", sp.Sock, "{dir}", dir, "{root}", sp.Root, "{name}", sp.Name, "{port}", port)
	out := make([]string, len(sp.Probe))
	for i, a := range sp.Probe {
		out[i] = rep.Replace(a)
	}
	if len(out) == 0 {
		return nil, errors.New("no probe command")
	}
	return out, nil
}

// execProbe runs the probe command directly (no shell) as this process's
// uid: the suite runs it in a helper under the uid in question. A probe of
// the suite's (sp.Auth set) runs only once the endpoint is authenticated
// (authenticateExecProbe); one without an identity (an attacker's probe)
// never runs as root. The probe gets MinimalEnv() and the target's --env,
// in a process group of its own that is killed when it returns.
func execProbe(ctx context.Context, sp Spec) probeResult {
	argv, err := probeArgv(sp)
	if err != nil {
		return probeResult{Detail: err.Error()}
	}
	pid := 0
	if sp.Auth != nil {
		if pid, err = authenticateExecProbe(ctx, sp); err != nil {
			return probeResult{Detail: fmt.Sprintf("probe %s not run: %v", strings.Join(target.QuoteAll(argv), " "), err)}
		}
	} else if runtime.GOOS != "windows" && os.Geteuid() == 0 {
		// An attacker's probe as root (--attacker-uid 0): not run, and no
		// verdict from it (an impostor error), never "could not talk".
		err := noteImpostor(ctx, &ImpostorError{fmt.Sprintf("exec probe %s not run as root: it runs as root only for the daemon's own endpoint, authenticated first", strings.Join(target.QuoteAll(argv), " "))})
		return probeResult{Detail: err.Error()}
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(MinimalEnv(), sp.Env...)
	probeProcessGroup(cmd)
	err = cmd.Run()
	killProbeGroup(cmd)
	text := strings.TrimSpace(out.String())
	if err != nil {
		return probeResult{Detail: fmt.Sprintf("probe %s: %v: %s", strings.Join(target.QuoteAll(argv), " "), err, clip([]byte(text), 200))}
	}
	return probeResult{Answered: true, PID: pid, Detail: fmt.Sprintf("probe exited 0: %s", clip([]byte(text), 200))}
}

// authenticateExecProbe checks, before an exec probe of the suite's runs,
// that the endpoint is the daemon's: the directory chain to the socket (the
// port file over TCP) can be changed by root and the daemon's uid only,
// and the endpoint is theirs (verifyEndpointChain); then a connection of
// our own passes authenticate (peer credentials: the daemon's uid, a
// process of a start). A chain that fails is an impostor error (kept as
// evidence: the scenario ends as an error), unless the endpoint is only not
// there yet. It returns the listener's pid when the kernel says.
//
// The probe is a program of the user's that the suite runs, as root when
// the daemon's uid is root, on a path that dir.* scenarios put in
// directories an attacker can write: without this, the attacker's server
// or directory would get the probe's connection, and with it whatever the
// program does for its server (tmux runs the shell commands its server
// sends).
// errNotProbed: the exec probe was not run, the endpoint's directory chain
// being another uid's or loose. Waiting does not change that: readiness
// stops at it (NotProbed).
var errNotProbed = errors.New("exec probe not run")

// NotProbed reports whether err is errNotProbed, also when it crossed a
// helper process as text.
func NotProbed(err error) bool {
	return errors.Is(err, errNotProbed) || err != nil && strings.Contains(err.Error(), errNotProbed.Error()+" on ")
}

func authenticateExecProbe(ctx context.Context, sp Spec) (int, error) {
	path, want := sp.Sock, uint32(endpointSocket)
	if sp.Transport != ipc.TransportUnix {
		path, want = sp.Port, uint32(endpointFile)
	}
	var err error
	// An abstract name has no directory chain to verify: the peer
	// credentials that authenticate checks below are all there is.
	if sp.Transport != ipc.TransportUnix || !target.IsAbstract(path) {
		err = verifyEndpointChain(path, sp.Auth.UID, want)
	}
	if err != nil {
		var ce *chainError
		if errors.As(err, &ce) && ce.notFound {
			return 0, err
		}
		// Not an impostor: nobody answered yet. The probe is simply not
		// run, so the daemon counts as not answering here, and a dir.*
		// scenario judges what the daemon did to the filesystem (a socket
		// made inside the attacker's directory fails it).
		return 0, fmt.Errorf("%w on %s: %v (the suite runs no probe through a directory another uid can write)", errNotProbed, path, err)
	}
	c, _, err := rawConn(ctx, sp)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return proc.ListenerPID(c), nil
}

// probeOnce is PingOnce for the protocols that do not speak bh-json: the
// daemon is ready when the probe answers; the pid is the listener's when
// the kernel says (0 otherwise).
func probeOnce(ctx context.Context, sp Spec) (int, error) {
	r := probe(ctx, sp, 0)
	if !r.Answered {
		return 0, errors.New(r.Detail)
	}
	return r.PID, nil
}

// probeLoad is load.concurrent for the protocols that do not speak
// bh-json: workers probe concurrently, each probe a fresh connection (a
// fresh process for exec), each worker n times. Every probe has until
// ctx's deadline (the scenario's: loadConcurrent passes it to a helper):
// on a loaded machine a daemon that accepts slowly is busy, not broken, so
// the suite's connects retry on a full backlog until then (counted by
// RunLoad), and a probe fails in time only when the daemon refuses or
// answers wrongly; one cut short by the deadline is the scenario's
// timeout, no verdict.
func probeLoad(ctx context.Context, sp Spec, workers, n int) LoadResult {
	res := LoadResult{Conns: workers, Pings: workers * n}
	var (
		mu   sync.Mutex
		lats []time.Duration
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				t0 := time.Now()
				r := probeWithin(ctx, sp, 0)
				d := time.Since(t0)
				mu.Lock()
				if !r.Answered {
					res.Errors++
					if res.First == "" {
						res.First = fmt.Sprintf("%s (after %s)", r.Detail, d.Round(time.Millisecond))
					}
				} else {
					lats = append(lats, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Wallms = target.Millis(time.Since(start))
	res.setPercentiles(lats)
	return res
}

// LoadSize is how many workers and probes each load.concurrent runs
// for a protocol that does not speak bh-json: a connection (or process)
// per probe costs more than a ping on an open one.
func LoadSize(p target.Protocol) (workers, n int) {
	if p == target.ProtocolExec {
		return 8, 4
	}
	return 64, 50
}

// MinimalEnv is the whole environment of helpers that act as another uid
// (the attacker's among them): nothing of the caller's, whose variables
// that uid could then read in /proc/<pid>/environ. Daemons start from it
// with --env-clear.
func MinimalEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/nonexistent"}
}
