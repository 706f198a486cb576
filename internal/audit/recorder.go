package audit

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"authsvc/internal/sqldb"
)

// Defaults of Options.
const (
	DefaultBatchSize     = maxBlockEvents
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultQueueSize     = 8192
	DefaultRetention     = 30 * 24 * time.Hour
	DefaultPruneEvery    = time.Hour
	DefaultTallyWindow   = time.Minute
	DefaultMaxTallies    = 1000
)

// pruneBatch is the most events one pruning statement deletes: each batch is
// its own short transaction, so the event writer gets the write lock between
// batches however much there is to prune (SQLite), and no statement holds
// row locks or builds a transaction for long (PostgreSQL).
const pruneBatch = 1000

// Options configure a Recorder. The zero value is the production setup.
type Options struct {
	// BatchSize is how many queued events make a write; default
	// DefaultBatchSize.
	BatchSize int
	// FlushInterval is the longest an event waits in the queue before it is
	// written, however few there are; default DefaultFlushInterval.
	FlushInterval time.Duration
	// QueueSize is how many events, beyond a batch, may wait to be written
	// or be in the writing before Record drops them: QueueSize + BatchSize
	// in all; default DefaultQueueSize.
	QueueSize int
	// TallyWindow is how long Tally merges repeated events into one row;
	// default DefaultTallyWindow.
	TallyWindow time.Duration
	// MaxTallies is how many distinct events Tally holds per window before
	// it folds new ones into one row per event and reason; default
	// DefaultMaxTallies.
	MaxTallies int
	// Retention is how long events are kept: 0 means DefaultRetention, a
	// negative value forever.
	Retention time.Duration
	// PruneEvery is how often the Recorder prunes, starting when it is
	// created: 0 means DefaultPruneEvery, a negative value never (the owner
	// calls Prune).
	PruneEvery time.Duration
	// Now is the clock of Record and Prune; default time.Now.
	Now func() time.Time
	// Logger receives write and prune failures; default discards them.
	Logger *slog.Logger
}

// Stats are the Recorder's counters since it was created, for metrics.
type Stats struct {
	Written uint64 // events stored
	// Dropped counts events never written: Record found the queue full,
	// Record or Tally was called after Close had begun, or Close gave up
	// before they were written. A tally counts once, whatever its Count.
	Dropped uint64
	// Failed counts events in batches whose write failed twice; each failure
	// was logged.
	Failed uint64
	Queued int // events and tallies waiting to be written now: queued, or taken by the writer
}

// Recorder batches events off the request path into the database's single
// writer connection. It is safe for concurrent use.
//
// Record appends to a bounded queue and never waits: a stalled database
// must not stall the requests that audit. One goroutine writes the queue
// out, a batch per transaction, and indexes the token blocks by user (index.go);
// another prunes old events. Nothing is lost
// silently: every event Recorded is written, or counted in Stats as Dropped
// or Failed.
//
// Tally is for what a client can repeat at will (failed logins, refused
// requests): it merges the events that differ only in time and request ID
// into one row per TallyWindow holding their Count, in a map of at most
// MaxTallies keys, so a flood costs a bounded number of rows and bytes.
type Recorder struct {
	db            *sqldb.DB
	now           func() time.Time
	log           *slog.Logger
	batchSize     int
	flushInterval time.Duration
	retention     time.Duration
	pruneEvery    time.Duration
	tallyWindow   time.Duration
	maxTallies    int

	// The queue. Record appends under qmu and the writer takes the slice,
	// or the whole batches in it, leaving its spare one in its place (with
	// the rest). Record wakes the writer
	// only when the queue goes from empty to one event, so that it arms its
	// flush timer, and when the queue holds a batch: a channel send per
	// event woke the writer's goroutine on nearly every token request.
	qmu      sync.Mutex
	queued   []Event            // guarded by qmu
	taken    int                // guarded by qmu: events the writer has taken and not yet written
	inHand   int                // guarded by qmu: those and the tallies taken with them
	closed   bool               // guarded by qmu
	queueCap int                // most events queued and taken; Record drops beyond it
	wake     chan struct{}      // capacity 1: a wake pending is as good as two
	flushes  chan chan struct{} // Flush's requests; the writer closes each when done

	tallyMu     sync.Mutex
	tallies     map[tallyKey]*Event // guarded by tallyMu; swapped out by the writer
	tallyKeys   [folded + 1]int     // keys held per class, guarded by tallyMu
	tallyClosed bool                // guarded by tallyMu: set by seal, as closed

	closeOnce sync.Once
	giveUp    sync.Once
	sealed    chan struct{}           // closed once closed is set: the queue gets no more events
	writeCtx  context.Context         // of every write; canceled, with the cause, when Close gives up
	cancel    context.CancelCauseFunc // cancels writeCtx
	stopPrune context.CancelFunc
	written   chan struct{} // closed when the writer has finished
	pruned    chan struct{} // closed when the pruner has finished

	// The writer's scratch space, reused from batch to batch: flush,
	// writeBlocks and writeBlocksTx run on the writer goroutine only (or in
	// a test, on a Recorder given nothing to record).
	rowsBuf, tokensBuf []Event
	blocksBuf          []block
	data               []byte

	nWritten, nDropped, nFailed atomic.Uint64
	nLost                       atomic.Uint64 // events Dropped because Close gave up
}

