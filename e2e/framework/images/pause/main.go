// Command pause is the sandbox ("pause") image's program for the e2e node:
// it holds a pod's namespaces and does nothing until SIGTERM or SIGINT, like
// the Kubernetes pause container. It reaps no children: in these pods nothing
// runs in its PID namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
