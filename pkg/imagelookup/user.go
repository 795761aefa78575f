package imagelookup

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Verdict says what an image's configured user means for the defaults.
type Verdict string

const (
	// VerdictNonRoot: the image runs as a numeric non-zero UID, which the
	// kubelet can verify against runAsNonRoot as it is.
	VerdictNonRoot Verdict = "non-root"
	// VerdictPin: the image runs as a user name that resolves, through its
	// own /etc/passwd, to a non-zero UID. The kubelet cannot verify a name,
	// so the container's runAsUser (and runAsGroup when the image names a
	// group) is pinned to what the image would run as anyway.
	VerdictPin Verdict = "pin"
	// VerdictRoot: the image runs as root (no user, UID 0, or a name that
	// resolves to 0) or as a name that does not resolve. With runAsNonRoot
	// it could not start: the container counts as needing root.
	VerdictRoot Verdict = "root"
)

// Facts is what a lookup learned about one image.
type Facts struct {
	// Digest is the digest of the manifest or index the image reference
	// points at.
	Digest string
	// User is the image's configured user, as written in its config
	// ("app", "1000:1000", "" for none).
	User string
	// Verdict is what User means for the defaults.
	Verdict Verdict
	// UID and GID are set for VerdictPin: the user's UID, and the GID when
	// the image names a group. GID is nil when the image names no group.
	UID, GID *int64
	// Reason says, for a warning, why the verdict was reached, for example
	// `user "app" is not in the image's /etc/passwd`.
	Reason string
}

// userSpec is the image config's User split into its parts.
type userSpec struct {
	user, group    string
	uid, gid       int64
	uidNum, gidNum bool
	hasGroup       bool
}

// parseUser splits a config User, "user[:group]", and notes which parts are
// numeric. Either part may be a name or a number.
func parseUser(s string) userSpec {
	u := userSpec{user: s}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		u.user, u.group, u.hasGroup = s[:i], s[i+1:], true
	}
	u.uid, u.uidNum = parseID(u.user)
	if u.hasGroup {
		u.gid, u.gidNum = parseID(u.group)
	}
	return u
}

// parseID parses a decimal user or group ID as the runtime does: 0 to
// 2^31-1, since a Pod's runAsUser and runAsGroup take no larger value.
func parseID(s string) (int64, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 2147483647 {
		return 0, false
	}
	return n, true
}

// needsFiles reports which of /etc/passwd and /etc/group the decision on
// user needs: a user name needs passwd, a group name needs group.
func (u userSpec) needsFiles() (passwd, group bool) {
	if u.user == "" || u.uidNum {
		return false, false
	}
	return true, u.hasGroup && !u.gidNum
}

// decide turns a config User into facts. passwd and group are the contents
// of the image's /etc/passwd and /etc/group where needsFiles asked for them
// (nil when the image has no such file); filesErr is why they could not be
// read, if so.
func decide(user string, passwd, group []byte, filesErr error) Facts {
	f := Facts{User: user}
	u := parseUser(strings.TrimSpace(user))
	switch {
	case u.user == "":
		f.Verdict, f.Reason = VerdictRoot, "the image sets no user, so it runs as root"
		return f
	case u.uidNum && u.uid == 0:
		f.Verdict, f.Reason = VerdictRoot, fmt.Sprintf("the image runs as user %q (UID 0)", user)
		return f
	case u.uidNum:
		f.Verdict = VerdictNonRoot
		return f
	case filesErr != nil:
		f.Verdict, f.Reason = VerdictRoot, fmt.Sprintf("the image runs as user %q, which could not be resolved: %v", user, filesErr)
		return f
	}
	uid, gid, ok := lookupPasswd(passwd, u.user)
	switch {
	case passwd == nil:
		f.Verdict, f.Reason = VerdictRoot, fmt.Sprintf("the image runs as user %q and has no /etc/passwd to resolve it", user)
		return f
	case !ok:
		f.Verdict, f.Reason = VerdictRoot, fmt.Sprintf("the image runs as user %q, which is not in its /etc/passwd", user)
		return f
	case uid == 0:
		f.Verdict, f.Reason = VerdictRoot, fmt.Sprintf("the image runs as user %q, UID 0 in its /etc/passwd", user)
		return f
	}
	_ = gid // the primary group is what the runtime picks without runAsGroup
	f.Verdict, f.UID = VerdictPin, &uid
	if u.hasGroup {
		g := u.gid
		if !u.gidNum {
			var found bool
			if g, found = lookupGroup(group, u.group); !found {
				f.Verdict, f.UID = VerdictRoot, nil
				f.Reason = fmt.Sprintf("the image runs as user %q, whose group is not in its /etc/group", user)
				return f
			}
		}
		f.GID = &g
	}
	return f
}

// lookupPasswd finds name in an /etc/passwd file
// (name:password:UID:GID:GECOS:home:shell) and returns its UID and GID.
func lookupPasswd(passwd []byte, name string) (uid, gid int64, ok bool) {
	fields := findEntry(passwd, name, 4)
	if fields == nil {
		return 0, 0, false
	}
	uid, okU := parseID(fields[2])
	gid, okG := parseID(fields[3])
	return uid, gid, okU && okG
}

// lookupGroup finds name in an /etc/group file (name:password:GID:members)
// and returns its GID.
func lookupGroup(group []byte, name string) (int64, bool) {
	fields := findEntry(group, name, 3)
	if fields == nil {
		return 0, false
	}
	return parseID(fields[2])
}

// findEntry returns the colon-separated fields of the first line of file
// whose first field is name and that has at least min fields. Comments and
// malformed lines are skipped, as libc does.
func findEntry(file []byte, name string, min int) []string {
	sc := bufio.NewScanner(bytes.NewReader(file))
	sc.Buffer(make([]byte, 0, 4096), maxFileBytes)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+":") {
			continue
		}
		if fields := strings.Split(line, ":"); len(fields) >= min {
			return fields
		}
	}
	return nil
}