// NewRecorder returns a Recorder writing to db's audit trail (db.Audit()),
// whose migrations must have been applied (sqldb.Open does that), and
// starts its goroutines. Close stops them, and must be called before db is
// closed.
func NewRecorder(db *sqldb.DB, opts Options) *Recorder {
	r := &Recorder{
		db:            db.Audit(),
		now:           opts.Now,
		log:           opts.Logger,
		batchSize:     opts.BatchSize,
		flushInterval: opts.FlushInterval,
		retention:     opts.Retention,
		pruneEvery:    opts.PruneEvery,
		tallyWindow:   opts.TallyWindow,
		maxTallies:    opts.MaxTallies,
		wake:          make(chan struct{}, 1),
		flushes:       make(chan chan struct{}),
		tallies:       make(map[tallyKey]*Event),
		sealed:        make(chan struct{}),
		written:       make(chan struct{}),
		pruned:        make(chan struct{}),
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.batchSize <= 0 {
		r.batchSize = DefaultBatchSize
	}
	if r.flushInterval <= 0 {
		r.flushInterval = DefaultFlushInterval
	}
	if r.retention == 0 {
		r.retention = DefaultRetention
	}
	if r.pruneEvery == 0 {
		r.pruneEvery = DefaultPruneEvery
	}
	if r.tallyWindow <= 0 {
		r.tallyWindow = DefaultTallyWindow
	}
	if r.maxTallies <= 0 {
		r.maxTallies = DefaultMaxTallies
	}
	queueSize := opts.QueueSize
	if queueSize <= 0 {
		queueSize = DefaultQueueSize
	}
	r.queueCap = queueSize + r.batchSize
	r.queued = make([]Event, 0, r.batchSize)
	r.writeCtx, r.cancel = context.WithCancelCause(context.Background())
	pruneCtx, stopPrune := context.WithCancel(context.Background())
	r.stopPrune = stopPrune
	go r.runWriter()
	go r.runPruner(pruneCtx)
	return r
}

// Record queues e to be written, setting e.Time from the clock when it is
// zero and cutting its fields to their bounds (see Event). It never waits:
// when the queue is full, or Close has begun, the event is counted as
// Dropped and Record returns false.
func (r *Recorder) Record(e Event) bool {
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	e.bound()
	r.qmu.Lock()
	if r.closed || len(r.queued)+r.taken >= r.queueCap {
		r.qmu.Unlock()
		r.nDropped.Add(1)
		return false
	}
	r.queued = append(r.queued, e)
	n := len(r.queued)
	r.qmu.Unlock()
	if n == 1 || n == r.batchSize {
		select {
		case r.wake <- struct{}{}:
		default: // one is pending: the writer looks at the queue when it takes it
		}
	}
	return true
}

// tallyKey is what makes two tallied events the same.
type tallyKey struct {
	event, userID, actor, clientIP, reason string
	appID                                  uint32
	class                                  tallyClass
}

// tallyClass keeps the keys of events about registered users apart from
// anonymous ones, each class with its own bound, so that a flood of
// anonymous failures, the only kind a client can mint without end, folds
// first and never pushes a targeted user's row out.
type tallyClass uint8

const (
	anonymous tallyClass = iota
	registered
	registeredFolded // a registered user's events past the bound: user, event and reason only
	folded           // past every bound: event and reason only
)

// Tally counts e towards one row per TallyWindow for the events equal to it
// but for Time, RequestID and the token fields (Expire, Nonce): the row
// keeps the first one's time and request ID, and its Count says how many
// there were. registered says e.UserID is a registered user's (or the
// caller is authenticated and rate limited): such events get MaxTallies
// keys of their own, then fold into one row per user, event and reason,
// and only past another MaxTallies into one row per event and reason.
// Anonymous events fold into that last kind of row once MaxTallies
// anonymous keys are held. Tally never waits for the writer; after Close
// has begun it counts e as Dropped.
func (r *Recorder) Tally(e Event, registeredUser bool) {
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	e.bound()
	e.Expire, e.Nonce = 0, nil
	// tallyMu held across the check and the insert: seal takes it to set
	// tallyClosed, so a tally either lands before the writer's last take
	// or is counted as dropped.
	r.tallyMu.Lock()
	defer r.tallyMu.Unlock()
	if r.tallyClosed {
		r.nDropped.Add(1)
		return
	}
	class := anonymous
	if registeredUser {
		class = registered
	}
	k := tallyKey{event: e.Kind, userID: e.UserID, actor: e.Actor, clientIP: e.ClientIP, reason: e.Reason, appID: e.AppID, class: class}
	t, ok := r.tallies[k]
	if !ok && class == registered && r.tallyKeys[registered] >= r.maxTallies {
		k = tallyKey{event: e.Kind, userID: e.UserID, reason: e.Reason, class: registeredFolded}
		e.Actor, e.ClientIP, e.RequestID, e.AppID = "", "", "", 0
		t, ok = r.tallies[k]
	}
	if !ok && r.tallyKeys[k.class] >= r.maxTallies {
		// Folded keys are bounded by the events and reasons, constants.
		k = tallyKey{event: e.Kind, reason: e.Reason, class: folded}
		e.UserID, e.Actor, e.ClientIP, e.RequestID, e.AppID = "", "", "", "", 0
		t, ok = r.tallies[k]
	}
	if !ok {
		t = new(Event) // so that e, for held keys, stays on the stack
		*t = e
		r.tallies[k] = t
		r.tallyKeys[k.class]++
		return
	}
	t.Count++
}

// takeTallies appends the tallies held to batch and starts a new window.
func (r *Recorder) takeTallies(batch []Event) []Event {
	r.tallyMu.Lock()
	defer r.tallyMu.Unlock()
	if len(r.tallies) == 0 {
		return batch
	}
	for _, t := range r.tallies {
		batch = append(batch, *t)
	}
	clear(r.tallies)
	r.tallyKeys = [folded + 1]int{}
	return batch
}

// Flush waits until every event Recorded or Tallied before the call has
// been written, or counted as Failed or Dropped, or until ctx ends. It ends
// the current tally window early: a tally flushed is a row, and the next
// events of its key start another. After Close it returns at once.
func (r *Recorder) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case r.flushes <- done:
	case <-r.written:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush audit events: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush audit events: %w", ctx.Err())
	}
}

