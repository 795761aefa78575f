package jsontree

import (
	"slices"
	"strings"
	"testing"

	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
)

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLost(t *testing.T) {
	cases := []struct {
		before, after string
		want          []string
	}{
		{`{"a":1,"b":[1,2]}`, `{"a":1,"b":[1,2,3],"c":true}`, nil},
		{`{"a":null}`, `{"a":{"x":1}}`, nil},
		{`{"a":9007199254740993}`, `{"a":9007199254740992}`, []string{"/a: 9007199254740993 became 9007199254740992"}},
		{`{"a":{"b":"x"}}`, `{"a":{}}`, []string{"/a/b: removed"}},
		{`{"b":[1,2]}`, `{"b":[1]}`, []string{"/b: array shrank"}},
		{`{"b":[1,2]}`, `{"b":[2,1,3]}`, []string{"/b/0: 1 became 2", "/b/1: 2 became 1"}},
		{`{"a":{"b":1}}`, `{"a":[1]}`, []string{"/a: object became []interface {}"}},
		{`{"s":{"k":"old"}}`, `{"s":{"k":"new"}}`, nil}, // skipped below
	}
	skip := func(p string) bool { return p == "/s/k" }
	for _, tc := range cases {
		got := Lost(mustDecode(t, tc.before), mustDecode(t, tc.after), skip)
		if strings.Join(got, ";") != strings.Join(tc.want, ";") {
			t.Errorf("Lost(%s, %s) = %q, want %q", tc.before, tc.after, got, tc.want)
		}
	}
}

func TestPath(t *testing.T) {
	doc := mustDecode(t, `{"spec":{"template":{"a/b":[{"x":1},{"y":2}]}}}`)
	nodes, err := Path(doc, "/spec/template/a~1b/1/y")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 6 || nodes[5].(interface{ String() string }).String() != "2" {
		t.Errorf("Path = %v", nodes)
	}
	for _, bad := range []string{"spec", "/spec/template/a~1b/2", "/spec/template/a~1b/1/y/z"} {
		if _, err := Path(doc, bad); err == nil {
			t.Errorf("Path(%q): want an error", bad)
		}
	}
}

func TestChanged(t *testing.T) {
	cases := []struct {
		before, after string
		want          []string
	}{
		{`{"a":1,"b":[1]}`, `{"a":1,"b":[1]}`, nil},
		{`{"a":null}`, `{"a":{"x":1,"y":{"z":true}}}`, []string{"/a/x", "/a/y/z"}},
		{`{}`, `{"v":[{"name":"tmp","emptyDir":{}}]}`, []string{"/v/0/emptyDir", "/v/0/name"}},
		{`{"v":[1]}`, `{"v":[1,2]}`, []string{"/v/1"}},
		{`{"a":{"b":1,"c":2}}`, `{"a":{"b":3}}`, []string{"/a/b", "/a/c"}},
		{`{"m":{"x.dev/k":"1"}}`, `{"m":{"x.dev/k":"1","a~b":"2"}}`, []string{"/m/a~0b"}},
		{`{"a":{"b":1}}`, `{"a":[1]}`, []string{"/a"}}, // a type change is one change
	}
	for _, tc := range cases {
		got := Changed(mustDecode(t, tc.before), mustDecode(t, tc.after))
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Changed(%s, %s) = %q, want %q", tc.before, tc.after, got, tc.want)
		}
	}
}

func TestPathUnescapes(t *testing.T) {
	doc := mustDecode(t, `{"m":{"a/b~c":1}}`)
	nodes, err := Path(doc, "/m/"+jsonpointer.Escape("a/b~c"))
	if err != nil || nodes[len(nodes)-1] == nil {
		t.Errorf("Path does not find the key Escape made the token of: %v", err)
	}
}
