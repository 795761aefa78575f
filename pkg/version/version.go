// Package version holds the build identity of the binary, stamped at link time.
package version

import (
	"fmt"
	"runtime"
)

// Version and Commit are set with -ldflags "-X" by the Makefile and the Dockerfile.
var (
	Version = "dev"
	Commit  = "unknown"
)

// String is the one-line identity printed by `secure-defaults version`.
func String() string {
	return fmt.Sprintf("secure-defaults %s (commit %s, %s, %s/%s)", Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
