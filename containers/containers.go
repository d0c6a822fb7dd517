// Package containers runs the regression suite's Linux legs in Docker
// containers, each with its own daemon uid, attacker uid and umask, through
// github.com/ory/dockertest/v3.
//
// One image is built per run from a static bh-ipc-check binary: FROM scratch
// for the builtin target (numeric uids, no shell, a tmpfs /tmp with mode
// 1777), or FROM a user's image for an external target (the image must
// already be present for the engine, or pullable by it: nothing here
// pulls). Each leg is one container running "bh-ipc-check run" inside; its
// JSON report comes back on stdout and joins the matrix as column
// container/<daemon-uid>/<umask>. Every image and container a run creates
// carries the label org.bh-ipc-check.run=<run id> and is removed at the end,
// whatever happened. A leg that hangs is killed at its timeout and reported
// failed with its logs. When no engine answers, the legs are reported as
// skipped with the reason, or as failed when Options.RequireEngine is set
// (BH_REQUIRE_DOCKER=1).
package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"github.com/org/bh-ipc-check/matrix"
)

// RunLabel is the label every image and container of a run carries; its
// value is the run's id.
const RunLabel = "org.bh-ipc-check.run"

// Leg is one container configuration.
type Leg struct {
	Name        string // the report column
	DaemonUID   int
	AttackerUID int // -1: none (a non-root leg cannot switch uids)
	Umask       int
	// User is the container's user ("0" for root, "1000:1000").
	User string
}

// DefaultLegs are the seven default legs: daemon uid 1000, 4242 and 0, each
// under umask 000 (attacker uid 1001) and 022 (attacker uid 31337), all
// with the container running as root; and one leg whose container runs as
// uid 1000, so the non-root path (skips with reasons) is exercised too.
func DefaultLegs() []Leg {
	var legs []Leg
	for _, uid := range []int{1000, 4242, 0} {
		for _, um := range []int{0o000, 0o022} {
			attacker := 1001
			if um != 0 {
				attacker = 31337
			}
			legs = append(legs, Leg{Name: fmt.Sprintf("container/%d/%03o", uid, um), DaemonUID: uid, AttackerUID: attacker, Umask: um, User: "0"})
		}
	}
	return append(legs, Leg{Name: "container/1000/000/nonroot", DaemonUID: 1000, AttackerUID: -1, Umask: 0, User: "1000:1000"})
}

// Options configures Run.
type Options struct {
	// Binary is a static linux bh-ipc-check (see BuildStatic, IsStatic).
	Binary string
	// Image, when set, is the user's image the binary is copied into (for
	// an external target whose daemon and runtime live there).
	Image     string
	Target    matrix.Target
	Scenarios string // --scenarios patterns; "" all
	Name      string // --name; "" the default
	Legs      []Leg  // nil: DefaultLegs()
	// Parallel bounds the legs running at once (default: the core count).
	Parallel int
	// LegTimeout bounds one leg (default 5 minutes).
	LegTimeout time.Duration
	// Progress receives a line as each leg starts and ends (may be nil).
	Progress io.Writer
	// RequireEngine turns "no engine" from skipped legs into failed ones.
	RequireEngine bool
	// Endpoint is the engine address ("" : DOCKER_HOST or the default).
	Endpoint string
}

// RequireEngineFromEnv reports whether BH_REQUIRE_DOCKER=1.
func RequireEngineFromEnv() bool { return os.Getenv("BH_REQUIRE_DOCKER") == "1" }

func (o *Options) progress(format string, a ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", a...)
	}
}

