package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/config"
)

// TestMutateWithImageLookup: mutate --config with lookup on reads the
// images from their registry (with the local docker credentials: none here)
// and gives what the webhook would: the named user pinned, the root image
// left to run as root, with warnings.
func TestMutateWithImageLookup(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials of the machine's
	reg := ilt.New(t, ilt.WithoutTLS())
	named := reg.Push(t, "named", "v1", ilt.Image(t, "app", map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}))
	root := reg.Push(t, "root", "v1", ilt.Image(t, ""))
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", "apiVersion: "+config.APIVersion+"\nkind: Configuration\nimageLookup: {enabled: true}\n")
	pod := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: app, image: %q}\n  - {name: setup, image: %q}\n", named, root)

	code, out, stderr := runCLI(t, pod, "--config", cfg, "--output", "normalized")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	spec := docs(t, out)[0]["spec"].(map[string]any)
	containers := spec["containers"].([]any)
	app := containers[0].(map[string]any)["securityContext"].(map[string]any)
	if app["runAsUser"] != float64(1000) || app["runAsNonRoot"] != true {
		t.Errorf("app: %v, want runAsUser 1000 and runAsNonRoot", app)
	}
	if sc, ok := containers[1].(map[string]any)["securityContext"].(map[string]any); ok && (sc["runAsNonRoot"] != nil || sc["runAsUser"] != nil) {
		t.Errorf("root image container: %v", sc)
	}
	if psc, ok := spec["securityContext"].(map[string]any); ok && psc["runAsNonRoot"] != nil {
		t.Errorf("pod-level runAsNonRoot next to a root image: %v", psc)
	}
	for _, want := range []string{`"app": runAsUser set to 1000`, "its image " + root + " runs as root"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}

	// Without --config nothing is looked up: the named user gets only
	// runAsNonRoot.
	code, out, _ = runCLI(t, pod, "--output", "normalized")
	if code != 0 || strings.Contains(out, "runAsUser") {
		t.Errorf("without lookup: exit %d, output:\n%s", code, out)
	}
}

// TestServeImageLookupFollowsReloads: serve's handler gets a resolver once
// the configuration turns lookup on, keeps it (and its cache) across
// reloads that leave imageLookup as it was, and drops it when lookup goes
// off.
func TestServeImageLookupFollowsReloads(t *testing.T) {
	dir := t.TempDir()
	header := "apiVersion: " + config.APIVersion + "\nkind: Configuration\n"
	path := writeFile(t, dir, "config.yaml", header)
	w, err := config.NewWatcher(path, time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &imageLookups{current: w.Current, log: slog.New(slog.DiscardHandler)}
	reload := func(content string) {
		t.Helper()
		writeFile(t, dir, "config.yaml", header+content)
		if _, err := w.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if l.get().Resolver != nil {
		t.Fatal("lookup on without the configuration asking")
	}
	reload("imageLookup: {enabled: true}\n")
	first := l.get().Resolver
	if first == nil {
		t.Fatal("lookup off after the configuration turned it on")
	}
	reload("imageLookup: {enabled: true}\nallowPodOptOut: false\n")
	if l.get().Resolver != first {
		t.Error("a reload that left imageLookup alone replaced the resolver and its cache")
	}
	reload("imageLookup: {enabled: true, timeout: 1s}\n")
	if r := l.get().Resolver; r == first || r == nil || r.Config().Timeout != time.Second {
		t.Error("a changed imageLookup section did not take effect")
	}
	reload("imageLookup: {enabled: false}\n")
	if l.get().Resolver != nil {
		t.Error("lookup still on after the configuration turned it off")
	}
}
