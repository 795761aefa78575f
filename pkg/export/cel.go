package export

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// This file holds the CEL pieces every rule shares: the scope of one pass
// (pkg/defaults/scope.go) and the "needs root" decision (root.go).

// kind is one list of containers the policy walks. Ephemeral containers are
// not among them: a pod CREATE cannot carry any, and the policy does not
// match the ephemeralcontainers subresource (see Differences).
type kind struct {
	field  string // the list's JSON field, as in paths and Object types
	v      string // prefix of its per-container variables
	letter string // in fallback /tmp volume names
}

var kinds = []kind{
	{field: "initContainers", v: "init", letter: "i"},
	{field: "containers", v: "ctr", letter: "c"},
}

// expand replaces, in a CEL template, $K with the list's field, $V with its
// variables' prefix and $L with its letter.
func (k kind) expand(tmpl string) string {
	return strings.NewReplacer("$K", k.field, "$V", k.v, "$L", k.letter).Replace(tmpl)
}

// sc is an optional field of container c's securityContext, e.g. sc("c",
// "runAsUser") is `c.?securityContext.?runAsUser`.
func sc(c, field string) string { return c + ".?securityContext.?" + field }

// podSC is an optional field of the pod's securityContext.
func podSC(field string) string { return "object.spec.?securityContext.?" + field }

// capName is capability a as runtimes read it: upper case, without CAP_.
func capName(a string) string {
	return fmt.Sprintf("(%[1]s.upperAscii().startsWith('CAP_') ? %[1]s.upperAscii().substring(4) : %[1]s.upperAscii())", a)
}

// adds reports whether container c adds one of names (in any spelling).
func adds(c string, names ...string) string {
	return fmt.Sprintf("%s.orValue([]).exists(a, %s in %s)", sc(c, "capabilities.?add"), capName("a"), celStrings(names))
}

// drops reports whether container c drops one of names, in any spelling
// (exact: only "ALL" spelled so).
func drops(c string, exact bool, name string) string {
	if exact {
		return fmt.Sprintf("%s.orValue([]).exists(d, d == %s)", sc(c, "capabilities.?drop"), celString(name))
	}
	return fmt.Sprintf("%s.orValue([]).exists(d, %s == %s)", sc(c, "capabilities.?drop"), capName("d"), celString(name))
}

func privileged(c string) string { return sc(c, "privileged") + ".orValue(false)" }

// needsRoot is pkg/defaults/root.go's decision for container c, from the
// manifest alone: UID 0, ContainerAdministrator, then an explicit non-zero
// UID or runAsNonRoot: true say no, runAsNonRoot: false, privileged, or
// adding ALL or SYS_ADMIN say yes.
func needsRoot(c string) string {
	uid := sc(c, "runAsUser") + ".or(" + podSC("runAsUser") + ")"
	user := sc(c, "windowsOptions.?runAsUserName") + ".or(" + podSC("windowsOptions.?runAsUserName") + ")"
	nonRoot := sc(c, "runAsNonRoot") + ".or(" + podSC("runAsNonRoot") + ")"
	return fmt.Sprintf("(%[1]s.orValue(1) == 0 || %[2]s.orValue('').lowerAscii() == 'containeradministrator' || "+
		"(!%[1]s.hasValue() && !%[3]s.orValue(false) && (!%[3]s.orValue(true) || %[4]s || %[5]s)))",
		uid, user, nonRoot, privileged(c), adds(c, "ALL", "SYS_ADMIN"))
}

// celString quotes s as a CEL string literal (CEL reads Go's escapes).
func celString(s string) string { return strconv.Quote(s) }

func celStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = celString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// globRegexp turns the exclusion patterns of the configuration ("*" any run
// of characters, "?" one character) into one anchored RE2 expression.
func globRegexp(patterns []string) string {
	alts := make([]string, len(patterns))
	for i, p := range patterns {
		var b strings.Builder
		for _, r := range p {
			switch r {
			case '*':
				b.WriteString(".*")
			case '?':
				b.WriteString(".")
			default:
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		alts[i] = b.String()
	}
	return "(?s)^(?:" + strings.Join(alts, "|") + ")$"
}

// cleanPathRegexp matches the paths path.Clean turns into the absolute path
// p, except those with a ".." element (see Differences): extra slashes and
// "." elements anywhere.
func cleanPathRegexp(p string) string {
	var b strings.Builder
	b.WriteString("^")
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		b.WriteString(`(/+\.)*/+` + regexp.QuoteMeta(seg))
	}
	b.WriteString(`(/+\.)*/*$`)
	return b.String()
}

// tmpMountRegexp matches the mount paths path.Clean turns into /tmp.
var tmpMountRegexp = cleanPathRegexp("/tmp")
