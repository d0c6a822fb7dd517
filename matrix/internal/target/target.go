package target

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"errors"
	"strconv"

	"github.com/org/bh-ipc-check/ipc"
)

// Protocol is how the suite talks to a daemon.
type Protocol string

const (
	// ProtocolBHJSON is browser-harness's framing: newline JSON, ping
	// {"meta":"ping"} → {"pong":true,"pid":N}; on TCP every request carries
	// "token" from the port file.
	ProtocolBHJSON Protocol = "bh-json"
	// ProtocolIPC is this project's ipc package: the same framing, with the
	// mutual HMAC handshake on TCP.
	ProtocolIPC Protocol = "ipc"
)

// Target is the daemon under test.
type Target struct {
	// Builtin selects the reference daemon (bh-ipc-check daemon).
	Builtin bool `json:"builtin"`
	// Cmd is the external program and its arguments; {root}, {name} and
	// {transport} (unix or tcp) are substituted in each element.
	Cmd []string `json:"cmd,omitempty"`
	// Env holds KEY=TEMPLATE entries added to the daemon's environment
	// (the builtin's too).
	Env []string `json:"env,omitempty"`
	// Socket and PortFile are path templates; an empty one means the target
	// has no such transport.
	Socket   string   `json:"socket,omitempty"`
	PortFile string   `json:"port_file,omitempty"`
	Protocol Protocol `json:"protocol"`
	// Send and Expect are the line protocol's probe: Send (with the
	// escapes \r \n \t \\ \xNN) is written, a reply matching the regular
	// expression Expect means the daemon answered.
	Send   string `json:"send,omitempty"`
	Expect string `json:"expect,omitempty"`
	// Probe is the exec protocol's probe command template ({socket},
	// {dir}, {root}, {name}, {port}), split into words like Cmd: exit 0
	// means the daemon answered.
	Probe string `json:"probe,omitempty"`
	// DirCreatedBy is "suite" when the suite makes the socket's directory
	// (0700, as the daemon's uid) before each start; "" or "daemon": the
	// daemon makes it.
	DirCreatedBy string `json:"dir_created_by,omitempty"`
	// Forks: the daemon may detach; an exit 0 before it is ready is not a
	// failure, and the serving process is found by peer credentials or
	// PidFile (a {root}/{name} template).
	Forks   bool   `json:"forks,omitempty"`
	PidFile string `json:"pid_file,omitempty"`
	// LockFile is a {root}/{name} template naming a lock file the daemon
	// opens or creates at start (path.pidfile-link plants a link there).
	LockFile string `json:"lock_file,omitempty"`
	// PerUserBase: the daemon chooses its own base as ipc does (its
	// clients look in the same order): $XDG_RUNTIME_DIR when that is a
	// directory of its uid with no group or other access, else $TMPDIR.
	// The suite then owns those variables (and BH_RUNTIME_DIR) in the
	// daemon's environment: every scenario gives it {root} as $TMPDIR and
	// no XDG_RUNTIME_DIR, so it is judged in {root} as usual, and
	// dir.squat-dos gives it a per-user base as $XDG_RUNTIME_DIR too and
	// looks for its socket there (the socket template with {root} standing
	// for that base). Its command need not name {root}; one that passes
	// {root} as the daemon's root tells it to use the shared one.
	PerUserBase bool `json:"per_user_base,omitempty"`
	// Keep holds glob templates ({root}, {name}; path.Match syntax, with
	// forward slashes on every OS)
	// naming the daemon's own data, such as a key store beside its
	// sockets: inst.clean-shutdown does not count a match, what lies under
	// it, or the directories holding it as left behind.
	Keep []string `json:"keep,omitempty"`
}

// Default templates.
const (
	DefaultSocketTemplate = "{root}/bu-{name}.d/sock"
)

// BuiltinTarget is the reference daemon.
func BuiltinTarget() Target {
	return Target{Builtin: true, Protocol: ProtocolIPC}
}

// Describe is a one-line description for reports.
func (t Target) Describe() string { return t.ReportTarget().Describe() }

