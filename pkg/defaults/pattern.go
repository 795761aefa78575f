package defaults

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ValidatePattern checks an exclusion pattern (Options.ExcludeImages,
// Options.ExcludeContainers): not empty, at most maxLen bytes, no spaces or
// control characters.
func ValidatePattern(p string, maxLen int) error {
	if p == "" {
		return errors.New("empty pattern")
	}
	if len(p) > maxLen {
		return fmt.Errorf("pattern of %d bytes, at most %d allowed", len(p), maxLen)
	}
	if strings.IndexFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("pattern %q has a space or control character", p)
	}
	return nil
}

// matchAny reports whether s matches one of patterns.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// match reports whether s matches the whole of pattern, in which "*" stands
// for any run of bytes ("/" included) and "?" for one byte; every other byte
// stands for itself. It runs in time linear in len(pattern)*len(s) at worst
// (the classic greedy matcher with one backtrack point), so a hostile pod
// cannot make it slow.
func match(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