// Run runs every leg and returns one report per leg, in leg order. The
// error is for set-up failures that make every leg meaningless (the image
// cannot be built); an unreachable engine is reported in the legs instead.
func Run(ctx context.Context, o Options) ([]matrix.Report, error) {
	if o.Legs == nil {
		o.Legs = DefaultLegs()
	}
	if o.Parallel <= 0 {
		o.Parallel = runtime.NumCPU()
	}
	if o.LegTimeout <= 0 {
		o.LegTimeout = 5 * time.Minute
	}
	if err := o.Target.Validate(); err != nil {
		return nil, err
	}
	pool, err := dockertest.NewPool(o.Endpoint)
	if err == nil {
		err = pool.Client.Ping()
	}
	if err != nil {
		status, verb := matrix.Skip, "skipped"
		if o.RequireEngine {
			status, verb = matrix.Error, "errored (BH_REQUIRE_DOCKER=1)"
		}
		why := fmt.Sprintf("no Docker engine reachable (%v); start one with scripts/ensure-docker.sh or set DOCKER_HOST", err)
		o.progress("containers: %s: legs %s", why, verb)
		var out []matrix.Report
		for _, l := range o.Legs {
			out = append(out, placeholder(l, o.Target, status, why, "", 0))
		}
		return out, nil
	}
	r := &run{o: o, pool: pool, id: newRunID()}
	defer r.cleanup()
	t0 := time.Now()
	if err := r.buildImage(ctx); err != nil {
		return nil, err
	}
	o.progress("containers: image %s built in %s", r.image, time.Since(t0).Round(time.Millisecond))
	reports := make([]matrix.Report, len(o.Legs))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, l := range o.Legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			reports[i] = r.runLeg(ctx, l)
		}()
	}
	wg.Wait()
	return reports, nil
}

type run struct {
	o     Options
	pool  *dockertest.Pool
	id    string
	image string
}

func newRunID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *run) labels() map[string]string { return map[string]string{RunLabel: r.id} }

// buildImage builds the leg image from the static binary.
func (r *run) buildImage(ctx context.Context) error {
	static, err := IsStatic(r.o.Binary)
	if err != nil {
		return fmt.Errorf("containers: %s: %w", r.o.Binary, err)
	}
	if !static {
		return fmt.Errorf("containers: %s is dynamically linked; the image is FROM scratch: build it with CGO_ENABLED=0 (go tool mage build)", r.o.Binary)
	}
	bin, err := os.ReadFile(r.o.Binary)
	if err != nil {
		return err
	}
	from := "scratch"
	if r.o.Image != "" {
		from = r.o.Image
	}
	dockerfile := fmt.Sprintf("FROM %s\nCOPY bh-ipc-check /bh-ipc-check\nLABEL %s=%s\n", from, RunLabel, r.id)
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"bh-ipc-check", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	r.image = "bh-ipc-check-leg:" + r.id
	var out bytes.Buffer
	err = r.pool.Client.BuildImage(docker.BuildImageOptions{
		Context:             ctx,
		Name:                r.image,
		InputStream:         &ctxTar,
		OutputStream:        &out,
		Labels:              r.labels(),
		RmTmpContainer:      true,
		ForceRmTmpContainer: true,
	})
	if err != nil {
		return fmt.Errorf("containers: building the image FROM %s: %w\n%s", from, err, tail(out.String(), 20))
	}
	return nil
}

// innerArgs is the "bh-ipc-check run" command line for a leg.
func (r *run) innerArgs(l Leg) []string {
	args := []string{"run", "--format", "json", "--leg", l.Name, "--umask", fmt.Sprintf("%03o", l.Umask)}
	if l.User == "0" || l.User == "" {
		args = append(args, "--daemon-uid", strconv.Itoa(l.DaemonUID), "--attacker-uid", strconv.Itoa(l.AttackerUID))
	}
	if r.o.Scenarios != "" {
		args = append(args, "--scenarios", r.o.Scenarios)
	}
	if r.o.Name != "" {
		args = append(args, "--name", r.o.Name)
	}
	t := r.o.Target
	if !t.Builtin {
		args = append(args, "--cmd", quoteCommand(t.Cmd), "--protocol", string(t.Protocol), "--socket", t.Socket)
		if t.PortFile != "" {
			args = append(args, "--port-file", t.PortFile)
		}
		for _, e := range t.Env {
			args = append(args, "--env", e)
		}
	}
	return args
}

