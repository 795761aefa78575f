package cli

import (
	"context"
	"fmt"
)

func runServe(_ context.Context, _ []string, s IO) int {
	fmt.Fprintln(s.Err, "secure-defaults serve: not implemented yet")
	return 1
}
