// Command bench drives the benchmarks behind `make bench` (hack/bench.sh):
//
//	bench load      --bin-dir DIR --review FILE --out load.json
//	    constant-rate HTTPS load (vegeta) on secure-defaults, the ideal
//	    webhook and the controller-runtime reference webhook, interleaved;
//	    finds each one's max sustainable rate and its peak RSS there.
//	bench apiserver --bin-dir DIR --review FILE --out apiserver.json
//	    server-side dry-run pod creates through a real kube-apiserver with no
//	    webhook, the ideal webhook and secure-defaults, in interleaved rounds.
//	bench report    --go-bench FILE --load load.json --apiserver apiserver.json
//	    prints the one table.
//
// DIR holds the secure-defaults, ideal-webhook and reference-webhook binaries.
// Everything listens on 127.0.0.1 only.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench load|apiserver|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "load":
		err = runLoad(os.Args[2:])
	case "apiserver":
		err = runAPIServer(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
