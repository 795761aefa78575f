package imagelookup

import "time"

// SetFailureTTL sets how long r answers a failed lookup from memory.
func SetFailureTTL(r *Resolver, d time.Duration) { r.failureTTL = d }
