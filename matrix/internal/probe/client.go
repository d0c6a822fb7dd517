package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/internal/busydial"
	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// Spec says how to reach a daemon; it travels to helper processes as
// JSON.
type Spec struct {
	Transport ipc.Transport   `json:"transport"`
	Protocol  target.Protocol `json:"protocol"`
	Sock      string          `json:"sock,omitempty"`
	Port      string          `json:"port,omitempty"`
	Name      string          `json:"name"`
	// Auth is who may answer (nil: anyone, for attacker probes); see
	// authenticate.
	Auth *DaemonIdentity `json:"auth,omitempty"`
	// Root, Send, Expect and Probe: the line and exec protocols' probes
	// (WithTarget).
	Root   string   `json:"root,omitempty"`
	Send   []byte   `json:"send,omitempty"`
	Expect string   `json:"expect,omitempty"`
	Probe  []string `json:"probe,omitempty"`
	// Env: the exec probe's environment after MinimalEnv(): the target's
	// --env, never the suite's.
	Env []string `json:"env,omitempty"`
}

// session is one client connection that speaks lines, after whatever the
// transport and protocol need first (the ipc handshake; the bh-json token).
type session struct {
	c     net.Conn
	r     *bufio.Reader
	ic    *ipc.Conn
	token string
}

// BHPortFile is the part of a port file the bh-json protocol needs.
type BHPortFile struct {
	Port  int    `json:"port"`
	Token string `json:"token"`
}

// openPortFileOf opens a port file without following a final symlink; one
// not of id's uid (when id is set) is an impostor's.
func openPortFileOf(path string, id *DaemonIdentity) (*os.File, error) {
	owner := -1
	if id != nil {
		owner = id.UID
	}
	f, err := world.OpenRegularNoFollow(path, owner)
	var oe *world.OwnerError
	if errors.As(err, &oe) {
		return nil, &ImpostorError{fmt.Sprintf("port file %s is owned by uid %d, not the daemon's uid %d", path, oe.Owner, oe.Want)}
	}
	return f, err
}

// ReadPortFileOf reads a port file that must belong to id (when not nil),
// without following a final symlink. It must hold a JSON object with
// "port" (1-65535); see ParsePortFile for what is retried and what fails
// at once.
func ReadPortFileOf(path string, id *DaemonIdentity) (BHPortFile, error) {
	f, err := openPortFileOf(path, id)
	if err != nil {
		return BHPortFile{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return BHPortFile{}, err
	}
	return ParsePortFile(path, b)
}

// errBadPortFile: a port file that is complete but not what the suite
// reads. More waiting does not change it: readiness stops at it
// (BadPortFile).
var errBadPortFile = errors.New(`want a JSON object {"port": N}`)

// BadPortFile reports whether err is errBadPortFile, also when it crossed
// a helper process as text.
func BadPortFile(err error) bool {
	return errors.Is(err, errBadPortFile) || err != nil && strings.Contains(err.Error(), errBadPortFile.Error())
}

// ParsePortFile parses b, the port file at path.
//
// Race point: a daemon (or its wrapper's "printf ... >file") that writes
// its port file in place, not renamed into place, can be read between
// the file's creation and its write, or between two writes: the suite
// then sees an empty file or a JSON object cut short. Those are told
// apart from a wrong file by what more bytes could make of them: an empty
// file, or one that starts an object and ends before the object does
// (json's unexpected EOF), may still become {"port": N}, so it is an
// ordinary error that the wait for readiness retries until it ends.
// Anything else cannot: a bare number ("16379"), text, an object with
// something after it, or a complete object without a usable "port". That
// is errBadPortFile, and the wait stops at it instead of lasting the
// whole --ready-timeout. A file rewritten in place after a complete
// first version is not defended: the suite judges what it read.
func ParsePortFile(path string, b []byte) (BHPortFile, error) {
	var pf BHPortFile
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return pf, fmt.Errorf("port file %s is empty (not written yet?)", path)
	}
	found := target.QuoteClip(b, 64)
	if trimmed[0] != '{' {
		return pf, fmt.Errorf("port file %s: %w, found %s", path, errBadPortFile, found)
	}
	var v map[string]any
	if err := json.NewDecoder(bytes.NewReader(trimmed)).Decode(&v); errors.Is(err, io.ErrUnexpectedEOF) {
		return pf, fmt.Errorf("port file %s holds an object cut short, %s (still being written?)", path, found)
	}
	if err := json.Unmarshal(trimmed, &pf); err != nil {
		why := err.Error()
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) {
			want := "a number"
			if te.Type.Kind() == reflect.String {
				want = "a string"
			}
			why = fmt.Sprintf("%q holds a %s, where the suite reads %s", te.Field, te.Value, want)
		}
		return pf, fmt.Errorf("port file %s: %w, found %s (%s)", path, errBadPortFile, found, why)
	}
	if pf.Port <= 0 || pf.Port > 65535 {
		return pf, fmt.Errorf("port file %s: %w with N 1-65535, found %s", path, errBadPortFile, found)
	}
	return pf, nil
}

