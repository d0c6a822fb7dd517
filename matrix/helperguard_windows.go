package matrix

// guardHelper: helpers act as another uid only on Unix.
func guardHelper() error { return nil }
