package cli

import (
	"context"
	"fmt"
)

func runMutate(_ context.Context, _ []string, s IO) int {
	fmt.Fprintln(s.Err, "secure-defaults mutate: not implemented yet")
	return 1
}
