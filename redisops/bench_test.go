package redisops

import (
	"testing"

	"github.com/flowfabric/ffdelay/internal/model"
)

// Micro-benchmarks of the per-execution client work; compare with benchstat.

func BenchmarkDecodePromoteReply(b *testing.B) {
	reply := []any{int64(1), "OK", "promoted"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if o, _ := DecodePromoteReply(reply, nil); o != model.Promoted {
			b.Fatal(o)
		}
	}
}

func BenchmarkDecodePromoteReplyFailure(b *testing.B) {
	reply := []any{int64(0), "invalid_input", "now_ms must be a number, got: x"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if o, _ := DecodePromoteReply(reply, nil); o != model.Failed {
			b.Fatal(o)
		}
	}
}

func BenchmarkPromoteKeys(b *testing.B) {
	id := "{fp:123}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = CoreKey(123, id)
		_ = DelayedKey(123, "default")
		_ = EligibleKey(123, "default")
	}
}

func BenchmarkParseExecutionID(b *testing.B) {
	id := "{fp:123}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := model.ParseExecutionID(id); err != nil {
			b.Fatal(err)
		}
	}
}
