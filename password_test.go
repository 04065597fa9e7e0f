package chatd

import "testing"

// BenchmarkVerifyTestSize is one login's password check at the argon2
// cost the tests and `make bench-compare` use (1 MiB, one pass, one
// lane): the CPU a login storm of test-size accounts cannot do without
// (docs/performance.md, issue 23's first target).
func BenchmarkVerifyTestSize(b *testing.B) {
	h := Hasher{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}
	phc, err := h.Hash("password1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, err := Verify(phc, "password1")
		if err != nil || !ok {
			b.Fatalf("Verify = %v, %v", ok, err)
		}
	}
}
