package builtincert

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func validOptions() *Options {
	o := NewOptions()
	o.Namespace = "secure-defaults"
	return o
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		tweak   func(*Options)
		wantErr string // "" means valid
	}{
		{name: "defaults with a namespace", tweak: func(*Options) {}},
		{name: "namespace missing", tweak: func(o *Options) { o.Namespace = "" }, wantErr: "--cert-namespace is required"},
		{name: "namespace not a DNS label", tweak: func(o *Options) { o.Namespace = "Not_Valid" }, wantErr: `--cert-namespace "Not_Valid"`},
		{name: "service name not a DNS-1035 label", tweak: func(o *Options) { o.ServiceName = "1svc" }, wantErr: `--cert-service-name "1svc"`},
		{name: "secret name missing", tweak: func(o *Options) { o.SecretName = "" }, wantErr: "--cert-secret-name is required"},
		{name: "webhook configuration missing", tweak: func(o *Options) { o.WebhookConfigurationName = "" }, wantErr: "--cert-webhook-configuration is required"},
		{name: "zero CA lifetime", tweak: func(o *Options) { o.CALifetime = 0 }, wantErr: "--cert-ca-lifetime must be positive"},
		{name: "negative cert lifetime", tweak: func(o *Options) { o.CertLifetime = -time.Hour }, wantErr: "--cert-lifetime must be positive"},
		{name: "cert outlives a third of the CA", tweak: func(o *Options) { o.CALifetime = 90 * time.Second; o.CertLifetime = 31 * time.Second }, wantErr: "at most a third of --cert-ca-lifetime"},
		{name: "short lifetimes for tests", tweak: func(o *Options) {
			o.CALifetime, o.CertLifetime, o.PropagationDelay, o.CheckInterval = 90*time.Second, 30*time.Second, 5*time.Second, time.Second
		}},
		{name: "propagation eats the renewal margin", tweak: func(o *Options) {
			o.CALifetime, o.CertLifetime, o.PropagationDelay = 90*time.Second, 30*time.Second, 6*time.Second
		}, wantErr: "at most a sixth of --cert-lifetime"},
		{name: "zero check interval", tweak: func(o *Options) { o.CheckInterval = 0 }, wantErr: "--cert-check-interval must be positive"},
		{name: "negative propagation delay", tweak: func(o *Options) { o.PropagationDelay = -time.Second }, wantErr: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.tweak(o)
			err := o.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := New(o, refusingHolder{}); err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
			if _, err := New(o, refusingHolder{}); err == nil {
				t.Fatal("New() accepted options that Validate rejects")
			}
		})
	}
}

func TestAddFlags(t *testing.T) {
	o := NewOptions()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{
		"--cert-namespace=webhooks",
		"--cert-secret-name=my-tls",
		"--cert-service-name=my-svc",
		"--cert-cluster-domain=corp.example",
		"--cert-webhook-configuration=my-mwc",
		"--cert-ca-lifetime=2160h",
		"--cert-lifetime=720h",
		"--cert-check-interval=30s",
		"--cert-propagation-delay=1m",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		Namespace: "webhooks", SecretName: "my-tls", ServiceName: "my-svc", ClusterDomain: "corp.example",
		WebhookConfigurationName: "my-mwc", CALifetime: 2160 * time.Hour, CertLifetime: 720 * time.Hour,
		CheckInterval: 30 * time.Second, PropagationDelay: time.Minute,
	}
	if *o != want {
		t.Fatalf("after parsing flags got %+v, want %+v", *o, want)
	}
	for _, name := range []string{"tls-cert-file", "tls-private-key-file"} {
		if fs.Lookup(name) != nil {
			t.Errorf("AddFlags registered --%s, which belongs to the server", name)
		}
	}
	if got := o.dnsNames(); got[0] != "my-svc.webhooks.svc" || got[1] != "my-svc.webhooks.svc.corp.example" {
		t.Errorf("dnsNames() = %v, want the .svc name first and the cluster-domain name second", got)
	}
}

func TestNewOptionsNeedsNamespace(t *testing.T) {
	if err := NewOptions().Validate(); err == nil || !strings.Contains(err.Error(), "--cert-namespace is required") {
		t.Fatalf("NewOptions().Validate() = %v, want --cert-namespace is required", err)
	}
}
