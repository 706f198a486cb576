package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// TestBuildRuns: a user's blocks make one run while they lie within
// runSpan of its newest, newest first whatever their IDs, and a new run
// past that or past indexBatch blocks; a user's runs hold every block of
// the user's once.
func TestBuildRuns(t *testing.T) {
	t.Parallel()
	span := runSpan.Microseconds()
	var blocks []indexedBlock
	// alice: one block a second for 150 s, IDs against time order at the
	// start; bob: every tenth; carol: indexBatch+10 blocks in a millisecond.
	for i := range 150 {
		b := indexedBlock{id: int64(1000 + i), last: int64(i) * 1e6, users: []string{"alice"}}
		if i < 4 {
			b.id = int64(10 - i)
		}
		if i%10 == 0 {
			b.users = append(b.users, "bob")
		}
		blocks = append(blocks, b)
	}
	for i := range indexBatch + 10 {
		blocks = append(blocks, indexedBlock{id: int64(5000 + i), last: 200e6 + int64(i), users: []string{"carol"}})
	}
	runs := buildRuns(slices.Clone(blocks))
	last := map[string]int64{}
	for _, b := range blocks {
		for _, u := range b.users {
			last[u] = max(last[u], b.last)
		}
	}
	byID := map[int64]indexedBlock{}
	for _, b := range blocks {
		byID[b.id] = b
	}
	got := map[string][]int64{}
	count := map[string]int{}
	for _, r := range runs {
		count[r.user]++
		ids := append([]int64{r.id}, r.older...)
		if len(ids) > indexBatch {
			t.Errorf("a run of %s holds %d blocks, more than indexBatch", r.user, len(ids))
		}
		if byID[r.id].last != r.last {
			t.Errorf("run of %s keyed at %d, its block's latest event is at %d", r.user, r.last, byID[r.id].last)
		}
		for i, id := range ids {
			b := byID[id]
			if i > 0 {
				p := byID[ids[i-1]]
				if b.last > p.last || b.last == p.last && b.id > p.id {
					t.Errorf("run of %s: block %d after %d is not older", r.user, b.id, p.id)
				}
			}
			if b.last <= r.last-span {
				t.Errorf("run of %s at %d holds block %d at %d, runSpan or more before", r.user, r.last, b.id, b.last)
			}
			got[r.user] = append(got[r.user], id)
		}
	}
	for u := range last {
		var want []int64
		for _, b := range blocks {
			if slices.Contains(b.users, u) {
				want = append(want, b.id)
			}
		}
		slices.Sort(want)
		slices.Sort(got[u])
		if !slices.Equal(want, got[u]) {
			t.Errorf("%s's runs hold blocks %v, want %v", u, got[u], want)
		}
	}
	// 150 s of alice's in runs under a minute each; carol's past indexBatch.
	if count["alice"] != 3 || count["bob"] != 3 || count["carol"] != 2 {
		t.Errorf("runs per user = %v, want alice 3, bob 3, carol 2", count)
	}
}

// FuzzDecodeOlder: a run's older blocks come from a file; whatever they
// hold, decodeOlder returns valid block IDs, at most a run's, or an error,
// and never panics; what it returns encodes to data that decodes the same.
func FuzzDecodeOlder(f *testing.F) {
	f.Add(int64(100), appendOlder(nil, 100, []int64{99, 101, 3}))
	f.Add(int64(1), []byte{})
	f.Add(int64(5), []byte{0})
	f.Add(maxBlockID, appendOlder(nil, maxBlockID, []int64{1}))
	f.Fuzz(func(t *testing.T, first int64, data []byte) {
		if first < 1 || first > maxBlockID {
			return
		}
		ids, err := decodeOlder(nil, first, data)
		if err != nil {
			return
		}
		if len(ids) > indexBatch-1 {
			t.Fatalf("%d older blocks decoded, more than a run holds", len(ids))
		}
		for _, id := range ids {
			if id < 1 || id > maxBlockID {
				t.Fatalf("decoded block ID %d", id)
			}
		}
		back, err := decodeOlder(nil, first, appendOlder(nil, first, ids))
		if err != nil || !slices.Equal(back, ids) {
			t.Fatalf("decode, encode, decode: %v then %v, %v", ids, back, err)
		}
	})
}

