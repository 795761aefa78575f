package jsonpointer

import "testing"

func TestRoundTrip(t *testing.T) {
	for key, token := range map[string]string{
		"secure-defaults.dev/defaulted": "secure-defaults.dev~1defaulted",
		"a~b":                           "a~0b",
		"~1":                            "~01",
		"/~":                            "~1~0",
		"plain":                         "plain",
	} {
		if got := Escape(key); got != token {
			t.Errorf("Escape(%q) = %q, want %q", key, got, token)
		}
		if got := Unescape(token); got != key {
			t.Errorf("Unescape(%q) = %q, want %q", token, got, key)
		}
	}
}
