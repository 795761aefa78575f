package imagelookup

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkCacheMemory fills the result cache with 10,000 digests, as
// references of a realistic length name them, half of them pinned users,
// and reports the heap it holds.
func BenchmarkCacheMemory(b *testing.B) {
	const n = 10000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r, err := New(Config{Enabled: true, CacheSize: n})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			digest := fmt.Sprintf("sha256:%064x", i)
			f := Facts{Digest: digest, User: "65532", Verdict: VerdictNonRoot}
			if i%2 == 0 {
				uid := int64(1000 + i)
				f = Facts{Digest: digest, User: "app", Verdict: VerdictPin, UID: &uid}
			}
			key := fmt.Sprintf("registry.example.com/team-%d/service-%d@%s", i%50, i, digest)
			r.digests.Add(key, f)
			r.refs.Add(fmt.Sprintf("registry.example.com/team-%d/service-%d:v1.2.%d", i%50, i, i), refEntry{key: key, expires: time.Now()})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if r.digests.Len() != n {
			b.Fatalf("cache holds %d", r.digests.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/digest")
		runtime.KeepAlive(r)
	}
}