// Close stops accepting events, writes every event accepted, and stops the
// Recorder's goroutines. Accepted are the events queued by the Records
// that returned true before Close was called, and the tallies of the Tally
// calls that returned before it: each is written before Close returns, or
// counted as Failed when the database fails. When ctx ends first, Close
// stops writing and returns an error saying how many accepted events were
// lost; they count as Dropped. Close may be called again, and concurrently:
// every call waits for the Recorder to stop and returns the same result.
//
// Close the HTTP server first: events Recorded after Close has begun are
// dropped.
func (r *Recorder) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.stopPrune()
		go r.seal()
	})
	select {
	case <-r.written:
	case <-ctx.Done():
		r.giveUp.Do(func() { r.cancel(ctx.Err()) })
		<-r.written
	}
	<-r.pruned
	// The writer has stopped after the queue was sealed, so no event can be
	// lost any more: the count is final.
	if n := r.nLost.Load(); n > 0 {
		return fmt.Errorf("close audit recorder: %d events not written: %w", n, context.Cause(r.writeCtx))
	}
	r.cancel(nil)
	return nil
}

// seal stops Record and Tally from queueing, once those in progress are
// done.
func (r *Recorder) seal() {
	r.tallyMu.Lock()
	r.tallyClosed = true
	r.tallyMu.Unlock()
	r.qmu.Lock()
	r.closed = true
	r.qmu.Unlock()
	close(r.sealed)
}