// Validate checks an external target's templates: each placeholder is
// one the template knows (checked first, so that a typo such as {rooot} is
// named as one), an abstract socket name ('@' first) is used where it can
// be (ValidateAbstract), --per-user-base only with what it can mean
// (validatePerUserBase), each path template holds {root}, and each --keep
// glob stays under {root}.
func (t Target) Validate() error {
	for _, e := range t.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
	}
	if t.Builtin {
		return nil
	}
	if len(t.Cmd) == 0 {
		return fmt.Errorf("external target: --cmd is empty")
	}
	if t.Socket == "" && t.PortFile == "" {
		return fmt.Errorf("external target: neither --socket nor --port-file is set")
	}
	if err := t.checkPlaceholders(); err != nil {
		return err
	}
	// Flags that contradict each other first: that holds on every OS.
	if err := t.validatePerUserBase(); err != nil {
		return err
	}
	if err := t.ValidateAbstract(runtime.GOOS); err != nil {
		return err
	}
	for _, tpl := range []string{t.Socket, t.PortFile, t.LockFile} {
		// An abstract name is no path: {root} is not required there
		// (ValidateAbstract).
		if tpl != "" && !IsAbstract(tpl) && !strings.Contains(tpl, "{root}") {
			return fmt.Errorf("path template %q: must contain {root} (each scenario gets a fresh root)", tpl)
		}
	}
	if err := t.validateProbe(); err != nil {
		return err
	}
	for _, k := range t.Keep {
		if err := checkKeep(k); err != nil {
			return err
		}
	}
	return nil
}

// checkKeep refuses a --keep glob that does not name something under
// {root}: one that does not start with {root}/, or whose ".." elements
// climb out of it ({root}/../etc), or that is not a valid pattern.
func checkKeep(k string) error {
	if !strings.HasPrefix(k, "{root}/") {
		return fmt.Errorf("--keep %q: must start with {root}/ (only what the daemon makes under its root is judged)", k)
	}
	if c := path.Clean(k); c != "{root}" && !strings.HasPrefix(c, "{root}/") {
		return fmt.Errorf("--keep %q: must stay under {root} once cleaned, not %q (only what the daemon makes under its root is judged)", k, c)
	}
	if _, err := path.Match(k, ""); err != nil {
		return fmt.Errorf("--keep %q: %v", k, err)
	}
	return nil
}

// Placeholders the templates know: the command and environment get all
// three, the path templates {root} and {name}.
var (
	cmdPlaceholders  = []string{"{root}", "{name}", "{transport}"}
	pathPlaceholders = []string{"{root}", "{name}"}
	placeholderRE    = regexp.MustCompile(`\{[A-Za-z_][A-Za-z0-9_-]*\}`)
)

// checkPlaceholders refuses a template holding a {word} that is not one of
// the placeholders it knows (a typo such as {rooot} would otherwise reach
// the daemon verbatim).
func (t Target) checkPlaceholders() error {
	check := func(flag, tpl string, known []string) error {
		for _, m := range placeholderRE.FindAllString(tpl, -1) {
			if !slices.Contains(known, m) {
				return fmt.Errorf("%s %q: unknown placeholder %s; known: %s", flag, tpl, m, strings.Join(known, ", "))
			}
		}
		return nil
	}
	for _, a := range t.Cmd {
		if err := check("--cmd", a, cmdPlaceholders); err != nil {
			return err
		}
	}
	for _, e := range t.Env {
		if err := check("--env", e, cmdPlaceholders); err != nil {
			return err
		}
	}
	if err := check("--socket", t.Socket, pathPlaceholders); err != nil {
		return err
	}
	if err := check("--pidfile", t.PidFile, pathPlaceholders); err != nil {
		return err
	}
	if err := check("--lockfile", t.LockFile, pathPlaceholders); err != nil {
		return err
	}
	for _, k := range t.Keep {
		if err := check("--keep", k, pathPlaceholders); err != nil {
			return err
		}
	}
	if err := check("--probe", t.Probe, probePlaceholders); err != nil {
		return err
	}
	return check("--port-file", t.PortFile, pathPlaceholders)
}

// DefaultTransport is the transport a transport-neutral scenario uses: the
// builtin's platform default; for an external target its socket when it
// has one (and the OS has the unix transport), else its port file.
func (t Target) DefaultTransport() ipc.Transport {
	if t.Builtin {
		return ipc.DefaultTransport()
	}
	if t.Socket != "" && ipc.DefaultTransport() == ipc.TransportUnix {
		return ipc.TransportUnix
	}
	return ipc.TransportTCP
}

