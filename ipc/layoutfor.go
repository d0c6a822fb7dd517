package ipc

// LayoutFor is Resolve for another platform: the Layout a process with
// effective uid uid on goos gets for name under root (absolute, in goos's
// syntax, used as given) and transport t, with goos's sun_path budget and
// fallback. It touches nothing, so a tool (or a test) can check on one host
// where endpoints land on another: the suite uses it to check that on macOS
// only the path.budget scenario overflows sun_path.
func LayoutFor(goos, root, name string, t Transport, uid int) (Layout, error) {
	if err := ValidateName(name); err != nil {
		return Layout{}, err
	}
	return layoutFor(goos, root, name, t, uid)
}