// Stats returns the Recorder's counters.
func (r *Recorder) Stats() Stats {
	r.qmu.Lock()
	queued := len(r.queued) + r.inHand
	r.qmu.Unlock()
	return Stats{
		Written: r.nWritten.Load(),
		Dropped: r.nDropped.Load(),
		Failed:  r.nFailed.Load(),
		Queued:  queued,
	}
}

// runWriter writes the queue out in batches of up to batchSize events, as
// soon as a batch is queued or at the latest flushInterval after the first
// event of the queue arrived, and the tallies every tallyWindow, until the
// queue is sealed and empty.
func (r *Recorder) runWriter() {
	defer close(r.written)
	spare := make([]Event, 0, r.batchSize) // the queue's next slice
	timer := time.NewTimer(r.flushInterval)
	timer.Stop()
	defer timer.Stop()
	armed := false
	window := time.NewTicker(r.tallyWindow)
	defer window.Stop()
	indexTick := time.NewTicker(indexEvery)
	defer indexTick.Stop()
	write := func(tallies bool) {
		timer.Stop()
		armed = false
		spare, _ = r.writeQueued(spare, tallies, false)
	}
	for {
		select {
		case <-r.wake:
			r.qmu.Lock()
			n := len(r.queued)
			r.qmu.Unlock()
			if n >= r.batchSize {
				// Whole batches only: the few that came since wait with
				// the next ones, on the timer of the queue's first event
				// (earlier than theirs), instead of making a block and a
				// transaction of their own.
				var left int
				spare, left = r.writeQueued(spare, false, true)
				if left == 0 {
					timer.Stop()
					armed = false
					continue
				}
				n = left
			}
			if n > 0 && !armed {
				timer.Reset(r.flushInterval)
				armed = true
			}
		case <-timer.C:
			write(false)
		case <-window.C:
			write(true)
		case done := <-r.flushes:
			// Every event queued before Flush was called is in the queue
			// now: the writer takes what is queued at once, so that a
			// steady stream of Records cannot keep Flush waiting.
			write(true)
			close(done)
		case <-indexTick.C:
			r.index(false)
		case <-r.sealed:
			// No Record can queue any more: what is queued is all there is.
			write(true)
			r.index(true)
			return
		}
	}
}

// writeQueued takes the queue, and the tallies with tallies, and writes
// them a batch at a time; with whole, it takes whole batches only and
// leaves the rest queued. It returns the slice taken, emptied, to be the
// queue's next one, and how many events it left queued.
func (r *Recorder) writeQueued(spare []Event, tallies, whole bool) ([]Event, int) {
	r.qmu.Lock()
	events, rest := r.queued, spare[:0]
	if whole {
		n := len(events) / r.batchSize * r.batchSize
		rest = append(rest, events[n:]...)
		clear(events[n:])
		events = events[:n]
	}
	r.queued = rest
	r.taken, r.inHand = len(events), len(events)
	r.qmu.Unlock()
	left := len(rest)
	nEvents := len(events)
	if tallies {
		events = r.takeTallies(events)
		r.setInHand(nEvents, len(events))
	}
	for start := 0; start < len(events); start += r.batchSize {
		end := min(start+r.batchSize, len(events))
		r.flush(events[start:end], max(nEvents-end, 0), len(events)-end)
	}
	clear(events) // let the strings go
	if cap(events) > 4*r.batchSize {
		// A backlog grew it: give the memory back.
		return make([]Event, 0, r.batchSize), left
	}
	return events[:0], left
}

// setInHand records that the writer holds events, of which taken are
// events and the rest tallies, not yet written.
func (r *Recorder) setInHand(taken, inHand int) {
	r.qmu.Lock()
	r.taken, r.inHand = taken, inHand
	r.qmu.Unlock()
}

// flush writes batch, each part retrying once, and counts the outcome;
// taken and inHand are what setInHand is given once it is written. The
// token events go to blocks, the others to rows; each part is a transaction
// of its own, so that a failure of one is counted once and never writes the
// other twice.
func (r *Recorder) flush(batch []Event, taken, inHand int) {
	rows, tokens := r.rowsBuf[:0], r.tokensBuf[:0]
	for i := range batch {
		if inBlock(&batch[i]) {
			tokens = append(tokens, batch[i])
		} else {
			rows = append(rows, batch[i])
		}
	}
	r.writeCounted(len(rows), func(ctx context.Context) error { return r.writeRows(ctx, rows) })
	r.writeCounted(len(tokens), func(ctx context.Context) error { return r.writeBlocks(ctx, tokens) })
	r.setInHand(taken, inHand) // written: no longer queued while the pass runs
	if len(tokens) > 0 {
		r.index(false)
	}
	// Let the strings go.
	clear(rows)
	clear(tokens)
	r.rowsBuf, r.tokensBuf = rows[:0], tokens[:0]
}