// quoteCommand single-quotes each word so matrix.SplitPOSIXCommand (the
// Linux CLI's SplitCommand in the container) gives argv
// back unchanged.
func quoteCommand(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func (r *run) runLeg(ctx context.Context, l Leg) matrix.Report {
	t0 := time.Now()
	r.o.progress("containers: %s: starting (user %s, daemon uid %d, attacker uid %d, umask %03o)", l.Name, l.User, l.DaemonUID, l.AttackerUID, l.Umask)
	c, err := r.pool.Client.CreateContainer(docker.CreateContainerOptions{
		Context: ctx,
		Config: &docker.Config{
			Image:      r.image,
			Entrypoint: []string{"/bh-ipc-check"},
			Cmd:        r.innerArgs(l),
			User:       l.User,
			Labels:     r.labels(),
			Env:        []string{"TMPDIR=/tmp"},
		},
		HostConfig: &docker.HostConfig{
			// FROM scratch has no /tmp: a tmpfs like a host's /tmp. exec,
			// because the suite runs a copy of itself from there.
			Tmpfs: map[string]string{"/tmp": "rw,exec,nosuid,nodev,mode=1777,size=512m"},
		},
	})
	if err != nil {
		return placeholder(l, r.o.Target, matrix.Error, "creating the container: "+err.Error(), "", time.Since(t0))
	}
	if err := r.pool.Client.StartContainer(c.ID, nil); err != nil {
		return placeholder(l, r.o.Target, matrix.Error, "starting the container: "+err.Error(), "", time.Since(t0))
	}
	lctx, cancel := context.WithTimeout(ctx, r.o.LegTimeout)
	defer cancel()
	code, werr := r.pool.Client.WaitContainerWithContext(c.ID, lctx)
	if werr != nil {
		// Hung (or cancelled): kill it, wait for it to be gone, keep its logs.
		r.pool.Client.KillContainer(docker.KillContainerOptions{ID: c.ID})
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		r.pool.Client.WaitContainerWithContext(c.ID, wctx)
		wcancel()
		_, stderr := r.logs(c.ID)
		why := fmt.Sprintf("leg killed after %s: %v", r.o.LegTimeout, werr)
		r.o.progress("containers: %s: %s", l.Name, why)
		return placeholder(l, r.o.Target, matrix.Error, why, stderr, time.Since(t0))
	}
	stdout, stderr := r.logs(c.ID)
	var rep matrix.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Schema != matrix.ReportSchema {
		why := fmt.Sprintf("no report from the leg (exit %d): %v", code, err)
		r.o.progress("containers: %s: %s", l.Name, why)
		return placeholder(l, r.o.Target, matrix.Error, why, stderr, time.Since(t0))
	}
	rep.DurationMS = float64(time.Since(t0).Microseconds()) / 1000
	r.o.progress("containers: %s: %d passed, %d failed, %d skipped in %s", l.Name, rep.Summary.Passed, rep.Summary.Failed, rep.Summary.Skipped, time.Since(t0).Round(time.Millisecond))
	return rep
}

func (r *run) logs(id string) (stdout, stderr string) {
	var o, e bytes.Buffer
	r.pool.Client.Logs(docker.LogsOptions{Container: id, OutputStream: &o, ErrorStream: &e, Stdout: true, Stderr: true})
	return o.String(), e.String()
}

// cleanup removes every container and the image of this run, by label. A
// failure here is reported, not fatal: the legs' results stand, and
// Leftovers / mage clean find what remains.
func (r *run) cleanup() {
	if _, err := removeLabelled(r.pool.Client, RunLabel+"="+r.id); err != nil {
		r.o.progress("containers: cleaning up run %s: %v (go tool mage clean removes leftovers)", r.id, err)
	}
}

// removeLabelled force-removes the containers, then the images, matching
// the label selector, and returns how many it removed.
func removeLabelled(c *docker.Client, selector string) (int, error) {
	n := 0
	filter := map[string][]string{"label": {selector}}
	cs, err := c.ListContainers(docker.ListContainersOptions{All: true, Filters: filter})
	if err != nil {
		return n, err
	}
	for _, ct := range cs {
		if err := c.RemoveContainer(docker.RemoveContainerOptions{ID: ct.ID, Force: true, RemoveVolumes: true}); err != nil {
			return n, err
		}
		n++
	}
	// Tagged images first: removing one prunes its untagged build layers
	// (which inherit the label). Then whatever untagged layers remain, over
	// a few passes, since a parent cannot go before its child.
	imgs, err := c.ListImages(docker.ListImagesOptions{Filters: filter})
	if err != nil {
		return n, err
	}
	for _, im := range imgs {
		if err := c.RemoveImageExtended(im.ID, docker.RemoveImageOptions{Force: true}); err != nil {
			return n, err
		}
		n++
	}
	var lastErr error
	for pass := 0; pass < 5; pass++ {
		rest, err := c.ListImages(docker.ListImagesOptions{All: true, Filters: filter})
		if err != nil {
			return n, err
		}
		if len(rest) == 0 {
			return n, nil
		}
		for _, im := range rest {
			if lastErr = c.RemoveImageExtended(im.ID, docker.RemoveImageOptions{Force: true}); lastErr == nil {
				n++
			}
		}
	}
	return n, fmt.Errorf("labelled images remain after 5 passes: %w", lastErr)
}

// Leftovers lists the containers and images carrying RunLabel (any run),
// for tests and for an operator cleaning up after a killed run.
func Leftovers(endpoint string) (containers, images []string, err error) {
	pool, err := dockertest.NewPool(endpoint)
	if err != nil {
		return nil, nil, err
	}
	cs, err := pool.Client.ListContainers(docker.ListContainersOptions{All: true, Filters: map[string][]string{"label": {RunLabel}}})
	if err != nil {
		return nil, nil, err
	}
	for _, c := range cs {
		containers = append(containers, c.ID[:12]+" "+c.Labels[RunLabel])
	}
	imgs, err := pool.Client.ListImages(docker.ListImagesOptions{All: true, Filters: map[string][]string{"label": {RunLabel}}})
	if err != nil {
		return nil, nil, err
	}
	for _, im := range imgs {
		images = append(images, strings.Join(im.RepoTags, ",")+" "+im.Labels[RunLabel])
	}
	return containers, images, nil
}

// placeholder is a leg's report when the suite could not run in it: every
// selected scenario carries the same status and reason. An Error (the leg
// could not be set up, hung, or gave no report) is no verdict: the
// scenarios count as incomplete, never as failed or passed.
func placeholder(l Leg, t matrix.Target, st matrix.Status, why, logs string, took time.Duration) matrix.Report {
	host, _ := os.Hostname()
	rep := matrix.Report{Schema: matrix.ReportSchema, Tool: "bh-ipc-check", Host: host, OS: "linux", Arch: runtime.GOARCH,
		Leg: l.Name, Target: t.ReportTarget(), DaemonUID: l.DaemonUID, AttackerUID: l.AttackerUID, Umask: fmt.Sprintf("%03o", l.Umask),
		Started: time.Now().UTC(), DurationMS: float64(took.Microseconds()) / 1000}
	var ev []string
	if logs != "" {
		ev = []string{"leg output: " + tail(logs, 30)}
	}
	for _, s := range matrix.Catalogue() {
		rep.Results = append(rep.Results, matrix.Result{ID: s.ID, Title: s.Title, Severity: s.Severity, Status: st, Reason: why, Evidence: ev, Incomplete: st == matrix.Error && s.Severity == matrix.Required})
	}
	rep.Summary = matrix.Summarize(rep.Results)
	return rep
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// IsStatic reports whether the ELF file at path has no program
// interpreter (it runs in an image FROM scratch).
func IsStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// BuildStatic builds ./cmd/bh-ipc-check of the module in dir as a static
// linux binary at out.
func BuildStatic(ctx context.Context, dir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./cmd/bh-ipc-check")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build (static): %w\n%s", err, b)
	}
	return nil
}

// RemoveLeftovers removes every container and image carrying RunLabel (any
// run): what a killed run could not clean up. It returns how many it
// removed.
func RemoveLeftovers(endpoint string) (int, error) {
	pool, err := dockertest.NewPool(endpoint)
	if err == nil {
		err = pool.Client.Ping()
	}
	if err != nil {
		return 0, err
	}
	return removeLabelled(pool.Client, RunLabel)
}