// Supports reports whether the target has the transport.
func (t Target) Supports(tr ipc.Transport) bool {
	if t.Builtin {
		return tr == ipc.TransportTCP || ipc.DefaultTransport() == ipc.TransportUnix
	}
	if tr == ipc.TransportUnix {
		return t.Socket != ""
	}
	return t.PortFile != ""
}

func Expand(tpl, root, name string) string {
	return strings.NewReplacer("{root}", root, "{name}", name).Replace(tpl)
}

func expandCmd(tpl, root, name string, tr ipc.Transport) string {
	return strings.NewReplacer("{root}", root, "{name}", name, "{transport}", string(tr)).Replace(tpl)
}

// Paths returns the socket path and port file path for root and name (empty
// when the target has none), as the daemon running as daemonUID sees them.
// For the builtin they come from ipc.ResolveAs, so they include the
// sun_path fallback, which is per uid.
func (t Target) Paths(root, name string, tr ipc.Transport, daemonUID int) (sock, port string, err error) {
	if t.Builtin {
		lay, err := ipc.ResolveAs(daemonUID, name, ipc.WithRoot(root), ipc.WithTransport(tr))
		return lay.Sock, lay.Port, err
	}
	if t.Socket != "" {
		if sock, err = t.sockAt(root, name); err != nil {
			return "", "", err
		}
	}
	if t.PortFile != "" {
		port = filepath.Clean(Expand(t.PortFile, root, name))
	}
	return sock, port, nil
}

// Argv is the daemon's command line for root, name and transport; exe is
// this program (for the builtin, which gets no --root when root is "": it
// then chooses its own, ipc.DefaultRoot).
func (t Target) Argv(exe, root, name string, tr ipc.Transport) []string {
	if t.Builtin && root == "" {
		return []string{exe, "daemon", "--name", name, "--transport", string(tr)}
	}
	if t.Builtin {
		return []string{exe, "daemon", "--name", name, "--root", root, "--transport", string(tr)}
	}
	out := make([]string, len(t.Cmd))
	for i, a := range t.Cmd {
		out[i] = expandCmd(a, root, name, tr)
	}
	return out
}

// DaemonEnv is the extra environment for root, name and transport.
func (t Target) DaemonEnv(root, name string, tr ipc.Transport) []string {
	out := make([]string, len(t.Env))
	for i, e := range t.Env {
		out[i] = expandCmd(e, root, name, tr)
	}
	return out
}

// SplitCommand splits a command template (--cmd, --probe) into program and
// arguments by the rules a user of this OS expects: SplitWindowsCommand's
// on Windows, SplitPOSIXCommand's everywhere else. Nothing of a shell
// applies (no variables, globs or pipes): the program is run directly.
func SplitCommand(s string) ([]string, error) {
	if runtime.GOOS == "windows" {
		return SplitWindowsCommand(s)
	}
	return SplitPOSIXCommand(s)
}

// SplitWindowsCommand splits s the way a Windows program's C runtime splits
// its command line (Microsoft's "Parsing C++ command-line arguments"), so
// that C:\tools\python.exe D:\a\repo\daemon.py stays two paths: spaces and
// tabs separate; double quotes group ("C:\Program Files\x.exe"); a
// backslash is an ordinary character (a path separator) unless a run of
// backslashes ends at a double quote: then each pair is one backslash, and
// an odd one left over makes the quote a literal one (\"); inside quotes
// "" is a literal quote. Single quotes are ordinary characters. An
// unterminated quote is an error, not the end of the argument.
func SplitWindowsCommand(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			inArg = true
			if i < len(s) && s[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"') // an escaped quote
					continue
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
			}
			i-- // the quote (or whatever follows) is handled next round
		case c == '"':
			inArg = true
			if quote && i+1 < len(s) && s[i+1] == '"' {
				cur.WriteByte('"') // "" inside quotes
				i++
				continue
			}
			quote = !quote
		case !quote && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quote {
		return nil, fmt.Errorf("command %q: unterminated \" quote", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("command %q: empty", s)
	}
	return args, nil
}

// SplitPOSIXCommand splits s into program and arguments the way a POSIX
// shell splits words: whitespace separates, single quotes keep everything,
// double quotes keep everything but \" and \\, a backslash outside quotes
// escapes the next character.
func SplitPOSIXCommand(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\'):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == '\\':
			if i+1 == len(rs) {
				return nil, fmt.Errorf("command %q: trailing backslash", s)
			}
			i++
			cur.WriteRune(rs[i])
			inArg = true
		case r == ' ' || r == '\t' || r == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command %q: unterminated %c quote", s, quote)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("command %q: empty", s)
	}
	return args, nil
}

