package ipc

import "fmt"

// MaxNameLen is the longest endpoint name accepted.
const MaxNameLen = 64

// ValidateName reports whether name may name an endpoint: 1 to 64 characters
// from [A-Za-z0-9_-]. Anything else (path separators, "..", NUL, non-ASCII)
// gets an error wrapping ErrInvalidName. It touches nothing.
func ValidateName(name string) error {
	if len(name) == 0 {
		return fmt.Errorf("ipc: name %q: %w: empty", name, ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("ipc: name %.20q...: %w: %d bytes, limit %d", name, ErrInvalidName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return fmt.Errorf("ipc: name %q: %w: byte 0x%02x at offset %d is not in [A-Za-z0-9_-]", name, ErrInvalidName, c, i)
		}
	}
	return nil
}