// rawConn connects to the daemon without any handshake: the socket, or the
// port named in the port file.
func rawConn(ctx context.Context, sp Spec) (net.Conn, BHPortFile, error) {
	if sp.Transport == ipc.TransportUnix {
		path, done, err := proc.ReachableSockPath(sp.Sock)
		if err != nil {
			return nil, BHPortFile{}, err
		}
		defer done()
		c, err := dialBusy(ctx, "unix", path)
		if err == nil {
			if err = authenticate(ctx, c, sp); err != nil {
				c.Close()
				c = nil
			}
		}
		return c, BHPortFile{}, err
	}
	pf, err := ReadPortFileOf(sp.Port, sp.Auth)
	if err != nil {
		return nil, pf, noteImpostor(ctx, err)
	}
	c, err := DialDaemonTCP(ctx, pf.Port, sp.Auth)
	return c, pf, err
}

// dialBusy connects, retrying while the listener looks busy rather than
// dead, within ctx's deadline, as ipc.Dial does: EAGAIN from a full backlog
// (Linux), and ECONNREFUSED on macOS, where a full backlog refuses, as long
// as a socket is still at the path. A busy daemon is alive; a connect that
// fails at once would turn load into a verdict. Retries are counted in the
// counter countBusy put in ctx.
func dialBusy(ctx context.Context, network, addr string) (net.Conn, error) {
	n, _ := ctx.Value(busyKey{}).(*atomic.Int64)
	var onRetry func()
	if n != nil {
		onRetry = func() { n.Add(1) }
	}
	return busydial.Dial(ctx, network, addr, func(err error) bool { return looksBusy(network, addr, err) }, onRetry)
}

type busyKey struct{}

// countBusy returns ctx with n attached: dialBusy adds one to it for every
// connect it retries, so a scenario can report the backlog's effect.
func countBusy(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, busyKey{}, n)
}

// looksBusy: err from connecting to addr means a full backlog, not a
// missing listener.
func looksBusy(network, addr string, err error) bool {
	if isBacklogFull(err) {
		return true
	}
	if network == "unix" && runtime.GOOS == "darwin" && errors.Is(err, syscall.ECONNREFUSED) {
		fi, serr := os.Lstat(addr)
		return serr == nil && fi.Mode()&os.ModeSocket != 0
	}
	return false
}

// authenticate is the suite's check of the daemon on every Unix-socket
// connection it makes to judge one (readiness, pings, requests, loads):
// see authenticateDaemon. An impostor is also logged in ctx, so the
// scenario ends as an error even when the action hides the failure.
func authenticate(ctx context.Context, c net.Conn, sp Spec) error {
	return noteImpostor(ctx, authenticateDaemon(c, sp.Sock, sp.Auth))
}

