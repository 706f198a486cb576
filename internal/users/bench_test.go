package users

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"authsvc/internal/sqldb/sqldbtest"
)

// The benchmarks run on a real database file in b.TempDir(), with the
// production settings (WAL, synchronous=FULL). Those of Get, Create and
// Import run once per dialect, as sub-benchmarks sqlite and postgres, side
// by side; postgres skips without AUTHSVC_TEST_POSTGRES_URL, and runs in a
// schema of its own there.

// eachDialect runs f as a sub-benchmark per dialect.
func eachDialect(b *testing.B, f func(b *testing.B, d sqldbtest.Dialect)) {
	for _, d := range sqldbtest.Dialects {
		b.Run(string(d.Name), func(b *testing.B) { f(b, d) })
	}
}

func BenchmarkGet(b *testing.B) { eachDialect(b, benchmarkGet) }

func benchmarkGet(b *testing.B, d sqldbtest.Dialect) {
	ctx := context.Background()
	s := newStoreOn(b, d, Options{Now: time.Now})
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
	// database: the database lookup, as on a cache miss; cached: a user read
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

func BenchmarkCreate(b *testing.B) { eachDialect(b, benchmarkCreate) }

func benchmarkCreate(b *testing.B, d sqldbtest.Dialect) {
	ctx := context.Background()
	s := newStoreOn(b, d, Options{Now: time.Now})
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
func BenchmarkImport(b *testing.B) { eachDialect(b, benchmarkImport) }

func benchmarkImport(b *testing.B, d sqldbtest.Dialect) {
	benchmarkImportStore(b, newStoreOn(b, d, Options{Now: time.Now}))
}

func benchmarkImportStore(b *testing.B, s *Store) {
	ctx := context.Background()
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

// bulkUsers inserts n users, user0000000 on, in one statement in one
// transaction: a million take seconds, where Import takes minutes. Each has
// a password hash of the production length, so the table is as large as a
// real one.
func bulkUsers(tb testing.TB, s *Store, n int) []string {
	tb.Helper()
	ctx := context.Background()
	hash := strings.Repeat("h", len(s.dummyHash))
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMicro()
	if _, err := tx.ExecContext(ctx, `INSERT INTO users
		(id, name, avatar_url, extended_data, disabled, password_hash, session_epoch, created_at, updated_at)
		WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < $1)
		SELECT printf('user%07d', i), 'Some User', 'https://cdn.example.com/a.png', '', FALSE, $2,
			random(), $3, $3 FROM seq`, n, hash, now); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%07d", i)
	}
	return ids
}

// BenchmarkGetRandom reads users picked at random, the same sequence of
// picks for each size, from a store of 1k users and from one of 1M: the
// cache-miss path (load, as for an admin minting for users it has not asked
// about within cacheTTL) and Get through the cache. Compare the sizes'
// ns/op within one run, and cpu-ns/op (the process's CPU time per read),
// which waiting for a busy machine's cores does not inflate.
func BenchmarkGetRandom(b *testing.B) {
	ctx := context.Background()
	for _, size := range []struct {
		name string
		n    int
	}{{"users=1k", 1_000}, {"users=1M", 1_000_000}} {
		s := newTestStore(b, Options{Now: time.Now})
		ids := bulkUsers(b, s, size.n)
		r := rand.New(rand.NewPCG(1, 2))
		picks := make([]string, 1<<16)
		for i := range picks {
			picks[i] = ids[r.IntN(len(ids))]
		}
		// The misses while something commits a one-row write every
		// commitEvery, as the audit trail does under token load: a commit
		// to the registry's file empties every reader's page cache and
		// mapping, one to the trail's own file does not.
		const commitEvery = 20 * time.Millisecond
		trailCommit := func() error {
			_, err := s.db.Audit().Writer.ExecContext(ctx, `INSERT INTO audit_events (occurred_at, event) VALUES (1, 'token.issued')`)
			return err
		}
		registryCommit := func() error {
			_, err := s.db.Writer.ExecContext(ctx, `INSERT INTO readiness (id, probes) VALUES (1, 1)
				ON CONFLICT (id) DO UPDATE SET probes = readiness.probes + 1`)
			return err
		}
		for _, tt := range []struct {
			name   string
			get    func(context.Context, string) (User, error)
			commit func() error // nil: none
		}{
			{"miss", s.load, nil},
			{"get", s.Get, nil},
			{"miss-trail-commits", s.load, trailCommit},
			{"miss-registry-commits", s.load, registryCommit},
		} {
			b.Run(size.name+"/"+tt.name, func(b *testing.B) {
				b.ReportAllocs()
				stop := make(chan struct{})
				done := make(chan error, 1)
				if tt.commit != nil {
					go func() {
						tick := time.NewTicker(commitEvery)
						defer tick.Stop()
						for {
							select {
							case <-stop:
								done <- nil
								return
							case <-tick.C:
								if err := tt.commit(); err != nil {
									done <- err
									return
								}
							}
						}
					}()
				}
				cpu0, ok := processCPU()
				i := 0
				for b.Loop() {
					if _, err := tt.get(ctx, picks[i%len(picks)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
				cpu1, _ := processCPU()
				if tt.commit != nil {
					close(stop)
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
				if ok {
					b.ReportMetric(float64(cpu1-cpu0)/float64(i), "cpu-ns/op")
				}
			})
		}
	}
}
