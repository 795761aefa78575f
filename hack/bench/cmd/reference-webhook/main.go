// Command reference-webhook is secure-defaults' rules served the way most
// teams would build a mutating webhook: controller-runtime's webhook server
// with an admission.CustomDefaulter. controller-runtime decodes the pod, runs
// the defaulter on a deep copy, re-encodes the whole pod and diffs it against
// the raw object (PatchResponseFromRaw). The benchmarks compare
// secure-defaults against it on the same machine, in the same run.
//
//	reference-webhook --listen 127.0.0.1:9443 --cert-dir DIR   # DIR holds tls.crt and tls.key
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// podDefaulter runs secure-defaults' rules as a CustomDefaulter.
type podDefaulter struct{}

// Default implements admission.CustomDefaulter.
func (podDefaulter) Default(_ context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return fmt.Errorf("expected a Pod, got %T", obj)
	}
	defaults.Apply(pod, defaults.Options{})
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9443", "HTTPS address")
	certDir := flag.String("cert-dir", "", "directory with tls.crt and tls.key")
	flag.Parse()
	// Info-level JSON logs, like secure-defaults serve.
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, nil)))

	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := webhook.NewServer(webhook.Options{Host: host, Port: port, CertDir: *certDir})
	srv.Register("/mutate", admission.WithCustomDefaulter(scheme, &corev1.Pod{}, podDefaulter{}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
