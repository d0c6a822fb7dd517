package stage

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/org/bh-ipc-check/ipc"
)

// Validate reports the first thing wrong with c for a run on this host,
// in words that name the flag, the value and the limit: the target's
// templates (Target.Validate), the timeouts' minimums, the endpoint name,
// the umask, the daemon's and the attacker's uids and the attacker's gids
// (which need root to be used), and Exe. It is the one place a run's
// configuration is checked: Run calls it, after filling the zero fields it
// has defaults for (Name, Timeout, ReadyTimeout), and the CLI calls it to
// refuse a configuration before anything runs. Validate takes c as given:
// a zero Timeout, ReadyTimeout or Name is refused, not defaulted.
func (c Config) Validate() error {
	if c.Timeout < MinScenarioTimeout {
		return fmt.Errorf("--timeout %s: below the minimum %s (a scenario starts daemons and helpers; one that cannot finish is no verdict)", c.Timeout, MinScenarioTimeout)
	}
	if c.ReadyTimeout < MinReadyTimeout {
		return fmt.Errorf("--ready-timeout %s: below the minimum %s", c.ReadyTimeout, MinReadyTimeout)
	}
	if err := c.Target.Validate(); err != nil {
		return err
	}
	if err := ipc.ValidateName(c.Name); err != nil {
		return fmt.Errorf("--name: %v", err)
	}
	if err := c.Target.ValidateAbstractName(c.Name); err != nil {
		return err
	}
	if c.Umask < 0 || c.Umask > 0o777 {
		return fmt.Errorf("umask %o: want 000 to 777", c.Umask)
	}
	if err := c.validateIDs(); err != nil {
		return err
	}
	if c.Exe == "" {
		return errors.New("no executable for the daemon and helpers (Config.Exe)")
	}
	return nil
}

// validateIDs checks the daemon's and the attacker's uids and the
// attacker's gids against what this process may do.
func (c Config) validateIDs() error {
	if runtime.GOOS == "windows" && (c.DaemonUID >= 0 || c.AttackerUID >= 0) {
		// os.Geteuid is -1 here: a uid given would otherwise be compared
		// with -1, the "defaults" value, and never refused.
		return fmt.Errorf("--daemon-uid %d, --attacker-uid %d: Windows has no uids (leave both unset, -1)", c.DaemonUID, c.AttackerUID)
	}
	self := os.Geteuid()
	daemonUID, attackerUID := c.uids()
	if daemonUID != self && !CanSwitchUID() {
		return fmt.Errorf("--daemon-uid %d: running the daemon as another uid needs root (this is uid %d)", daemonUID, self)
	}
	if attackerUID >= 0 && attackerUID == daemonUID {
		return fmt.Errorf("--attacker-uid %d is the daemon's uid: an attacker must be another uid", attackerUID)
	}
	if attackerUID < 0 {
		if c.AttackerGID != nil || c.AttackerGroups != nil {
			return fmt.Errorf("--attacker-gid and --attacker-groups: the attacker acts only as root (this is uid %d)", self)
		}
		return nil
	}
	for _, g := range append([]int{derefOr(c.AttackerGID, 0)}, c.AttackerGroups...) {
		if g < 0 || g > MaxID {
			return fmt.Errorf("attacker gid %d: want 0 to %d", g, MaxID)
		}
	}
	return nil
}

// uids are the daemon's and the attacker's uids c gives, with the
// defaults for -1: this process's uid for the daemon; DefaultAttackerUID
// for the attacker when this process can act as another uid, else -1 (no
// attacker).
func (c Config) uids() (daemonUID, attackerUID int) {
	daemonUID, attackerUID = c.DaemonUID, c.AttackerUID
	if daemonUID < 0 {
		daemonUID = os.Geteuid()
	}
	if attackerUID < 0 {
		attackerUID = DefaultAttackerUID
		if !CanSwitchUID() {
			attackerUID = -1
		}
	}
	return daemonUID, attackerUID
}

// WithDefaults is c with its zero fields filled as Run documents them
// (but Scenarios, which Run fills from the catalogue).
func (c Config) WithDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultScenarioTimeout
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.Leg == "" {
		c.Leg = "native"
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	return c
}

// CanSwitchUID reports whether this process can run others as another
// uid (root, not on Windows).
func CanSwitchUID() bool { return runtime.GOOS != "windows" && os.Geteuid() == 0 }
