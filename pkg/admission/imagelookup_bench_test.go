package admission_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
)

// BenchmarkReviewImageLookup is the review of the Deployment pod (three
// containers) with image lookup on and every image in the cache, against the
// same review with lookup off. The two alternate within one loop, so drift
// on a busy machine hits both alike; it reports each one's time per review
// and their ratio (on/off), which is what lookup costs a review once its
// images are known. images=numeric runs images with numeric users, whose
// answer is the same as with lookup off (the lookup alone); images=mixed
// runs one of each verdict (root, user name, numeric), whose answer also
// carries the pins and warnings lookup adds.
func BenchmarkReviewImageLookup(b *testing.B) {
	reg := newImageRegistry(b)
	numeric2 := reg.Push(b, "numeric2", "v1", ilt.Image(b, "1001"))
	numeric3 := reg.Push(b, "numeric3", "v1", ilt.Image(b, "1002:1002"))
	for _, c := range []struct {
		name   string
		images []string
	}{
		{"images=numeric", []string{reg.numeric, numeric2, numeric3}},
		{"images=mixed", []string{reg.root, reg.named, reg.numeric}},
	} {
		body := reviewWithImages(b, c.images...)
		rec := metrics.New("bench", "bench")
		r, err := imagelookup.New(imagelookup.Config{Enabled: true}, imagelookup.WithTransport(reg.Transport), imagelookup.WithObserver(rec))
		if err != nil {
			b.Fatal(err)
		}
		on := admission.NewHandler(rec, slog.New(slog.NewJSONHandler(io.Discard, nil)))
		on.SetImageLookup(func() admission.ImageLookup { return admission.ImageLookup{Resolver: r} })
		off := benchHandler()
		ctx := context.Background()
		// Warm the cache; check that the answer used the registry's.
		if _, err := on.Review(ctx, body); err != nil {
			b.Fatal(err)
		}
		if n := reg.ManifestRequests.Load(); n == 0 {
			b.Fatal("the warm-up review asked the registry nothing")
		}
		b.Run("pod=deployment/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			var onTime, offTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := on.Review(ctx, body); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := off.Review(ctx, body); err != nil {
					b.Fatal(err)
				}
				onTime += t1.Sub(t0)
				offTime += time.Since(t1)
			}
			b.ReportMetric(float64(onTime.Nanoseconds())/float64(b.N), "ns-on/review")
			b.ReportMetric(float64(offTime.Nanoseconds())/float64(b.N), "ns-off/review")
			b.ReportMetric(float64(onTime)/float64(offTime), "on/off")
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
