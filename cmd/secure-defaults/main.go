// Command secure-defaults is a mutating admission webhook that fills in secure
// defaults on Pods, and an offline tool that applies the same rules to manifests.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/secure-defaults/secure-defaults/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	code := cli.Run(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Log: logger})
	stop()
	os.Exit(code)
}
