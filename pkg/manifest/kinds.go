package manifest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
)

// workload says where a kind keeps its pod template.
type workload struct {
	// groups are the API groups the kind is recognised in ("" is core).
	groups []string
	// template is the path of the pod template inside the object, nil for a
	// Pod (the object itself is the pod).
	template []string
}

// workloads lists the kinds whose pods are mutated. Kinds in other groups
// (a custom resource that happens to be called Deployment) pass through.
var workloads = map[string]workload{
	"Pod":                   {groups: []string{""}},
	"PodTemplate":           {groups: []string{""}, template: []string{"template"}},
	"ReplicationController": {groups: []string{""}, template: []string{"spec", "template"}},
	"Deployment":            {groups: []string{"apps", "extensions"}, template: []string{"spec", "template"}},
	"ReplicaSet":            {groups: []string{"apps", "extensions"}, template: []string{"spec", "template"}},
	"DaemonSet":             {groups: []string{"apps", "extensions"}, template: []string{"spec", "template"}},
	"StatefulSet":           {groups: []string{"apps"}, template: []string{"spec", "template"}},
	"Job":                   {groups: []string{"batch"}, template: []string{"spec", "template"}},
	"CronJob":               {groups: []string{"batch"}, template: []string{"spec", "jobTemplate", "spec", "template"}},
}

// lookupWorkload returns where the pod of an object of this apiVersion and
// kind lives. An object without apiVersion is matched on its kind alone.
func lookupWorkload(apiVersion, kind string) (workload, bool) {
	w, ok := workloads[kind]
	if !ok {
		return workload{}, false
	}
	if apiVersion == "" {
		return w, true
	}
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	for _, g := range w.groups {
		if g == group {
			return w, true
		}
	}
	return workload{}, false
}

// isList reports whether obj holds other objects in items that may be
// mutated: a v1 List (kind: List, core apiVersion or none), or a typed list
// of a kind this package mutates, such as apps/v1 DeploymentList (whose items
// carry no kind of their own, so itemKind is what they are). Any other kind
// that merely ends in "List" (a custom resource's AllowList) is an ordinary
// object and passes through.
func isList(obj map[string]any) (itemKind string, ok bool) {
	kind, _ := obj["kind"].(string)
	if _, has := obj["items"]; !has || !strings.HasSuffix(kind, "List") {
		return "", false
	}
	apiVersion, _ := obj["apiVersion"].(string)
	if kind == "List" {
		return "", apiVersion == "" || apiVersion == "v1"
	}
	itemKind = strings.TrimSuffix(kind, "List")
	if _, ok := lookupWorkload(apiVersion, itemKind); !ok {
		return "", false
	}
	return itemKind, true
}

// pointer renders path as a JSON pointer (RFC 6901).
func pointer(path []string) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteByte('/')
		b.WriteString(jsonpointer.Escape(p))
	}
	return b.String()
}

// describe names an object for messages: its kind and namespace/name.
func describe(obj map[string]any, kind string) string {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		name, _ = meta["generateName"].(string)
		if name != "" {
			name += "*"
		}
	}
	if ns, _ := meta["namespace"].(string); ns != "" && name != "" {
		name = ns + "/" + name
	}
	if kind == "" {
		kind = "object"
	}
	if name == "" {
		return kind
	}
	return kind + " " + name
}

func itemPath(prefix []string, i int) []string {
	return append(append([]string(nil), prefix...), "items", strconv.Itoa(i))
}

// lookup walks path through nested objects, reporting whether every step exists.
func lookup(obj map[string]any, path []string) (any, bool) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