func openSession(ctx context.Context, sp Spec) (*session, error) {
	if sp.Transport == ipc.TransportTCP && sp.Protocol == target.ProtocolIPC {
		// ipc checks the port file is ours; one of another owner is named
		// here as an impostor.
		if sp.Auth != nil {
			f, err := openPortFileOf(sp.Port, sp.Auth)
			if err != nil {
				return nil, noteImpostor(ctx, err)
			}
			f.Close()
		}
		ic, err := ipc.DialPortFile(ctx, sp.Port, sp.Name)
		if err != nil {
			return nil, err
		}
		return &session{ic: ic, c: ic.NetConn()}, nil
	}
	c, pf, err := rawConn(ctx, sp)
	if err != nil {
		return nil, err
	}
	return &session{c: c, r: bufio.NewReader(c), token: pf.Token}, nil
}

func (s *session) close() { s.c.Close() }

// request sends one JSON object and returns the reply line.
func (s *session) request(ctx context.Context, req map[string]any) ([]byte, error) {
	if s.ic != nil {
		var raw json.RawMessage
		err := s.ic.Request(ctx, req, &raw)
		var re *ipc.RemoteError
		if errors.As(err, &re) {
			b, _ := json.Marshal(map[string]string{"error": re.Msg})
			return b, nil
		}
		return raw, err
	}
	if s.token != "" {
		req["token"] = s.token
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(10 * time.Second)
	}
	s.c.SetDeadline(dl)
	if _, err := s.c.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	line, err := s.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	return line, nil
}

func (s *session) ping(ctx context.Context) (int, error) {
	if s.ic != nil {
		return s.ic.Identify(ctx)
	}
	line, err := s.request(ctx, map[string]any{"meta": "ping"})
	if err != nil {
		return 0, err
	}
	pid, err := ipc.ParsePingReply(line)
	if err != nil && !isJSONObject(line) {
		return 0, &NotJSONError{Reply: string(line)}
	}
	return pid, err
}

// NotJSONError is a reply to a ping that no daemon of a JSON-lines
// protocol (bh-json, ipc) sends: a line that is not a JSON object (a
// greeting, an HTTP status line). The daemon speaks another protocol, and
// waiting for a pong is pointless. It wraps ipc.ErrBadReply.
type NotJSONError struct{ Reply string }

func (e *NotJSONError) Error() string {
	return fmt.Sprintf("the daemon replied %.80q, not a JSON object", e.Reply)
}

func (e *NotJSONError) Unwrap() error { return ipc.ErrBadReply }