// writeCounted runs write, retrying once, and counts its n events.
func (r *Recorder) writeCounted(n int, write func(context.Context) error) {
	if n == 0 {
		return
	}
	err := write(r.writeCtx)
	if err != nil && r.writeCtx.Err() == nil {
		err = write(r.writeCtx)
	}
	switch {
	case err == nil:
		r.nWritten.Add(uint64(n))
	case r.writeCtx.Err() != nil: // Close gave up
		r.nLost.Add(uint64(n))
		r.nDropped.Add(uint64(n))
	default:
		r.nFailed.Add(uint64(n))
		r.log.LogAttrs(context.Background(), slog.LevelError, "audit: write failed",
			slog.Int("events", n), slog.String("error", err.Error()))
	}
}

// eventInsert are the columns a batch inserts, in the order of eventValues.
var eventInsert = []string{"occurred_at", "event", "app_id", "user_id", "actor", "client_ip", "request_id",
	"expire", "nonce", "reason", "count"}

// eventValues are the values of e for eventInsert.
func eventValues(e *Event) []any {
	var nonce any // NULL
	if e.Nonce != nil {
		nonce = int64(*e.Nonce)
	}
	return []any{e.Time.UnixMicro(), e.Kind, int64(e.AppID), e.UserID, e.Actor, e.ClientIP, e.RequestID,
		e.Expire, nonce, e.Reason, e.Count}
}

// writeRows stores events as rows of audit_events in one transaction. On
// PostgreSQL that is one COPY, which took a third of the client CPU and two
// thirds of the server CPU of multi-row INSERTs per event in BenchmarkWrite.
func (r *Recorder) writeRows(ctx context.Context, events []Event) error {
	err := r.db.WriteRows(ctx, "audit_events", eventInsert, len(events), func(i int) []any { return eventValues(&events[i]) })
	if err != nil {
		return fmt.Errorf("write audit events: %w", err)
	}
	return nil
}

// writeBlocks stores token events as blocks in one transaction. It
// reorders events.
func (r *Recorder) writeBlocks(ctx context.Context, events []Event) error {
	tx, err := r.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write audit blocks: %w", err)
	}
	defer tx.Rollback()
	if err := r.writeBlocksTx(ctx, tx, events); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write audit blocks: %w", err)
	}
	return nil
}

