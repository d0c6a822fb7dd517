package tasks

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// benchCount is how many times each benchmark runs; the table uses medians.
const benchCount = 5

// BenchTarget is one row of the performance table: a benchmark, the
// baseline it is compared with in the same run, the metric, and the limit.
type BenchTarget struct {
	What     string
	Bench    string // benchmark name without the -N suffix
	Baseline string // "" : an absolute limit
	Metric   string // "p50-ns", "ns/op" or "heapB/conn"
	// Max is the largest ratio to the baseline (or, without a baseline, the
	// largest value) that meets the target.
	Max float64
	// Throughput: the ratio shown is baseline/bench (ops per second), and
	// the target is a minimum of 1/Max.
	Throughput bool
}

// BenchTargets are the performance targets of the ipc package.
var BenchTargets = []BenchTarget{
	{What: "ping round trip, unix (p50)", Bench: "BenchmarkPing/unix/ipc", Baseline: "BenchmarkPing/unix/raw-echo", Metric: "p50-ns", Max: 1.25},
	{What: "ping round trip, tcp (p50)", Bench: "BenchmarkPing/tcp/ipc", Baseline: "BenchmarkPing/tcp/raw-echo", Metric: "p50-ns", Max: 1.25},
	{What: "8 connections, unix (throughput)", Bench: "BenchmarkPingParallel8/unix/ipc", Baseline: "BenchmarkPingParallel8/unix/raw-echo", Metric: "ns/op", Max: 1 / 0.8, Throughput: true},
	{What: "8 connections, tcp (throughput)", Bench: "BenchmarkPingParallel8/tcp/ipc", Baseline: "BenchmarkPingParallel8/tcp/raw-echo", Metric: "ns/op", Max: 1 / 0.8, Throughput: true},
	{What: "Dial + peer checks + ping, unix", Bench: "BenchmarkDial/unix/ipc", Baseline: "BenchmarkDial/unix/raw-echo", Metric: "ns/op", Max: 2},
	{What: "Dial + HMAC handshake + ping, tcp", Bench: "BenchmarkDial/tcp/ipc", Baseline: "BenchmarkDial/tcp/raw-echo", Metric: "ns/op", Max: 3},
	{What: "Listen + Close, unix, tmpfs (p50)", Bench: "BenchmarkListenClose/unix/tmpfs", Metric: "p50-ns", Max: 1e6},
	{What: "Listen + Close, unix, temp dir (p50)", Bench: "BenchmarkListenClose/unix/tmpdir", Metric: "p50-ns", Max: 1e6},
	{What: "Listen + Close, tcp, tmpfs (p50)", Bench: "BenchmarkListenClose/tcp/tmpfs", Metric: "p50-ns", Max: 1e6},
	{What: "Listen + Close, tcp, temp dir (p50)", Bench: "BenchmarkListenClose/tcp/tmpdir", Metric: "p50-ns", Max: 1e6},
	{What: "heap per idle connection, unix", Bench: "BenchmarkIdleConnHeap/unix", Metric: "heapB/conn", Max: 16 << 10},
	{What: "heap per idle authenticated connection, tcp", Bench: "BenchmarkIdleConnHeap/tcp", Metric: "heapB/conn", Max: 16 << 10},
}

// ParseBench reads go test -bench output: name (without the -N suffix) →
// metric → the values of each run.
func ParseBench(r io.Reader) map[string]map[string][]float64 {
	out := map[string]map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if out[name] == nil {
			out[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			out[name][f[i+1]] = append(out[name][f[i+1]], v)
		}
	}
	return out
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2], true
}

// BenchRow is one evaluated target.
type BenchRow struct {
	Target          BenchTarget
	Value, Baseline float64
	Ratio           float64
	Met, Missing    bool
}

// Evaluate computes each target's medians, ratio and verdict.
func Evaluate(res map[string]map[string][]float64) []BenchRow {
	var rows []BenchRow
	for _, t := range BenchTargets {
		row := BenchRow{Target: t}
		v, ok := median(res[t.Bench][t.Metric])
		if !ok {
			row.Missing = true
			rows = append(rows, row)
			continue
		}
		row.Value = v
		if t.Baseline == "" {
			row.Met = v <= t.Max
		} else if base, ok := median(res[t.Baseline][t.Metric]); ok && base > 0 {
			row.Baseline, row.Ratio = base, v/base
			row.Met = row.Ratio <= t.Max
		} else {
			row.Missing = true
		}
		rows = append(rows, row)
	}
	return rows
}

func human(metric string, v float64) string {
	switch metric {
	case "heapB/conn":
		return fmt.Sprintf("%.1f KiB", v/1024)
	default:
		d := time.Duration(v)
		if d >= time.Millisecond {
			return fmt.Sprintf("%.2f ms", float64(d)/1e6)
		}
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	}
}

// WriteBenchTable prints the evaluated targets.
func WriteBenchTable(w io.Writer, rows []BenchRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHAT\tVALUE\tBASELINE (same run)\tRATIO\tTARGET\t")
	for _, r := range rows {
		t := r.Target
		if r.Missing {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tnot measured\n", t.What)
			continue
		}
		base, ratio, target := "-", "-", "≤ "+human(t.Metric, t.Max)
		if t.Baseline != "" {
			base = human(t.Metric, r.Baseline)
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
			target = fmt.Sprintf("≤ %.2f×", t.Max)
			if t.Throughput {
				ratio = fmt.Sprintf("%.2f× throughput", 1/r.Ratio)
				target = fmt.Sprintf("≥ %.2f×", 1/t.Max)
			}
		}
		verdict := "ok"
		if !r.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.What, human(t.Metric, r.Value), base, ratio, target, verdict)
	}
	tw.Flush()
}

// Bench runs the ipc benchmarks (benchCount times each), writes the raw
// output to reports/bench/bench.txt (benchstat reads it, for comparisons
// across commits) and prints the targets table. It reports misses; it does
// not fail on them (timings on a shared machine are not pass/fail).
func Bench(ctx context.Context, w io.Writer) error {
	dir, err := reportsDir("bench")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var out bytes.Buffer
	t0 := time.Now()
	fmt.Fprintf(w, "bench: go test -bench . -count %d ./ipc (about a minute)\n", benchCount)
	err = goCmd(ctx, io.MultiWriter(&out, w), nil, "test", "-run", "^$", "-bench", ".", "-benchmem",
		"-count", strconv.Itoa(benchCount), "-benchtime", "300ms", "./ipc")
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "bench.txt")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		return err
	}
	rows := Evaluate(ParseBench(&out))
	fmt.Fprintln(w)
	WriteBenchTable(w, rows)
	missed := 0
	for _, r := range rows {
		if !r.Met || r.Missing {
			missed++
		}
	}
	fmt.Fprintf(w, "\nbench: %d of %d targets met in %s; raw output (benchstat) in %s\n", len(rows)-missed, len(rows), time.Since(t0).Round(time.Second), file)
	return nil
}
