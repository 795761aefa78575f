// Package textdiff compares two texts line by line and writes the
// difference as a unified diff, the format of diff -u and git diff, for
// `mutate --check` and for tests that look at what a change added.
package textdiff

import (
	"bytes"
	"fmt"
	"strings"
)

// Kind says what an Edit does to a line.
type Kind byte

const (
	Same   Kind = ' '
	Delete Kind = '-'
	Insert Kind = '+'
)

// Edit is one line of the edit script that turns a into b.
type Edit struct {
	Kind Kind
	// Line is the line's text, with its line ending when it has one.
	Line string
}

// maxWork bounds the work and memory of the comparison (the saved search
// frontiers hold this many ints at most): beyond it, the differing middle of
// the texts is reported as deleted and inserted whole, a correct if longer
// script.
const maxWork = 1 << 22

// Lines returns a shortest edit script (Myers' algorithm) that turns a into
// b, line by line.
func Lines(a, b []byte) []Edit {
	x, y := split(a), split(b)
	var pre, suf []Edit
	for len(x) > 0 && len(y) > 0 && x[0] == y[0] {
		pre = append(pre, Edit{Same, x[0]})
		x, y = x[1:], y[1:]
	}
	for len(x) > 0 && len(y) > 0 && x[len(x)-1] == y[len(y)-1] {
		suf = append(suf, Edit{Same, x[len(x)-1]})
		x, y = x[:len(x)-1], y[:len(y)-1]
	}
	out := append(pre, myers(x, y)...)
	for i := len(suf) - 1; i >= 0; i-- {
		out = append(out, suf[i])
	}
	return out
}

func split(t []byte) []string {
	var out []string
	for len(t) > 0 {
		i := bytes.IndexByte(t, '\n')
		if i < 0 {
			out = append(out, string(t))
			break
		}
		out = append(out, string(t[:i+1]))
		t = t[i+1:]
	}
	return out
}

func myers(a, b []string) []Edit {
	n, m := len(a), len(b)
	whole := func() []Edit {
		var out []Edit
		for _, l := range a {
			out = append(out, Edit{Delete, l})
		}
		for _, l := range b {
			out = append(out, Edit{Insert, l})
		}
		return out
	}
	if n == 0 || m == 0 {
		return whole()
	}
	max := n + m
	off := max
	v := make([]int, 2*max+2)
	var trace [][]int
	work := 0
	for d := 0; d <= max; d++ {
		work += 2*d + 1
		if work > maxWork {
			return whole()
		}
		// Only diagonals -d..d matter at step d: save just those.
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(a, b, trace, d)
			}
		}
	}
	return whole()
}

func backtrack(a, b []string, trace [][]int, d int) []Edit {
	var rev []Edit
	x, y := len(a), len(b)
	for ; d > 0; d-- {
		// trace[d] holds the frontier before step d, diagonals -d..d.
		v := trace[d]
		at := func(k int) int { return v[k+d] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			rev = append(rev, Edit{Same, a[x-1]})
			x, y = x-1, y-1
		}
		if x == px {
			rev = append(rev, Edit{Insert, b[y-1]})
			y--
		} else {
			rev = append(rev, Edit{Delete, a[x-1]})
			x--
		}
	}
	for x > 0 && y > 0 {
		rev = append(rev, Edit{Same, a[x-1]})
		x, y = x-1, y-1
	}
	out := make([]Edit, len(rev))
	for i, e := range rev {
		out[len(rev)-1-i] = e
	}
	return out
}

// Unified returns the unified diff (three lines of context) that turns a,
// named from, into b, named to; "" when the texts are equal.
func Unified(from, to string, a, b []byte) string {
	edits := Lines(a, b)
	const context = 3
	var out strings.Builder
	for i := 0; i < len(edits); {
		if edits[i].Kind == Same {
			i++
			continue
		}
		// A hunk: from context lines before the change to context lines
		// after the last change that lies within 2*context of the next.
		start := max(i-context, 0)
		end := i
		for j := i; j < len(edits); j++ {
			if edits[j].Kind != Same {
				end = j + 1
				continue
			}
			if j-end >= 2*context {
				break
			}
		}
		end = min(end+context, len(edits))
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", from, to)
		}
		aStart, bStart := 1, 1
		for _, e := range edits[:start] {
			if e.Kind != Insert {
				aStart++
			}
			if e.Kind != Delete {
				bStart++
			}
		}
		var aLen, bLen int
		for _, e := range edits[start:end] {
			if e.Kind != Insert {
				aLen++
			}
			if e.Kind != Delete {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, e := range edits[start:end] {
			out.WriteByte(byte(e.Kind))
			out.WriteString(e.Line)
			if !strings.HasSuffix(e.Line, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprint(start)
	default:
		return fmt.Sprintf("%d,%d", start, n)
	}
}