// TestIndexPassBoundedByUsers: a pass takes blocks while their users fit
// in maxPassRuns, so that it holds the writer for a bounded time, and the
// next passes take the rest.
func TestIndexPassBoundedByUsers(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		const blocks = maxPassRuns/maxBlockEvents + 3
		r := writeWaitingBlocks(t, db, blocks, func(b int) []Event {
			batch := make([]Event, maxBlockEvents)
			for i := range batch {
				batch[i] = Event{Kind: TokenIssued, UserID: fmt.Sprintf("u%d-%d", b, i), Time: base.Add(time.Duration(b) * time.Second), Count: 1}
			}
			return batch
		})
		n, err := r.indexPass(ctx, maxBlockID)
		if err != nil || n != maxPassRuns/maxBlockEvents {
			t.Fatalf("indexPass() = %d, %v; want %d blocks, as many as hold maxPassRuns users", n, err, maxPassRuns/maxBlockEvents)
		}
		if got := count(t, db, "audit_token_users"); got != maxPassRuns {
			t.Errorf("%d runs written, want %d", got, maxPassRuns)
		}
		if err := r.indexBlocks(ctx, true); err != nil {
			t.Fatal(err)
		}
		if got := count(t, db, "audit_token_unindexed"); got != 0 {
			t.Errorf("%d blocks wait after indexing all", got)
		}
		for _, u := range []string{"u0-0", fmt.Sprintf("u%d-%d", blocks-1, maxBlockEvents-1)} {
			p, err := list(ctx, db, Query{UserID: u})
			if err != nil || len(p.Events) != 1 || p.Events[0].UserID != u {
				t.Errorf("List(%s) = %+v, %v; want its one event", u, p, err)
			}
		}
	})
}

// TestListManyRuns: a user's listing reads the blocks of about
// maxBlocksQuery at a time, run by run, across runs of a full pass each,
// and pages right through them.
func TestListManyRuns(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		const blocks = 6*indexBatch + 10 // the second fetch of runs (four) is read in two goes
		// Two events a block, 20 ms apart: runs of indexBatch blocks,
		// within runSpan.
		r := writeWaitingBlocks(t, db, blocks, func(i int) []Event {
			at := base.Add(time.Duration(i) * 20 * time.Millisecond)
			return []Event{{Kind: TokenIssued, UserID: "alice", Time: at, Count: 1}, {Kind: TokenIssued, UserID: "bob", Time: at, Count: 1}}
		})
		if err := r.indexBlocks(ctx, true); err != nil {
			t.Fatal(err)
		}
		var long int
		if err := db.Reader.QueryRow(`SELECT COUNT(*) FROM audit_token_users WHERE user_id = 'alice' AND LENGTH(older) > 0`).Scan(&long); err != nil || long < 6 {
			t.Fatalf("%d runs of alice of more than one block, %v; want 6 or more", long, err)
		}
		compareListings(t, db, rand.New(rand.NewPCG(9, 10)), 2*blocks, []string{"alice", "bob"}, []string{TokenIssued}, blocks*20, 20)
	})
}

// writeWaitingBlocks writes n blocks, block i of the events batch(i),
// through a Recorder whose clock is at base, the events' time: the blocks
// are young, so they wait for the test's passes, none of the writer's own
// being due. It returns the Recorder.
func writeWaitingBlocks(t *testing.T, db *sqldb.DB, n int, batch func(i int) []Event) *Recorder {
	t.Helper()
	r := newTestRecorder(t, db, Options{Now: func() time.Time { return base }})
	for i := range n {
		if err := r.writeBlocks(context.Background(), batch(i)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}