// isJSONObject: line (one line, its newline included) is a JSON object.
func isJSONObject(line []byte) bool {
	b := bytes.TrimSpace(line)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// PingOnce opens a session, pings and closes; for a protocol that does
// not speak bh-json it probes once (probeOnce). A daemon of the ipc
// protocol on a Unix socket is pinged through the ipc package's own Unix
// Dial (openIPCUnix), so every readiness check and ping of the builtin
// goes through it and a broken Dial shows in the suite.
func PingOnce(ctx context.Context, sp Spec) (int, error) {
	if !sp.Protocol.SpeaksJSON() {
		return probeOnce(ctx, sp)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	open := openSession
	if sp.Transport == ipc.TransportUnix && sp.Protocol == target.ProtocolIPC && sp.Auth != nil {
		open = openIPCUnix
	}
	s, err := open(ctx, sp)
	if err != nil {
		return 0, err
	}
	defer s.close()
	return s.ping(ctx)
}

// openIPCUnix connects to an ipc-protocol daemon's Unix socket with
// ipc.DialSocket, the Unix Dial other programs use (the socket checked
// without following a link and connected through its directory's handle, a
// full backlog waited for, the server's uid checked by peer credentials),
// then authenticates the daemon as every suite connection does (its uid,
// and a process of its start). ipc.Dial proper also verifies a directory
// chain owned by the dialling uid, which the daemon's socket directory need
// not be here. A socket of another uid, or a server ipc rejects for its
// uid, is an impostor, as authenticate would name it.
func openIPCUnix(ctx context.Context, sp Spec) (*session, error) {
	if f := world.Stat(sp.Sock); f.Kind == "socket" && f.UID != sp.Auth.UID {
		return nil, noteImpostor(ctx, &ImpostorError{fmt.Sprintf("socket %s is owned by uid %d, not the daemon's uid %d", sp.Sock, f.UID, sp.Auth.UID)})
	}
	ic, err := ipc.DialSocket(ctx, sp.Sock, ipc.WithPeerUIDs(sp.Auth.UID))
	if errors.Is(err, ipc.ErrPeerRejected) {
		err = &ImpostorError{err.Error()}
	}
	if err != nil {
		return nil, noteImpostor(ctx, err)
	}
	if err := authenticate(ctx, ic.NetConn(), sp); err != nil {
		ic.Close()
		return nil, err
	}
	return &session{ic: ic, c: ic.NetConn()}, nil
}

// LoadResult is what load.concurrent measures.
type LoadResult struct {
	Conns  int     `json:"conns"`
	Pings  int     `json:"pings"`
	Errors int     `json:"errors"`
	First  string  `json:"first_error,omitempty"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	Maxus  float64 `json:"max_us"`
	Wallms float64 `json:"wall_ms"`
	// BusyRetries counts connects retried on a full backlog.
	BusyRetries int64 `json:"busy_retries"`
	// TimedOut: the load ran until its deadline, so some errors may be
	// the deadline's, not the daemon's.
	TimedOut bool `json:"timed_out,omitempty"`
}

// RunLoad opens conns sessions and sends pings pings on each, concurrently
// (probeLoad for a protocol that does not speak bh-json).
func RunLoad(ctx context.Context, sp Spec, conns, pings int) (res LoadResult) {
	var busy atomic.Int64
	ctx = countBusy(ctx, &busy)
	defer func() {
		res.BusyRetries = busy.Load()
		// The connections' deadlines can fire before ctx is done: the
		// clock, not ctx.Err, says whether the deadline passed.
		dl, ok := ctx.Deadline()
		res.TimedOut = ok && !time.Now().Before(dl)
	}()
	if !sp.Protocol.SpeaksJSON() {
		return probeLoad(ctx, sp, conns, pings)
	}
	res = LoadResult{Conns: conns, Pings: conns * pings}
	var (
		mu   sync.Mutex
		lats []time.Duration
		wg   sync.WaitGroup
	)
	note := func(err error) {
		mu.Lock()
		res.Errors++
		if res.First == "" {
			res.First = err.Error()
		}
		mu.Unlock()
	}
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := openSession(ctx, sp)
			if err != nil {
				for range pings {
					note(err)
				}
				return
			}
			defer s.close()
			local := make([]time.Duration, 0, pings)
			for i := 0; i < pings; i++ {
				t0 := time.Now()
				if _, err := s.ping(ctx); err != nil {
					for ; i < pings; i++ {
						note(err)
					}
					break
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Wallms = float64(time.Since(start).Microseconds()) / 1000
	res.setPercentiles(lats)
	return res
}

// setPercentiles sets p50, p99 and max from the latencies (sorted here).
func (res *LoadResult) setPercentiles(lats []time.Duration) {
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if n := len(lats); n > 0 {
		us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
		res.P50us, res.P99us, res.Maxus = us(lats[n/2]), us(lats[n*99/100]), us(lats[n-1])
	}
}

// MalformedResult is what one malformed payload got.
type MalformedResult struct {
	Payload   string `json:"payload"`
	Reply     string `json:"reply,omitempty"`
	Closed    bool   `json:"closed"`
	PingAfter string `json:"ping_after"` // "ok pid N" or the error
}

// malformedPayloads are sent raw, each on a fresh connection. On the ipc
// tcp transport they arrive before any handshake, which the daemon must
// survive just the same.
func malformedPayloads() []struct {
	name string
	data []byte
	half bool
} {
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = 'a'
	}
	return []struct {
		name string
		data []byte
		half bool
	}{
		{"not JSON", []byte("hello there\n"), false},
		{"JSON array", []byte("[1,2,3]\n"), false},
		{"JSON number", []byte("42\n"), false},
		{"2 MiB line", append(big, '\n'), false},
		{"half a line then close", []byte(`{"meta":"pi`), true},
		{"binary garbage", []byte("\x00\xff\xfe\x01\x02\n\x80\x81\n"), false},
	}
}

func RunMalformed(ctx context.Context, sp Spec) []MalformedResult {
	var out []MalformedResult
	for _, p := range malformedPayloads() {
		r := MalformedResult{Payload: p.name}
		c, _, err := rawConn(ctx, sp)
		if err != nil {
			r.Reply = "connect: " + err.Error()
		} else {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			go func() {
				c.Write(p.data)
				if p.half {
					if cw, ok := c.(interface{ CloseWrite() error }); ok {
						cw.CloseWrite()
					}
				}
			}()
			line, err := bufio.NewReader(c).ReadBytes('\n')
			if err != nil {
				r.Closed = true
			}
			if len(line) > 200 {
				line = line[:200]
			}
			r.Reply = string(line)
			c.Close()
		}
		if pid, err := PingOnce(ctx, sp); err != nil {
			r.PingAfter = "error: " + err.Error()
		} else {
			r.PingAfter = "ok pid " + strconv.Itoa(pid)
		}
		out = append(out, r)
	}
	return out
}

// IdleResult: n idle connections open, then a fresh client pinged.
type IdleResult struct {
	Opened    int    `json:"opened"`
	OpenError string `json:"open_error,omitempty"`
	// Stalled: a connection (or the new client) got nothing within
	// idleStall: the daemon stopped accepting or answering.
	Stalled   bool   `json:"stalled,omitempty"`
	PingAfter string `json:"ping_after"`
	PingMS    int64  `json:"ping_ms"`
	// BusyRetries counts connects retried on a full backlog.
	BusyRetries int64 `json:"busy_retries"`
}

// idleStall is how long RunIdle waits for one idle connection to be
// accepted, and for the new client's answer: a daemon that caps its
// connections (haproxy's maxconn) stops accepting, the kernel's backlog
// fills, and a connect or a request would otherwise wait out the whole
// scenario. Waiting that long is a verdict on the daemon, not a timeout.
const idleStall = 10 * time.Second

func RunIdle(ctx context.Context, sp Spec, n int) IdleResult {
	var r IdleResult
	var busy atomic.Int64
	ctx = countBusy(ctx, &busy)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		cctx, cancel := context.WithTimeout(ctx, idleStall)
		c, _, err := rawConn(cctx, sp) // retries a full backlog
		cancel()
		if err != nil {
			r.OpenError = err.Error()
			if ctx.Err() == nil && cctx.Err() != nil {
				r.Stalled = true
				r.OpenError = fmt.Sprintf("connection %d not accepted within %s: %v", i+1, idleStall, err)
			}
			break
		}
		conns = append(conns, c)
	}
	r.Opened = len(conns)
	t0 := time.Now()
	pctx, cancel := context.WithTimeout(ctx, idleStall)
	defer cancel()
	if pid, err := PingOnce(pctx, sp); err != nil {
		r.PingAfter = "error: " + err.Error()
		if ctx.Err() == nil && pctx.Err() != nil {
			r.Stalled = true
			r.PingAfter = fmt.Sprintf("not served within %s: %v", idleStall, err)
		}
	} else {
		r.PingAfter = "ok pid " + strconv.Itoa(pid)
	}
	r.PingMS = time.Since(t0).Milliseconds()
	r.BusyRetries = busy.Load()
	return r
}
