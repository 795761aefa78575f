package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
)

// maxWouldWarnings bounds the "would set" warnings of one audited review; the
// rest are counted in a last warning.
const maxWouldWarnings = 30

// describePatch turns a JSON patch the rules produced for pod (the mutated
// pod) into one warning per value it would set, for a namespace in audit
// mode: `would set securityContext.runAsNonRoot: true on the pod`,
// `would add to volumeMounts {"mountPath":"/tmp","name":"tmp-app"} on container "app"`.
// Changes to metadata (the defaulted annotation) are left out: in audit mode
// nothing records them.
func describePatch(p []byte, pod *corev1.Pod) ([]string, error) {
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(p, &ops); err != nil {
		return nil, err
	}
	var out []string
	for _, op := range ops {
		tokens := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
		for i, t := range tokens {
			tokens[i] = jsonpointer.Unescape(t)
		}
		if len(tokens) == 0 || tokens[0] != "spec" {
			continue
		}
		where, rest := locate(tokens[1:], pod)
		if op.Op != "add" && op.Op != "replace" {
			out = append(out, fmt.Sprintf("would %s %s on %s", op.Op, strings.Join(rest, "."), where))
			continue
		}
		leaves, err := flatten(rest, op.Value)
		if err != nil {
			return nil, err
		}
		for _, l := range leaves {
			out = append(out, l+" on "+where)
		}
	}
	if len(out) > maxWouldWarnings {
		out = append(out[:maxWouldWarnings], fmt.Sprintf("and %d more changes it would make", len(out)-maxWouldWarnings))
	}
	return out, nil
}

// locate names the pod or the container a spec path points into, and returns
// the rest of the path below it.
func locate(path []string, pod *corev1.Pod) (string, []string) {
	if len(path) >= 2 {
		i, err := strconv.Atoi(path[1])
		if err == nil && i >= 0 {
			switch {
			case path[0] == "initContainers" && i < len(pod.Spec.InitContainers):
				return fmt.Sprintf("init container %q", pod.Spec.InitContainers[i].Name), path[2:]
			case path[0] == "containers" && i < len(pod.Spec.Containers):
				return fmt.Sprintf("container %q", pod.Spec.Containers[i].Name), path[2:]
			case path[0] == "ephemeralContainers" && i < len(pod.Spec.EphemeralContainers):
				return fmt.Sprintf("ephemeral container %q", pod.Spec.EphemeralContainers[i].Name), path[2:]
			}
		}
	}
	return "the pod", path
}

// flatten lists the values an add or replace at path sets: one line per
// scalar or list under an object, one per appended list element.
func flatten(path []string, value json.RawMessage) ([]string, error) {
	if n := len(path); n > 0 {
		if _, err := strconv.Atoi(path[n-1]); err == nil || path[n-1] == "-" {
			var b bytes.Buffer
			if err := json.Compact(&b, value); err != nil {
				return nil, err
			}
			return []string{fmt.Sprintf("would add to %s %s", strings.Join(path[:n-1], "."), b.String())}, nil
		}
	}
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(value); len(t) > 0 && t[0] == '{' {
		if err := json.Unmarshal(value, &obj); err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			sub := append(append([]string(nil), path...), k)
			lines, err := flatten(sub, obj[k])
			if err != nil {
				return nil, err
			}
			out = append(out, lines...)
		}
		return out, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, value); err != nil {
		return nil, err
	}
	v := b.String()
	if s, err := strconv.Unquote(v); err == nil {
		v = s
	}
	return []string{fmt.Sprintf("would set %s: %s", strings.Join(path, "."), v)}, nil
}
