package users

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The benchmarks run on a real database file in b.TempDir(), with the
// production settings (WAL, synchronous=FULL).

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b, Options{Now: time.Now})
	const n = 10000
	batch := make([]CreateParams, 0, MaxImport)
	for i := range n {
		batch = append(batch, CreateParams{ID: fmt.Sprintf("user%05d", i), Name: "Some User", AvatarURL: "https://cdn.example.com/a.png"})
		if len(batch) == MaxImport {
			if _, err := s.Import(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%05d", i)
	}
	// database: the SQLite lookup, as on a cache miss; cached: a user read
	// again within the cache's lifetime, as on the token route.
	for _, tt := range []struct {
		name string
		get  func(context.Context, string) (User, error)
	}{{"database", s.load}, {"cached", s.Get}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := tt.get(ctx, ids[i%n]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkGetParallel reads one user from every core, through the cache.
func BenchmarkGetParallel(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b, Options{Now: time.Now})
	mustCreate(b, s, CreateParams{ID: "alice"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, "alice"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b, Options{Now: time.Now})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Create(ctx, CreateParams{ID: fmt.Sprintf("user%d", i), Name: "Some User"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateWithPassword uses the production hash parameters: it
// measures what creating a user with a password costs in service.
func BenchmarkCreateWithPassword(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b, Options{Now: time.Now, Hash: DefaultHashParams})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Create(ctx, CreateParams{ID: fmt.Sprintf("user%d", i), Password: "correct horse battery staple"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkImport imports batches of MaxImport new users without passwords.
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b, Options{Now: time.Now})
	batch := make([]CreateParams, MaxImport)
	b.ReportAllocs()
	round := 0
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			batch[i] = CreateParams{ID: fmt.Sprintf("r%d-%d", round, i), Name: "Imported User", ExtendedData: `{"plan":"free"}`}
		}
		round++
		b.StartTimer()
		start := time.Now()
		rs, err := s.Import(ctx, batch)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if rs[len(rs)-1].Status != ImportCreated {
			b.Fatalf("last result = %+v", rs[len(rs)-1])
		}
	}
	b.ReportMetric(float64(round*MaxImport)/elapsed.Seconds(), "users/s")
}

func BenchmarkCount(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b, Options{Now: time.Now})
	mustCreate(b, s, CreateParams{ID: "a"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Count(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// importUsers imports n users without passwords, user0000000 on, and returns
// their IDs.
func importUsers(tb testing.TB, s *Store, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	batch := make([]CreateParams, 0, MaxImport)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%07d", i)
		batch = append(batch, CreateParams{ID: ids[i], Name: "Some User", AvatarURL: "https://cdn.example.com/a.png"})
		if len(batch) == MaxImport || i == n-1 {
			if _, err := s.Import(context.Background(), batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return ids
}
