// Command ideal-webhook is the lower bound the benchmarks compare against: an
// HTTPS webhook that decodes the review and the pod and answers with patch
// operations built by hand for the fields secure-defaults sets. No diff, no
// re-encoding of the pod, no metrics, no logging: what the API server must
// pay anyway to call a webhook and apply its patch.
//
// It knows only the common case (a Linux pod with no root or privileged
// container); the benchmark driver checks that its answer and secure-defaults'
// give the same pod for the fixture it sends.
//
//	ideal-webhook --listen 127.0.0.1:9443 --tls-cert-file tls.crt --tls-private-key-file tls.key
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9443", "HTTPS address")
	cert := flag.String("tls-cert-file", "", "PEM certificate")
	key := flag.String("tls-private-key-file", "", "PEM private key")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mutate", serve)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServeTLS(*cert, *key); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 3<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	if review.Request.Operation == admissionv1.Create && review.Request.Resource.Resource == "pods" && review.Request.SubResource == "" {
		var pod corev1.Pod
		if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ops := operations(&pod); len(ops) > 0 {
			p, _ := json.Marshal(ops)
			pt := admissionv1.PatchTypeJSONPatch
			resp.Patch, resp.PatchType = p, &pt
		}
	}
	out, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// op is one RFC 6902 operation.
type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// operations returns the fewest operations that set what the rules set on
// a Linux pod with no root or privileged container.
func operations(pod *corev1.Pod) []op {
	if pod.Annotations[defaults.InjectKey] == defaults.InjectDisabled {
		return nil
	}
	var ops []op
	applied := map[string]bool{}
	// Pod level: runAsNonRoot and the RuntimeDefault seccomp profile.
	psc := map[string]any{}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil {
		psc["runAsNonRoot"] = true
		applied["run-as-non-root"] = true
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.SeccompProfile == nil {
		psc["seccompProfile"] = map[string]string{"type": "RuntimeDefault"}
		applied["seccomp-runtime-default"] = true
	}
	if pod.Spec.SecurityContext == nil && len(psc) > 0 {
		ops = append(ops, op{"add", "/spec/securityContext", psc})
	} else {
		for _, k := range []string{"runAsNonRoot", "seccompProfile"} {
			if v, ok := psc[k]; ok {
				ops = append(ops, op{"add", "/spec/securityContext/" + k, v})
			}
		}
	}
	// Containers: no privilege escalation, drop ALL, and /tmp for read-only
	// root filesystems.
	volumes := len(pod.Spec.Volumes)
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		prefix := fmt.Sprintf("/spec/containers/%d", i)
		sc := c.SecurityContext
		switch {
		case sc == nil:
			ops = append(ops, op{"add", prefix + "/securityContext", map[string]any{"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []string{"ALL"}}}})
			applied["no-privilege-escalation"], applied["drop-all-capabilities"] = true, true
		default:
			if sc.AllowPrivilegeEscalation == nil {
				ops = append(ops, op{"add", prefix + "/securityContext/allowPrivilegeEscalation", false})
				applied["no-privilege-escalation"] = true
			}
			switch {
			case sc.Capabilities == nil:
				ops = append(ops, op{"add", prefix + "/securityContext/capabilities", map[string]any{"drop": []string{"ALL"}}})
				applied["drop-all-capabilities"] = true
			case sc.Capabilities.Drop == nil:
				ops = append(ops, op{"add", prefix + "/securityContext/capabilities/drop", []string{"ALL"}})
				applied["drop-all-capabilities"] = true
			case !dropsAll(sc.Capabilities.Drop):
				ops = append(ops, op{"add", prefix + "/securityContext/capabilities/drop/-", "ALL"})
				applied["drop-all-capabilities"] = true
			}
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || mountsTmp(c) {
			continue
		}
		name := "tmp-" + c.Name
		vol := map[string]any{"name": name, "emptyDir": map[string]any{}}
		if volumes == 0 {
			ops = append(ops, op{"add", "/spec/volumes", []any{vol}})
		} else {
			ops = append(ops, op{"add", "/spec/volumes/-", vol})
		}
		volumes++
		mount := map[string]any{"name": name, "mountPath": "/tmp"}
		if len(c.VolumeMounts) == 0 {
			ops = append(ops, op{"add", prefix + "/volumeMounts", []any{mount}})
		} else {
			ops = append(ops, op{"add", prefix + "/volumeMounts/-", mount})
		}
		applied["tmp-emptydir"] = true
	}
	if len(ops) == 0 {
		return nil
	}
	ids := make([]string, 0, len(applied))
	for _, id := range defaults.RuleIDs() {
		if applied[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	value := strings.Join(ids, ",")
	if pod.Annotations == nil {
		ops = append(ops, op{"add", "/metadata/annotations", map[string]string{defaults.DefaultedAnnotation: value}})
	} else {
		ops = append(ops, op{"add", "/metadata/annotations/" + jsonpointer.Escape(defaults.DefaultedAnnotation), value})
	}
	return ops
}

func dropsAll(caps []corev1.Capability) bool {
	for _, c := range caps {
		if strings.EqualFold(string(c), "ALL") {
			return true
		}
	}
	return false
}

func mountsTmp(c *corev1.Container) bool {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == "/tmp" {
			return true
		}
	}
	return false
}