// writeBlocksTx stores token events as blocks within tx, each a row of
// audit_token_blocks and one of audit_token_unindexed, for the indexer.
func (r *Recorder) writeBlocksTx(ctx context.Context, tx *sql.Tx, events []Event) error {
	r.blocksBuf = splitBlocks(events, r.blocksBuf[:0])
	defer clear(r.blocksBuf)
	for i := range r.blocksBuf {
		b := &r.blocksBuf[i]
		r.data = b.encode(r.data[:0])
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO audit_token_blocks (event, first_at, last_at, events, data)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, b.kind, b.first, b.last, len(b.events), r.data).Scan(&id)
		if err != nil {
			return fmt.Errorf("write audit blocks: %w", err)
		}
		if id > maxBlockID {
			return fmt.Errorf("write audit blocks: block ID %d is past the last one events can name", id)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_token_unindexed (block_id, last_at) VALUES ($1, $2)`, id, b.last); err != nil {
			return fmt.Errorf("write audit blocks: %w", err)
		}
	}
	return nil
}

// runPruner prunes now and every pruneEvery until ctx ends.
func (r *Recorder) runPruner(ctx context.Context) {
	defer close(r.pruned)
	if r.pruneEvery < 0 || r.retention < 0 {
		return
	}
	t := time.NewTicker(r.pruneEvery)
	defer t.Stop()
	for {
		if _, err := r.Prune(ctx); err != nil && ctx.Err() == nil {
			r.log.LogAttrs(ctx, slog.LevelError, "audit: prune failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune deletes the events older than the retention, a batch per
// transaction, oldest first, and returns how many it deleted. With a
// negative retention it deletes nothing. The Recorder prunes on its own
// every PruneEvery; Prune also works after Close, as long as the database
// is open. A block of token events goes when its latest event is past the
// retention: its events outlive that by up to a second.
//
// Replicas sharing a database all prune, maybe at once. That is harmless:
// on PostgreSQL each batch skips the rows another one holds, so they never
// wait on each other nor deadlock, and together delete each old event once;
// one that finds its batch short stops, the others finish. On SQLite the
// batches take the file's write lock in turn.
func (r *Recorder) Prune(ctx context.Context) (int64, error) {
	if r.retention < 0 {
		return 0, nil
	}
	cutoff := r.now().Add(-r.retention).UnixMicro()
	// Oldest first, by the time index: a batch starts at the old end of the
	// index instead of scanning the table for old rows.
	prune := `DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events
		WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2` + r.db.SkipLocked() + `)`
	var total int64
	for {
		res, err := r.db.Writer.ExecContext(ctx, prune, cutoff, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune audit events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("prune audit events: %w", err)
		}
		total += n
		if n < pruneBatch {
			break
		}
	}
	for {
		events, blocks, err := r.pruneBlocks(ctx, cutoff)
		total += events
		if err != nil {
			return total, fmt.Errorf("prune audit events: %w", err)
		}
		if blocks < pruneBlockBatch {
			return total, nil
		}
	}
}

// pruneBlockBatch is the most blocks one pruning transaction deletes, up to
// maxBlockEvents events each.
const pruneBlockBatch = 16

// pruneBlocks deletes up to pruneBlockBatch blocks whose latest event is
// before cutoff, oldest first, with their users' rows, in one transaction,
// and returns how many events and blocks it deleted.
func (r *Recorder) pruneBlocks(ctx context.Context, cutoff int64) (events, blocks int64, err error) {
	tx, err := r.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, event, first_at, last_at, events, data FROM audit_token_blocks
		WHERE last_at < $1 ORDER BY last_at, id LIMIT $2`+r.db.SkipLocked(), cutoff, pruneBlockBatch)
	if err != nil {
		return 0, 0, err
	}
	type pruned struct {
		id, last int64
		users    []string
	}
	var old []pruned
	for rows.Next() {
		var b block
		var id, n int64
		var data []byte
		if err := rows.Scan(&id, &b.kind, &b.first, &b.last, &n, &data); err != nil {
			rows.Close()
			return 0, 0, err
		}
		err := decodeBlock(id, b.kind, b.first, data, func(e *Event) bool {
			b.events = append(b.events, Event{UserID: e.UserID})
			return true
		})
		if err != nil {
			// Kept, it would stop pruning for good: it is always the
			// oldest. Its rows of audit_token_users, at most one per
			// event, stay behind; listings join them to no block.
			r.log.LogAttrs(ctx, slog.LevelError, "audit: pruning a block that does not decode, leaving its user index rows",
				slog.Int64("block", id), slog.String("error", err.Error()))
			b.events = nil
		}
		old = append(old, pruned{id: id, last: b.last, users: storableUsers(b.users())})
		events += n
	}
	if err := rows.Close(); err != nil {
		return 0, 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	for _, b := range old {
		// First the block's row of audit_token_unindexed, if the indexer
		// has not taken it: on PostgreSQL this waits for an indexer holding
		// it, whose runs the next statement then sees and deletes.
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_token_unindexed WHERE block_id = $1`, b.id); err != nil {
			return 0, 0, err
		}
		// The runs keyed by the block. A run holding it among its older
		// blocks goes with its own newest block, pruned in this batch or a
		// later one, as the runs' blocks are in this order.
		if len(b.users) > 0 {
			var args sqldb.Args
			del := `DELETE FROM audit_token_users WHERE (user_id, last_at, block_id) IN
				(SELECT value, CAST(` + args.Add(b.last) + ` AS BIGINT), CAST(` + args.Add(b.id) + ` AS BIGINT) FROM `
			from, err := r.db.TextRows(&args, b.users)
			if err != nil {
				return 0, 0, err
			}
			if _, err := tx.ExecContext(ctx, del+from+`)`, args...); err != nil {
				return 0, 0, err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_token_blocks WHERE id = $1`, b.id); err != nil {
			return 0, 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	return events, int64(len(old)), nil
}
