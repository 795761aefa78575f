package server

import (
	"context"
	"fmt"
	"log/slog"
	"unicode/utf8"
)

// MaxLogValue is the bound serve puts on each logged value: room for an
// error message or the top of a panic's stack, not for a request's content.
const MaxLogValue = 2048

// Truncate returns s cut to at most max bytes (on a rune boundary), with a
// note of how much was cut, so a value from a request never becomes a
// megabyte of log.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…[%d more bytes]", s[:cut], len(s)-cut)
}

// TruncatingHandler wraps h so that the message and every string value
// (in groups too) of a record are cut to max bytes, whichever code logs
// them: errors that quote a request, names from a review.
func TruncatingHandler(h slog.Handler, max int) slog.Handler {
	return truncating{h, max}
}

type truncating struct {
	slog.Handler
	max int
}

func (t truncating) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Truncate(r.Message, t.max), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(t.attr(a))
		return true
	})
	return t.Handler.Handle(ctx, out)
}

func (t truncating) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Truncate(v.String(), t.max))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = t.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Truncate(err.Error(), t.max))
		}
		return slog.String(a.Key, Truncate(v.String(), t.max))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (t truncating) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = t.attr(a)
	}
	return truncating{t.Handler.WithAttrs(out), t.max}
}

func (t truncating) WithGroup(name string) slog.Handler {
	return truncating{t.Handler.WithGroup(name), t.max}
}
