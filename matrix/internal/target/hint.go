package target

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/org/bh-ipc-check/report"
)

// FromActionEnv is set to 1 by the GitHub Action's run step
// (scripts/action.sh): the suite's hints and skip reasons then name the
// action's inputs, which is all its user can set, instead of the CLI's
// flags.
const FromActionEnv = "BH_FROM_ACTION"

// actionInputs are the run flags the action has a named input for (of the
// same name, but for those in actionInputNames); any other flag goes in its
// "flags" input, one a line.
var actionInputs = map[string]bool{
	"cmd": true, "protocol": true, "send": true, "send-file": true, "expect": true, "probe": true,
	"forks": true, "pidfile": true, "dir-created-by": true, "env": true, "env-clear": true,
	"keep": true, "umask": true, "daemon-uid": true, "attacker-uid": true, "timeout": true,
	"ready-timeout": true, "socket": true, "port-file": true, "name": true, "scenarios": true,
}

// actionInputNames are the action's inputs whose name is not their
// flag's: the daemon's command (--cmd) is the input target.
var actionInputNames = map[string]string{"cmd": "target"}

// fromAction reports whether this run comes from the action.
func fromAction() bool { return os.Getenv(FromActionEnv) == "1" }

// Hint says how to set the run flag named flag to value, as the user can:
// "--protocol line" on the command line; "input protocol: line" when the
// run comes from the action (or "input flags: --leg-timeout=10m" for a
// flag without an input of its own). An empty value names the flag alone
// ("--protocol", "input protocol"). A switch takes value "true": "--forks",
// "input forks: 'true'".
func Hint(flag, value string) string {
	return hint(fromAction(), flag, value)
}

func hint(action bool, flag, value string) string {
	input := flag
	if n, ok := actionInputNames[flag]; ok {
		input = n
	}
	switch {
	case !action && value == "true":
		return "--" + flag
	case !action && value == "":
		return "--" + flag
	case !action:
		return "--" + flag + " " + value
	case !actionInputs[flag] && value == "":
		return "input flags: --" + flag
	case !actionInputs[flag]:
		return fmt.Sprintf("input flags: --%s=%s", flag, value)
	case value == "":
		return "input " + input
	case value == "true":
		return "input " + input + ": 'true'"
	default:
		return "input " + input + ": " + value
	}
}

// Hints names several run flags as Hint names one, in a list: "--cmd,
// --env, --lockfile" on the command line; "inputs target, env, flags:
// --lockfile" when the run comes from the action.
func Hints(flags ...string) string {
	return hints(fromAction(), flags...)
}

// RerunFlags are the flags the rerun command of an incomplete run adds
// because the results show they were missing: --forks when a scenario
// ended in an error because the started process had exited while its
// child served (signalErr).
func RerunFlags(t Target, reps ...report.Report) []string {
	if t.Forks || t.Builtin {
		return nil
	}
	for _, r := range reps {
		for _, res := range r.Results {
			if res.Status == Error && strings.Contains(res.Reason, ForksHintText) {
				return []string{"--forks"}
			}
		}
	}
	return nil
}

func hints(action bool, flags ...string) string {
	names := make([]string, len(flags))
	for i, f := range flags {
		names[i] = strings.TrimPrefix(hint(action, f, ""), "input ")
	}
	if action {
		return "inputs " + strings.Join(names, ", ")
	}
	return strings.Join(names, ", ")
}

// flagWord is a run flag named in a message: "--ready-timeout", or the
// flag package's "-timeout".
var flagWord = regexp.MustCompile(`(^|[\s"'(])--?([a-z][a-z-]*[a-z])\b`)

// ActionWords rewrites the run flags a message names into the action's
// inputs ("--ready-timeout 50ms" into "input ready-timeout 50ms"; a flag
// with no input of its own into "input flags: --leg-timeout"), for a
// message shown to a user of the action. Words that are not run flags
// are left as they are.
func ActionWords(msg string) string {
	// The flag package's "invalid value "90" for flag -timeout".
	msg = strings.ReplaceAll(msg, "for flag -", "for -")
	return flagWord.ReplaceAllStringFunc(msg, func(m string) string {
		sub := flagWord.FindStringSubmatch(m)
		name := sub[2]
		if actionInputs[name] || reportInputs[name] {
			input := name
			if n, ok := actionInputNames[name]; ok {
				input = n
			}
			return sub[1] + "input " + input
		}
		if runFlags[name] {
			return sub[1] + "input flags: --" + name
		}
		return m
	})
}

// reportInputs are the run flags the action sets from inputs of the same
// name that are not the daemon's (where the run goes and its reports).
var reportInputs = map[string]bool{"native": true, "containers": true, "image": true, "report-dir": true}

// runFlags are the run flags without an input of their own (they go in
// the action's flags input), as ActionWords names them.
var runFlags = map[string]bool{
	"lockfile": true, "leg-timeout": true, "attacker-gid": true, "attacker-groups": true, "format": true, "leg": true,
}

// ForksHintText explains a signal that found the started process gone
// although the daemon had answered: its first process exited once a child
// served (gpg-agent without --daemon's foreground options).
const ForksHintText = "the process the suite started has exited while its daemon served: it forks into the background"