// Protocols for daemons that do not speak bh-json: the suite then knows
// only whether the daemon answers, not who answered or what it said.
const (
	// ProtocolConnect: ready when connect() succeeds; another uid talks to
	// the daemon when its connect() succeeds and the daemon keeps the
	// connection open for heldOpen.
	ProtocolConnect Protocol = "connect"
	// ProtocolLine: Target.Send is written, a reply matching Target.Expect
	// means the daemon answered.
	ProtocolLine Protocol = "line"
	// ProtocolExec: Target.Probe is run as the uid in question; exit 0
	// means the daemon answered.
	ProtocolExec Protocol = "exec"
)

// probePlaceholders are the placeholders of an exec probe template.
var probePlaceholders = []string{"{socket}", "{dir}", "{root}", "{name}", "{port}"}

// SpeaksJSON: the protocol has requests, errors and a ping naming the pid.
func (p Protocol) SpeaksJSON() bool { return p == ProtocolBHJSON || p == ProtocolIPC }

// validateProbe checks the protocol and its probe flags, and the fork and
// directory settings.
func (t Target) validateProbe() error {
	switch t.Protocol {
	case ProtocolBHJSON, ProtocolIPC, ProtocolConnect:
	case ProtocolLine:
		if t.Expect == "" {
			return errors.New("--protocol line needs --expect REGEX (and --send STRING unless the daemon speaks first)")
		}
		if _, err := DecodeEscapes(t.Send); err != nil {
			return fmt.Errorf("--send %q: %v", t.Send, err)
		}
		if _, err := regexp.Compile(t.Expect); err != nil {
			return fmt.Errorf("--expect %q: %v", t.Expect, err)
		}
	case ProtocolExec:
		if t.Probe == "" {
			return errors.New("--protocol exec needs --probe TEMPLATE, e.g. --probe 'redis-cli -s {socket} ping'")
		}
		if _, err := SplitCommand(t.Probe); err != nil {
			return fmt.Errorf("--probe: %v", err)
		}
	default:
		return fmt.Errorf("protocol %q: want bh-json, ipc, connect, line or exec", t.Protocol)
	}
	if t.Protocol != ProtocolLine && (t.Send != "" || t.Expect != "") {
		return fmt.Errorf("--send and --expect belong to --protocol line, not %s", t.Protocol)
	}
	if t.Protocol != ProtocolExec && t.Probe != "" {
		return fmt.Errorf("--probe belongs to --protocol exec, not %s", t.Protocol)
	}
	switch t.DirCreatedBy {
	case "", "daemon", "suite":
	default:
		return fmt.Errorf("--dir-created-by %q: want daemon or suite", t.DirCreatedBy)
	}
	if t.DirCreatedBy == "suite" && t.Socket == "" {
		return errors.New("--dir-created-by suite makes the socket's directory: it needs --socket")
	}
	if t.Forks && runtime.GOOS == "windows" {
		return errors.New("--forks: daemons that detach are followed on Linux and macOS only")
	}
	if t.PidFile != "" && !t.Forks {
		return errors.New("--pidfile names the serving process of a daemon that forks: give --forks too")
	}
	if t.PidFile != "" && !strings.Contains(t.PidFile, "{root}") {
		return fmt.Errorf("--pidfile %q: must contain {root} (each scenario gets a fresh root)", t.PidFile)
	}
	return nil
}

