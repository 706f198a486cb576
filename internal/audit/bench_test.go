package audit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// The benchmarks run on a real database file in b.TempDir(), with the
// production settings (WAL, synchronous=FULL), and on PostgreSQL, in a
// schema of their own, when AUTHSVC_TEST_POSTGRES_URL is set.
//
//	go test -run '^$' -bench . -benchmem ./internal/audit/

// benchEvents returns n token events, with every field set as the token
// route sets them, of users drawn at random from users.
func benchEvents(n, users int) []Event {
	rnd := rand.New(rand.NewPCG(1, 2))
	nonce := int32(-1234567)
	es := make([]Event, n)
	for i := range es {
		u := fmt.Sprintf("user%05d", rnd.IntN(users))
		es[i] = Event{
			Kind:      TokenIssued,
			AppID:     1234567890,
			UserID:    u,
			Actor:     "user:" + u,
			ClientIP:  "203.0.113.7",
			RequestID: "01J9Z3W6Q2Y8R4T0V5X7N1M3K9",
			Expire:    1767323045,
			Nonce:     &nonce,
		}
	}
	return es
}

// BenchmarkWrite measures one batch of token events written in one
// transaction, as the Recorder writes them; a full batch is
// DefaultBatchSize (1,024) events. With users drawn from 10,000, as in
// production, the events of a batch are of different users; with one user
// they share one, and with 64, as in the load test, a batch has 64.
// cpu-ns/event is the CPU time of the whole process per event, the cost
// that competes with request handling; events/s also depends on the disk;
// disk-B/event is what the tables and their indexes grew by per event.
//
// It compares the ways to write a batch: blocks is what the Recorder does
// with token events (writeBlocks, then indexBlocks as the writer calls
// it); rows writes them as rows of
// audit_events, as it did before blocks, and still does with other events:
// on SQLite one prepared INSERT per row in a transaction, on PostgreSQL
// one COPY (rows-insert: multi-row INSERTs of 100 rows, for comparison).
// server-cpu-ns/event is the CPU time of the PostgreSQL process that
// served the connection, when the server runs on this machine.
//
//	go test -run '^$' -bench Write -benchmem ./internal/audit/
func BenchmarkWrite(b *testing.B) {
	for _, d := range sqldbtest.Dialects {
		b.Run(string(d.Name), func(b *testing.B) {
			methods := []string{"blocks", "rows"}
			if d.Name == sqldb.Postgres {
				sqldbtest.PostgresURL(b) // skips without a server
				methods = append(methods, "rows-insert")
			}
			for _, users := range []int{1, 64, 10000, 1000000} {
				for _, n := range []int{1, 256, DefaultBatchSize} {
					for _, method := range methods {
						b.Run(fmt.Sprintf("users=%d/batch=%d/%s", users, n, method), func(b *testing.B) {
							benchmarkWrite(b, d, users, n, method)
						})
					}
				}
			}
		})
	}
}

func benchmarkWrite(b *testing.B, d sqldbtest.Dialect, users, n int, method string) {
	// Cancellable, as the writer's is: SQLite's driver watches such a
	// context during each statement.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := d.Open(b).Audit()
	// The batches are made once, below, and written again and again: the
	// clock stays at their time, so that the blocks waiting for the indexer
	// never look old, as in a steady load, where a pass is due every
	// indexMinBlocks blocks.
	now := time.Now()
	r := newTestRecorder(b, db, Options{Now: func() time.Time { return now }})
	write := func(batch []Event) error {
		if err := r.writeBlocks(ctx, batch); err != nil {
			return err
		}
		return r.indexBlocks(ctx, false) // as the writer does after each write

	}
	switch method {
	case "rows":
		write = func(batch []Event) error { return r.writeRows(ctx, batch) }
	case "rows-insert":
		write = func(batch []Event) error {
			tx, err := db.Writer.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			err = db.InsertRows(ctx, tx, "audit_events", eventInsert, len(batch), func(i int) []any { return eventValues(&batch[i]) })
			if err != nil {
				return err
			}
			return tx.Commit()
		}
	}
	backend := -1
	if d.Name == sqldb.Postgres {
		// One connection, so that every batch runs in the backend measured.
		db.Writer.SetMaxOpenConns(1)
		if err := db.Writer.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
			b.Fatal(err)
		}
	}
	batches := make([][]Event, 64)
	all := benchEvents(len(batches)*n, users)
	for j := range batches {
		batches[j] = all[j*n : (j+1)*n]
		for i := range batches[j] {
			batches[j][i].Time = now
			batches[j][i].bound()
		}
	}
	// writeBlocks reorders a batch: write a copy.
	batch := make([]Event, n)
	size := storedBytes(b, db)
	b.ReportAllocs()
	cpu := processCPU()
	server, serverOK := processCPUOf(backend)
	j := 0
	for b.Loop() {
		copy(batch, batches[j%len(batches)])
		if err := write(batch); err != nil {
			b.Fatal(err)
		}
		j++
	}
	if method == "blocks" {
		// What waits for the indexer still is part of the cost.
		if err := r.indexBlocks(ctx, true); err != nil {
			b.Fatal(err)
		}
	}
	cpu = processCPU() - cpu
	events := float64(b.N * n)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu-ns/event")
	if after, ok := processCPUOf(backend); serverOK && ok {
		b.ReportMetric(float64((after-server).Nanoseconds())/events, "server-cpu-ns/event")
	}
	b.ReportMetric(float64(storedBytes(b, db)-size)/events, "disk-B/event")
}

