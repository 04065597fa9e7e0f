//go:build !unix

package daemon

// openFileLimit: no descriptor limit is known here.
func openFileLimit() int { return 0 }