// EscapeSend writes b in --send's escapes (the inverse of its decoding):
// printable ASCII as it is, a backslash as \\, \r \n \t, and any other byte
// as \xNN. --send-file's bytes travel (and are reported) this way.
func EscapeSend(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		switch {
		case c == '\\':
			s.WriteString(`\\`)
		case c == '\r':
			s.WriteString(`\r`)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\t':
			s.WriteString(`\t`)
		case c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		default:
			fmt.Fprintf(&s, `\x%02x`, c)
		}
	}
	return s.String()
}

// DecodeEscapes turns --send's escapes into bytes: \r \n \t \\ and \xNN;
// any other backslash sequence is an error naming it.
func DecodeEscapes(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 == len(s) {
			return nil, errors.New("trailing backslash; want \\r \\n \\t \\\\ or \\xNN")
		}
		i++
		switch s[i] {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case '\\':
			out = append(out, '\\')
		case 'x':
			if i+3 > len(s) {
				return nil, fmt.Errorf("\\x at byte %d needs two hex digits", i-1)
			}
			b, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("\\x%s at byte %d: want two hex digits", s[i+1:i+3], i-1)
			}
			out = append(out, byte(b))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c at byte %d; want \\r \\n \\t \\\\ or \\xNN", s[i], i-1)
		}
	}
	return out, nil
}

// TakesName: some template passes the endpoint name to the daemon.
func (t Target) TakesName() bool {
	tpls := append([]string{t.Socket, t.PortFile, t.Probe, t.PidFile}, t.Cmd...)
	for _, tpl := range append(tpls, t.Env...) {
		if strings.Contains(tpl, "{name}") {
			return true
		}
	}
	return false
}

// ProbeWhat says what the suite waits for from this target.
func (t Target) ProbeWhat() string {
	switch t.Protocol {
	case ProtocolConnect:
		return "connect() to succeed"
	case ProtocolLine:
		return fmt.Sprintf("a reply matching %q to %q", t.Expect, t.Send)
	case ProtocolExec:
		return fmt.Sprintf("the probe %q to exit 0, run", t.Probe)
	}
	return fmt.Sprintf("a %s ping", t.Protocol)
}

// IsAbstract: sock names a Linux abstract socket ('@' first, as Go's net
// package and /proc/net/unix write the leading NUL), not a file.
func IsAbstract(sock string) bool { return len(sock) > 0 && sock[0] == '@' }

// AbstractTarget: the target is external and its socket an abstract name.
func (t Target) AbstractTarget() bool { return !t.Builtin && IsAbstract(t.Socket) }

// ValidateAbstract refuses an abstract --socket where it cannot work: on
// goos other than Linux, without a name, with --protocol ipc (ipc's
// clients dial files) or --dir-created-by suite (there is no directory).
// An abstract name need not hold {root}: it is global to the network
// namespace, though with {root} in it each scenario (and each run on the
// machine) gets its own.
func (t Target) ValidateAbstract(goos string) error {
	if !IsAbstract(t.Socket) {
		return nil
	}
	switch {
	case goos != "linux":
		return fmt.Errorf("--socket %q: abstract socket names ('@' first) are Linux-only, and this is %s; give a socket path template such as %q", t.Socket, goos, DefaultSocketTemplate)
	case len(t.Socket) == 1:
		return fmt.Errorf("--socket %q: no name after the '@' (an abstract name such as '@{root}/bu-{name}.sock')", t.Socket)
	case t.Protocol == ProtocolIPC:
		return fmt.Errorf("--socket %q: --protocol ipc dials socket files only (the ipc package has no abstract transport); a daemon speaking the same JSON lines on an abstract name is --protocol bh-json", t.Socket)
	case t.DirCreatedBy == "suite":
		return fmt.Errorf("--socket %q with --dir-created-by suite: an abstract name has no directory to make", t.Socket)
	case !placeholderRE.MatchString(t.Socket) && len(t.Socket) > ipc.SunPathLimit("linux"):
		// A literal name is the name every scenario uses: refused here,
		// before anything starts, rather than by every scenario.
		return fmt.Errorf("--socket %q: %d bytes with its '@', over the %d an abstract name may have (sun_path's, the '@' standing for its leading NUL); give a shorter name", t.Socket, len(t.Socket), ipc.SunPathLimit("linux"))
	}
	return nil
}