// storedBytes returns the bytes the audit trail's tables and indexes take:
// on SQLite the pages in use of the file (the WAL's included), on
// PostgreSQL the relations' sizes.
func storedBytes(tb testing.TB, db *sqldb.DB) int64 {
	tb.Helper()
	var n int64
	var err error
	if db.Dialect() == sqldb.Postgres {
		err = db.Reader.QueryRow(`SELECT pg_total_relation_size('audit_events') + pg_total_relation_size('audit_token_blocks') +
			pg_total_relation_size('audit_token_users')`).Scan(&n)
	} else {
		err = db.Reader.QueryRow(`SELECT (page_count - freelist_count) * page_size
			FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()`).Scan(&n)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkRecord calls Record from parallel goroutines as fast as they
// can, then Close, which the time includes: the queue fills, so written/s
// is the event rate the Recorder sustains, the writer being the
// bottleneck, and B/op and allocs/op are the writer's. Records beyond it
// find the queue full and are dropped, as they must be (dropped-% of
// them). Record itself allocates nothing (TestRecordDoesNotAllocate).
func BenchmarkRecord(b *testing.B) {
	for _, d := range sqldbtest.Dialects {
		b.Run(string(d.Name), func(b *testing.B) {
			if d.Name == sqldb.Postgres {
				sqldbtest.PostgresURL(b) // skips without a server
			}
			benchmarkRecord(b, d)
		})
	}
}

func benchmarkRecord(b *testing.B, d sqldbtest.Dialect) {
	es := benchEvents(1024, 10000)
	db := d.Open(b).Audit()
	r := newTestRecorder(b, db, Options{})
	var next atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1) * 997
		for pb.Next() {
			r.Record(es[i%uint64(len(es))])
			i++
		}
	})
	mustClose(b, r)
	b.StopTimer()
	s := r.Stats()
	// Every Record is written or counted: none is lost silently.
	if s.Written+s.Dropped != uint64(b.N) || s.Failed != 0 {
		b.Fatalf("Stats() = %+v after %d Records", s, b.N)
	}
	b.ReportMetric(float64(s.Written)/b.Elapsed().Seconds(), "written/s")
	b.ReportMetric(100*float64(s.Dropped)/float64(b.N), "dropped-%")
}

// BenchmarkRequest compares the throughput of parallel "requests" that each
// cost about 40µs of CPU, what the token route costs in process (see
// internal/httpapi BenchmarkRoute/inprocess/token), without and with one
// audit event each: the ratio of their req/s is the throughput that
// auditing keeps when the requests saturate every CPU, the writer competing
// with them. It is a bound from below: through net/http a request costs
// more, and the share of auditing is smaller.
//
// On PostgreSQL the server runs on the same cores, so its share of the
// writes counts against the requests too, as it would on a one-machine
// deployment.
func BenchmarkRequest(b *testing.B) {
	for _, d := range sqldbtest.Dialects {
		b.Run(string(d.Name), func(b *testing.B) {
			if d.Name == sqldb.Postgres {
				sqldbtest.PostgresURL(b) // skips without a server
			}
			benchmarkRequest(b, d)
		})
	}
}

func benchmarkRequest(b *testing.B, d sqldbtest.Dialect) {
	work := calibrate(40 * time.Microsecond)
	for _, users := range []int{0, 1, 10000} {
		name := fmt.Sprintf("users=%d", users)
		if users == 0 {
			name = "audit=off"
		}
		b.Run(name, func(b *testing.B) {
			es := benchEvents(1024, max(users, 1))
			db := d.Open(b).Audit()
			r := newTestRecorder(b, db, Options{})
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var buf [1024]byte
				i := next.Add(1) * 997
				for pb.Next() {
					for range work {
						s := sha256.Sum256(buf[:])
						copy(buf[:], s[:])
					}
					if users > 0 {
						r.Record(es[i%uint64(len(es))])
					}
					i++
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			mustClose(b, r)
		})
	}
}

// calibrate returns how many SHA-256 sums of 1 KiB take about d.
func calibrate(d time.Duration) int {
	var buf [1024]byte
	const n = 2000
	start := time.Now()
	for range n {
		s := sha256.Sum256(buf[:])
		copy(buf[:], s[:])
	}
	per := time.Since(start) / n
	return max(1, int(d/per))
}
