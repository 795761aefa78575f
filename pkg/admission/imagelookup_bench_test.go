package admission_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/secure-defaults/secure-defaults/pkg/admission"
	at "github.com/secure-defaults/secure-defaults/pkg/admission/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
)

// BenchmarkReviewImageLookup is the review of the Deployment pod (three
// containers) with image lookup on and every image in the cache
// (lookup=warm), beside the same review with lookup off (lookup=off), in
// turns; warm/off is what lookup costs a review once its images are known.
// The images run as root, as a user name and as a numeric user, so every
// verdict is on the path.
func BenchmarkReviewImageLookup(b *testing.B) {
	reg := newImageRegistry(b)
	body := reviewWithImages(b, reg.root, reg.named, reg.numeric)
	rec := metrics.New("bench", "bench")
	r, err := imagelookup.New(imagelookup.Config{Enabled: true}, imagelookup.WithTransport(reg.Transport), imagelookup.WithObserver(rec))
	if err != nil {
		b.Fatal(err)
	}
	on := admission.NewHandler(rec, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	on.SetImageLookup(func() admission.ImageLookup { return admission.ImageLookup{Resolver: r} })
	off := benchHandler()
	ctx := context.Background()
	// Warm the cache, and check the answer uses what the images say.
	out, err := on.Review(ctx, body)
	if err != nil {
		b.Fatal(err)
	}
	if resp, err := at.DecodeResponse(out); err != nil || len(resp.Warnings) < 2 {
		b.Fatalf("warm-up review: %v %v", err, resp)
	}
	for _, c := range []struct {
		name string
		h    *admission.Handler
	}{{"lookup=warm", on}, {"lookup=off", off}} {
		b.Run("pod=deployment/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.h.Review(ctx, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reviewWithImages is the Deployment pod's review with its containers
// running images, in order.
func reviewWithImages(tb testing.TB, images ...string) []byte {
	tb.Helper()
	var review map[string]any
	if err := json.Unmarshal(benchReview(tb, benchCases[0]), &review); err != nil {
		tb.Fatal(err)
	}
	spec := review["request"].(map[string]any)["object"].(map[string]any)["spec"].(map[string]any)
	containers := spec["containers"].([]any)
	if len(containers) != len(images) {
		tb.Fatalf("the fixture has %d containers, %d images given", len(containers), len(images))
	}
	for i, c := range containers {
		c.(map[string]any)["image"] = images[i]
	}
	out, err := json.Marshal(review)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
