package ipc

// listPOSIX is not used on Windows (List reads the root's port files).
func listPOSIX(abs string, o *options) ([]Endpoint, error) { return nil, nil }
