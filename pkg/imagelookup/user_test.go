package imagelookup

import (
	"errors"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	passwd := []byte("# comment\nroot:x:0:0::/root:/bin/sh\nbroken:x\nbad:x:abc:1::/:\napp:x:1000:1000::/home/app:/bin/sh\napplication:x:2000:2000::/:\n")
	group := []byte("root:x:0:\nstaff:x:50:\n")
	cases := []struct {
		name, user string
		passwd     []byte
		err        error
		verdict    Verdict
		uid, gid   int64 // -1: nil
	}{
		{name: "numeric", user: "1000", verdict: VerdictNonRoot, uid: -1, gid: -1},
		{name: "numeric with spaces", user: " 1000 ", verdict: VerdictNonRoot, uid: -1, gid: -1},
		{name: "numeric with named group", user: "1000:staff", verdict: VerdictNonRoot, uid: -1, gid: -1},
		{name: "too large a UID is a name", user: "4294967296", passwd: passwd, verdict: VerdictRoot, uid: -1, gid: -1},
		{name: "negative is a name", user: "-1", passwd: passwd, verdict: VerdictRoot, uid: -1, gid: -1},
		{name: "empty", user: "", verdict: VerdictRoot, uid: -1, gid: -1},
		{name: "zero", user: "0", verdict: VerdictRoot, uid: -1, gid: -1},
		{name: "name", user: "app", passwd: passwd, verdict: VerdictPin, uid: 1000, gid: -1},
		{name: "a name is not a prefix", user: "appl", passwd: passwd, verdict: VerdictRoot, uid: -1, gid: -1},
		{name: "malformed entry", user: "broken", passwd: passwd, verdict: VerdictRoot, uid: -1, gid: -1},
		{name: "non-numeric UID in the entry", user: "bad", passwd: passwd, verdict: VerdictRoot, uid: -1, gid: -1},
		{name: "name with group", user: "app:staff", passwd: passwd, verdict: VerdictPin, uid: 1000, gid: 50},
		{name: "name with group 0", user: "app:root", passwd: passwd, verdict: VerdictPin, uid: 1000, gid: 0},
		{name: "files unreadable", user: "app", err: errors.New("over the limit"), verdict: VerdictRoot, uid: -1, gid: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := decide(tc.user, tc.passwd, group, tc.err)
			if f.Verdict != tc.verdict || !idIs(f.UID, tc.uid) || !idIs(f.GID, tc.gid) {
				t.Errorf("got %s %v %v (%s)", f.Verdict, f.UID, f.GID, f.Reason)
			}
			if f.Verdict == VerdictRoot && !strings.Contains(f.Reason, "root") && !strings.Contains(f.Reason, tc.user) {
				t.Errorf("reason %q names neither root nor the user", f.Reason)
			}
		})
	}
}

func idIs(p *int64, want int64) bool {
	if want < 0 {
		return p == nil
	}
	return p != nil && *p == want
}
