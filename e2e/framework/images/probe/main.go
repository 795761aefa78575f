// Command probe is the program of the e2e test images: it reports, as one
// JSON line on stdout prefixed with "probe: ", what a container sees from
// inside — its user and groups, effective capabilities, no_new_privs, seccomp
// mode, whether /tmp and / are writable by it and whether / is mounted
// read-only — and then waits for SIGTERM, so
// the pod stays Running. With -exit it exits after the report (an init
// container, a Job), non-zero when -chown failed.
//
// It is built static (CGO_ENABLED=0) and is the only file of its images.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// Report is what the probe prints; the e2e tests decode it (see
// images.ParseReport). It is a copy of images.Report, not an import, so the
// probe depends on nothing but the standard library; images'
// TestReportMatchesProbe checks that the two have the same JSON fields.
type Report struct {
	UID          int    `json:"uid"`
	GID          int    `json:"gid"`
	Groups       []int  `json:"groups"`
	CapEff       string `json:"capEff"`
	NoNewPrivs   string `json:"noNewPrivs"`
	Seccomp      string `json:"seccomp"`
	TmpWritable  bool   `json:"tmpWritable"`
	RootWritable bool   `json:"rootWritable"`
	RootReadOnly bool   `json:"rootReadOnly"`
	Chown        string `json:"chown,omitempty"`
	ChownError   string `json:"chownError,omitempty"`
}

func main() {
	exit := flag.Bool("exit", false, "exit after the report instead of waiting for SIGTERM")
	chown := flag.String("chown", "", "chown this path to 65532:65532 first and report the outcome")
	flag.Parse()

	r := Report{UID: os.Getuid(), GID: os.Getgid()}
	r.Groups, _ = os.Getgroups()
	status := readStatus()
	r.CapEff, r.NoNewPrivs, r.Seccomp = status["CapEff"], status["NoNewPrivs"], status["Seccomp"]
	r.TmpWritable = writable("/tmp")
	r.RootWritable = writable("/")
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/", &fs); err == nil {
		r.RootReadOnly = fs.Flags&stRdonly != 0
	}
	failed := false
	if *chown != "" {
		r.Chown = *chown
		if err := os.Chown(*chown, 65532, 65532); err != nil {
			r.ChownError = err.Error()
			failed = true
		}
	}
	b, _ := json.Marshal(r)
	fmt.Printf("probe: %s\n", b)

	if *exit {
		if failed {
			os.Exit(1)
		}
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// stRdonly is ST_RDONLY of statfs(2): the file system is mounted read-only.
const stRdonly = 0x1

// readStatus returns the "Key:\tvalue" lines of /proc/self/status.
func readStatus() map[string]string {
	out := map[string]string{}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// writable reports whether a file can be created in dir.
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(filepath.Clean(name))
	return true
}
