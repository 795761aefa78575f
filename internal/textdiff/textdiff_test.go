package textdiff

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

func TestUnified(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{{
		name: "equal texts",
		a:    "a\nb\n", b: "a\nb\n", want: "",
	}, {
		name: "lines added in two places, one hunk each",
		a:    "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
		b:    "1\n2\nx\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\ny\n",
		want: "--- f\n+++ f\n@@ -1,5 +1,6 @@\n 1\n 2\n+x\n 3\n 4\n 5\n@@ -10,3 +11,4 @@\n 10\n 11\n 12\n+y\n",
	}, {
		name: "changes close together share a hunk",
		a:    "1\n2\n3\n4\n",
		b:    "1\nx\n3\ny\n",
		want: "--- f\n+++ f\n@@ -1,4 +1,4 @@\n 1\n-2\n+x\n 3\n-4\n+y\n",
	}, {
		name: "no newline at the end",
		a:    "a\nb",
		b:    "a\nb\nc\n",
		want: "--- f\n+++ f\n@@ -1,2 +1,3 @@\n a\n-b\n\\ No newline at end of file\n+b\n+c\n",
	}, {
		name: "from empty",
		a:    "", b: "a\n",
		want: "--- f\n+++ f\n@@ -0,0 +1 @@\n+a\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Unified("f", "f", []byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestLinesScript checks on random texts that the script turns a into b and
// is as short as the longest common subsequence allows.
func TestLinesScript(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	text := func() string {
		var b strings.Builder
		for n := r.Intn(12); n > 0; n-- {
			b.WriteString(string(rune('a' + r.Intn(4))))
			b.WriteString("\n")
		}
		return b.String()
	}
	for i := 0; i < 2000; i++ {
		a, b := text(), text()
		var gotA, gotB strings.Builder
		same := 0
		for _, e := range Lines([]byte(a), []byte(b)) {
			if e.Kind != Insert {
				gotA.WriteString(e.Line)
			}
			if e.Kind != Delete {
				gotB.WriteString(e.Line)
			}
			if e.Kind == Same {
				same++
			}
		}
		if gotA.String() != a || gotB.String() != b {
			t.Fatalf("script for %q -> %q rebuilds %q -> %q", a, b, gotA.String(), gotB.String())
		}
		if want := lcs(split([]byte(a)), split([]byte(b))); same != want {
			t.Fatalf("script for %q -> %q keeps %d lines, the longest common subsequence has %d", a, b, same, want)
		}
	}
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// TestLinesLargeDifference: texts too different for the bounded search still
// get a script that rebuilds both.
func TestLinesLargeDifference(t *testing.T) {
	var a, b strings.Builder
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&a, "a%d\n", i)
		fmt.Fprintf(&b, "b%d\n", i)
	}
	var gotA, gotB strings.Builder
	for _, e := range Lines([]byte(a.String()), []byte(b.String())) {
		if e.Kind != Insert {
			gotA.WriteString(e.Line)
		}
		if e.Kind != Delete {
			gotB.WriteString(e.Line)
		}
	}
	if gotA.String() != a.String() || gotB.String() != b.String() {
		t.Errorf("the script does not rebuild the texts")
	}
}
