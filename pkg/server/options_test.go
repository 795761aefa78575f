package server_test

import (
	"flag"
	"strings"
	"testing"

	"github.com/secure-defaults/secure-defaults/pkg/server"
)

// TestListenFlagNamesTheRoutes: the help of --listen names both review
// routes the webhook port serves, /mutate and /audit.
func TestListenFlagNamesTheRoutes(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	server.NewOptions().AddFlags(fs)
	f := fs.Lookup("listen")
	if f == nil {
		t.Fatal("no --listen flag")
	}
	for _, route := range []string{"POST /mutate", "POST /audit"} {
		if !strings.Contains(f.Usage, route) {
			t.Errorf("--listen help %q does not name %s", f.Usage, route)
		}
	}
}