// ValidateAbstractName refuses an abstract --socket template with {name}
// and no {root} that is too long for name: its length does not depend on
// the run, so it is known before anything starts (with {root} it is known
// once the run directory is made: AbstractTooLong).
func (t Target) ValidateAbstractName(name string) error {
	if !IsAbstract(t.Socket) || strings.Contains(t.Socket, "{root}") {
		return nil
	}
	if sock := Expand(t.Socket, "", name); len(sock) > ipc.SunPathLimit("linux") {
		return fmt.Errorf("--socket %q with --name %q: the abstract name %s is %d bytes with its '@', over the %d an abstract name may have (sun_path's); give a shorter --socket or --name", t.Socket, name, sock, len(sock), ipc.SunPathLimit("linux"))
	}
	return nil
}

// sockAt is the socket for root and name: the template expanded, a path
// cleaned; an abstract name as it is (cleaning would change the name), at
// most ipc.SunPathLimit bytes with its '@' (which stands for sun_path's
// leading NUL).
func (t Target) sockAt(root, name string) (string, error) {
	sock := Expand(t.Socket, root, name)
	if !IsAbstract(sock) {
		return filepath.Clean(sock), nil
	}
	if limit := ipc.SunPathLimit("linux"); len(sock) > limit {
		return "", &AbstractTooLong{Sock: sock, Template: t.Socket, Root: root, Limit: limit, RootBytes: strings.Count(t.Socket, "{root}") * len(root)}
	}
	return sock, nil
}

// validatePerUserBase refuses --per-user-base where it contradicts the
// target: it says that the daemon picks the directory its socket goes
// in. An abstract name is in no directory, and a directory the suite
// makes (--dir-created-by suite) is the operator's choice for a daemon
// told where, not the daemon's. A TCP-only target (an empty --socket) keeps
// the flag's other meaning: {root} as $TMPDIR in every scenario, so that
// a daemon that chooses its own base writes its port file there
// (dir.squat-dos, on the unix transport, does not apply).
func (t Target) validatePerUserBase() error {
	if !t.PerUserBase {
		return nil
	}
	switch {
	case IsAbstract(t.Socket):
		return fmt.Errorf("--per-user-base with --socket %q: an abstract name is in no directory, so the daemon has no base to choose (the name is global to the network namespace); drop --per-user-base: dir.squat-dos judges the abstract name itself, which any uid can bind first", t.Socket)
	case t.DirCreatedBy == "suite":
		return fmt.Errorf("--per-user-base with --dir-created-by suite: a daemon that chooses its own base makes its socket's directory there itself (dir.squat-dos judges where it goes), while --dir-created-by suite is for a daemon told where, whose directory an operator makes; " +
			"give one of them (a daemon that always uses $XDG_RUNTIME_DIR: --env 'XDG_RUNTIME_DIR={root}/run', a --socket under it and --dir-created-by suite, without --per-user-base)")
	}
	return nil
}

// AbstractTooLong is the error for an abstract socket name that, with the
// scenario's root in it, is over sun_path's limit: how much of it {root}
// is and where {root} comes from (Env.setRoot fills RootFrom), so that
// the user shortens what is long.
type AbstractTooLong struct {
	Sock, Template, Root string
	Limit                int
	// RootBytes: the bytes {root} takes in Sock (each {root} in the
	// template counts).
	RootBytes int
	// RootFrom says where the scenario's root lies: the run directory, and
	// the base it was made in (Runner.rootOrigin); "" when unknown.
	RootFrom string
}

func (e *AbstractTooLong) Error() string {
	s := fmt.Sprintf("abstract socket name %s: %d bytes with its '@', over the %d sun_path holds", e.Sock, len(e.Sock), e.Limit)
	if e.RootBytes == 0 {
		return s + fmt.Sprintf("; shorten --socket %q", e.Template)
	}
	s += fmt.Sprintf(": {root} is %d of them (%s", e.RootBytes, e.Root)
	if e.RootFrom != "" {
		s += ", " + e.RootFrom
	}
	s += fmt.Sprintf("), the rest of --socket %q %d", e.Template, len(e.Sock)-e.RootBytes)
	if e.RootFrom != "" {
		return s + "; run with a shorter TMPDIR, or shorten --socket"
	}
	return s + "; shorten the root or --socket"
}
