package images

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Repository:tag names of the test images, under a Registry's Host.
const (
	NonRoot   = "probe:nonroot"
	RootEmpty = "probe:root-empty"
	RootZero  = "probe:root-0"
	Named     = "probe:named"
	Pause     = "pause:e2e"
	// ProjectImage is the secure-defaults image built by Project.
	ProjectImage = "secure-defaults:e2e"
)

// NonRootUID is the user of the NonRoot image (and of the project's image);
// NamedUID is what the Named image's user "app" resolves to.
const (
	NonRootUID = 65532
	NamedUID   = 1000
	NamedUser  = "app"
)

// Refs are the full references of the pushed test images.
type Refs struct {
	NonRoot, RootEmpty, RootZero, Named, Pause string
}

// PushTestImages builds the probe and pause binaries of the module in
// moduleDir (the repository root) into workDir, makes the test images and
// pushes them to r.
func PushTestImages(ctx context.Context, r *Registry, moduleDir, workDir string) (*Refs, error) {
	probe, err := GoBuildStatic(ctx, moduleDir, workDir, "./e2e/framework/images/probe")
	if err != nil {
		return nil, err
	}
	pause, err := GoBuildStatic(ctx, moduleDir, workDir, "./e2e/framework/images/pause")
	if err != nil {
		return nil, err
	}
	probeFiles := []File{
		{Path: "/probe", Mode: 0o755, Content: probe},
		{Path: "/tmp", Mode: 0o1777, Dir: true},
	}
	passwd := []File{
		{Path: "/etc", Mode: 0o755, Dir: true},
		{Path: "/etc/passwd", Mode: 0o644, Content: []byte(fmt.Sprintf(
			"root:x:0:0:root:/:/probe\n%s:x:%d:%d:%s:/:/probe\n", NamedUser, NamedUID, NamedUID, NamedUser))},
		{Path: "/etc/group", Mode: 0o644, Content: []byte(fmt.Sprintf("root:x:0:\n%s:x:%d:\n", NamedUser, NamedUID))},
	}
	specs := []struct {
		repoTag string
		ref     *string
		spec    Spec
	}{
		{NonRoot, new(string), Spec{Files: probeFiles, User: strconv.Itoa(NonRootUID), Entrypoint: []string{"/probe"}}},
		{RootEmpty, new(string), Spec{Files: probeFiles, User: "", Entrypoint: []string{"/probe"}}},
		{RootZero, new(string), Spec{Files: probeFiles, User: "0", Entrypoint: []string{"/probe"}}},
		{Named, new(string), Spec{Files: append(append([]File(nil), probeFiles...), passwd...), User: NamedUser, Entrypoint: []string{"/probe"}}},
		{Pause, new(string), Spec{Files: []File{{Path: "/pause", Mode: 0o755, Content: pause}}, User: "65535:65535", Entrypoint: []string{"/pause"}}},
	}
	for _, s := range specs {
		img, err := Build(s.spec)
		if err != nil {
			return nil, fmt.Errorf("images: %s: %w", s.repoTag, err)
		}
		if *s.ref, err = r.Push(ctx, s.repoTag, img); err != nil {
			return nil, err
		}
	}
	return &Refs{NonRoot: *specs[0].ref, RootEmpty: *specs[1].ref, RootZero: *specs[2].ref, Named: *specs[3].ref, Pause: *specs[4].ref}, nil
}

// Project pushes the secure-defaults image made as the repository's
// Dockerfile makes it — the static binary of ./cmd/secure-defaults (built
// with ldflags, e.g. the version stamp) alone at /secure-defaults, USER
// 65532:65532, ENTRYPOINT ["/secure-defaults"], CMD ["serve"], ports 10250
// and 8080 — and returns its reference.
func Project(ctx context.Context, r *Registry, moduleDir, workDir, ldflags string) (string, error) {
	var extra []string
	if ldflags != "" {
		extra = []string{"-ldflags=" + ldflags}
	}
	bin, err := GoBuildStatic(ctx, moduleDir, workDir, "./cmd/secure-defaults", extra...)
	if err != nil {
		return "", err
	}
	img, err := Build(Spec{
		Files:        []File{{Path: "/secure-defaults", Mode: 0o755, Content: bin}},
		User:         fmt.Sprintf("%d:%d", NonRootUID, NonRootUID),
		Entrypoint:   []string{"/secure-defaults"},
		Cmd:          []string{"serve"},
		ExposedPorts: []string{"10250/tcp", "8080/tcp"},
	})
	if err != nil {
		return "", err
	}
	return r.Push(ctx, ProjectImage, img)
}

// Report is what the probe prints. The probe command declares the same type
// rather than importing this package, so that it builds alone into a small
// static binary without this package's registry dependencies;
// TestReportMatchesProbe keeps the two in step.
type Report struct {
	UID    int   `json:"uid"`
	GID    int   `json:"gid"`
	Groups []int `json:"groups"`
	// CapEff is the hexadecimal effective capability set of
	// /proc/self/status; 0000000000000000 is none.
	CapEff string `json:"capEff"`
	// NoNewPrivs is "1" when no_new_privs is set.
	NoNewPrivs string `json:"noNewPrivs"`
	// Seccomp is the mode: "0" disabled, "1" strict, "2" filter.
	Seccomp string `json:"seccomp"`
	// TmpWritable and RootWritable say whether the user can create a file
	// in /tmp and in /.
	TmpWritable  bool `json:"tmpWritable"`
	RootWritable bool `json:"rootWritable"`
	// RootReadOnly says whether / is mounted read-only
	// (readOnlyRootFilesystem).
	RootReadOnly bool   `json:"rootReadOnly"`
	Chown        string `json:"chown,omitempty"`
	ChownError   string `json:"chownError,omitempty"`
}

// ReportPrefix starts the probe's report line.
const ReportPrefix = "probe: "

// ParseReport finds the probe's report line in a container's log.
func ParseReport(log []byte) (*Report, error) {
	for _, line := range strings.Split(string(log), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), ReportPrefix); ok {
			r := &Report{}
			if err := json.Unmarshal([]byte(rest), r); err != nil {
				return nil, fmt.Errorf("images: probe report %q: %w", rest, err)
			}
			return r, nil
		}
	}
	return nil, fmt.Errorf("images: no %q line in the log (%d bytes)", strings.TrimSpace(ReportPrefix), len(log))
}

// NoCapabilities is CapEff with an empty set.
const NoCapabilities = "0000000000000000"

// String is a one-line summary: uid, gid, capabilities, no_new_privs,
// seccomp, writability.
func (r *Report) String() string {
	caps := r.CapEff
	if caps == NoCapabilities {
		caps = "none"
	}
	seccomp := map[string]string{"0": "disabled", "1": "strict", "2": "filter"}[r.Seccomp]
	if seccomp == "" {
		seccomp = r.Seccomp
	}
	w := func(b bool) string {
		if b {
			return "writable"
		}
		return "read-only"
	}
	root := w(r.RootWritable)
	if r.RootReadOnly {
		root = "read-only mount"
	} else if !r.RootWritable {
		root = "not writable by this user"
	}
	s := fmt.Sprintf("uid=%d gid=%d CapEff=%s NoNewPrivs=%s seccomp=%s /tmp %s, / %s", r.UID, r.GID, caps, r.NoNewPrivs, seccomp, w(r.TmpWritable), root)
	if r.Chown != "" {
		if r.ChownError != "" {
			s += fmt.Sprintf(", chown %s failed: %s", r.Chown, r.ChownError)
		} else {
			s += fmt.Sprintf(", chown %s ok", r.Chown)
		}
	}
	return s
}
