package matrix

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// external is a valid external target for the validation tests.
func external() Target {
	return Target{Cmd: []string{"d", "--root", "{root}"}, Socket: "{root}/s", Protocol: ProtocolBHJSON}
}

// validConfig is a Config that Validate accepts on any host.
func validConfig() Config {
	return Config{Exe: "bh-ipc-check", Target: BuiltinTarget(), DaemonUID: -1, AttackerUID: -1, Name: DefaultName,
		Timeout: DefaultScenarioTimeout, ReadyTimeout: DefaultReadyTimeout}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string // in the error; "" for none
	}{
		{"valid builtin", func(*Config) {}, ""},
		{"valid external", func(c *Config) { c.Target = external() }, ""},
		{"timeout below the minimum", func(c *Config) { c.Timeout = 500 * time.Millisecond }, "--timeout 500ms: below the minimum 1s"},
		{"zero ready timeout", func(c *Config) { c.ReadyTimeout = 0 }, "--ready-timeout 0s: below the minimum 100ms"},
		{"bad name", func(c *Config) { c.Name = "a/b" }, "--name: "},
		{"umask out of range", func(c *Config) { c.Umask = 0o1000 }, "umask 1000: want 000 to 777"},
		{"no executable", func(c *Config) { c.Exe = "" }, "(Config.Exe)"},
		{"target keep out of root", func(c *Config) { c.Target = external(); c.Target.Keep = []string{"{root}/../etc"} }, "must stay under {root}"},
		{"attacker is the daemon", func(c *Config) { c.DaemonUID, c.AttackerUID = 4242, 4242 }, ""},
	}
	switch {
	case stage.CanSwitchUID():
		cases[len(cases)-1].want = "--attacker-uid 4242 is the daemon's uid"
		cases = append(cases,
			struct {
				name string
				edit func(*Config)
				want string
			}{"attacker gid out of range", func(c *Config) { g := MaxID + 1; c.AttackerGID = &g }, fmt.Sprintf("attacker gid %d: want 0 to %d", MaxID+1, MaxID)})
	case os.Geteuid() >= 0:
		cases[len(cases)-1].want = "--daemon-uid 4242: running the daemon as another uid needs root"
		cases = append(cases,
			struct {
				name string
				edit func(*Config)
				want string
			}{"attacker groups without root", func(c *Config) { c.AttackerGroups = []int{} }, "the attacker acts only as root"})
	default:
		cases[len(cases)-1].want = "Windows has no uids"
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig()
			c.edit(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// Run refuses what Validate refuses, with the same error, before anything
// is made; its zero fields are the defaults, not errors.
func TestRunValidates(t *testing.T) {
	cfg := validConfig()
	cfg.Target = external()
	cfg.Target.Keep = []string{"{root}/../etc"}
	want := cfg.Validate()
	if want == nil {
		t.Fatal("Validate accepted a --keep outside {root}")
	}
	if _, err := Run(context.Background(), cfg); err == nil || err.Error() != want.Error() {
		t.Errorf("Run: %v, want Validate's %v", err, want)
	}
	zero := Config{Exe: "bh-ipc-check", Target: BuiltinTarget(), DaemonUID: -1, AttackerUID: -1}
	if err := zero.WithDefaults().Validate(); err != nil {
		t.Errorf("a Config with its defaults filled: %v", err)
	}
}
