package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// Sharding a listing on booleans is exact only at one instant, and Graph
// recomputes the report while a run reads it: a user whose shard boolean
// flips after one shard passed them and before the other reaches them is
// in neither listing (the other way round, in both: the transformer keeps
// the truer copy). reconcile accounts for the users the listing missed.
//
// The tenant's previous snapshot says who should be there: a user it
// holds that this listing lacks is asked for by id (v1.0 documents
// GET .../userRegistrationDetails/{id}): found, the user loads
// ("recovered"); 404, the user is gone. The lookups go through the same
// throttle and retries as pages and are landed in the raw zone beside
// them, so a replay gives the same rows. When they would cost more
// requests than reading the listing again without shards, the listing is
// read again unsharded instead: one listing in one order cannot miss a
// user by a flip. Past Options.MaxLookups the rest are counted as
// unconfirmed. The beta report documents no lookup: there they are only
// counted.
//
// A user created since the previous snapshot who flipped during the run
// cannot be found this way. The users read twice say how much moved: as
// many flips go one way as the other, so about MovedBetweenShards ×
// (share of new users) new users were missed; the manifest reports that
// estimate.

// DefaultMaxLookups caps the per-id lookups of a run: at Graph's 5
// requests per 10 s per tenant, 200 lookups take about 400 s.
const DefaultMaxLookups = 200

// History is the warehouse's record of earlier snapshots, which
// reconciliation reads. Implementations return ok=false when the tenant
// has no published snapshot before the date.
// The previous snapshot's ids are streamed (ScanColumns), never held: a
// million of them as strings would cost more than the rest of the run.
type History interface {
	Previous(ctx context.Context, tenant string, before time.Time) (key schemas.Key, ok bool, err error)
	ScanColumns(ctx context.Context, table *schemas.Table, key schemas.Key, cols []string, fn func(arrow.RecordBatch) error) error
}

// Reconcile is the manifest's account of the users a listing may have
// missed, and of the users read twice.
type Reconcile struct {
	// PreviousSnapshot is the date of the snapshot compared with; "" when
	// the tenant has none (Note says so).
	PreviousSnapshot string `json:"previous_snapshot"`
	PreviousUsers    int64  `json:"previous_users"`
	// MovedBetweenShards: users read in two shards (the copy not loaded).
	MovedBetweenShards int64 `json:"moved_between_shards"`
	// Missing: users of the previous snapshot the listing did not hold.
	Missing int64 `json:"missing_from_listing"`
	Lookups int64 `json:"lookups"`
	// Recovered: missing users found by id and loaded; Gone: missing users
	// Graph no longer holds (404, or absent from an unsharded re-read).
	Recovered int64 `json:"recovered"`
	Gone      int64 `json:"gone"`
	// Unconfirmed: missing users not looked up (past MaxLookups, a report
	// without lookups, or lookups that failed); they may exist.
	Unconfirmed     int64 `json:"unconfirmed"`
	RereadUnsharded bool  `json:"reread_unsharded"`
	// NewUsers are users loaded that the previous snapshot lacks.
	NewUsers int64 `json:"new_users"`
	// EstimatedMissedNewUsers: new users who likely flipped out of every
	// shard during the run (see reconcile.go).
	EstimatedMissedNewUsers float64 `json:"estimated_missed_new_users"`
	Note                    string  `json:"note,omitempty"`
}

// missing returns the ids of the previous snapshot the transformer has not
// loaded, sorted, with the previous snapshot's key. It streams the
// previous ids once, keeping only the missing ones and a count of those
// loaded (finishReconcile adds the missing ones loaded since).
func (r *tenantRun) missing(ctx context.Context) (ids []string, prev schemas.Key, ok bool, err error) {
	h := r.o.History
	if h == nil {
		return nil, schemas.Key{}, false, nil
	}
	prev, ok, err = h.Previous(ctx, r.o.Key.Tenant, r.o.Key.Date)
	if err != nil || !ok {
		return nil, prev, ok, err
	}
	var all, kept int64
	err = h.ScanColumns(ctx, schemas.UserRegistrationDetailsTable, prev, []string{"user_id"}, func(rec arrow.RecordBatch) error {
		c, ok := rec.Column(0).(*array.String)
		if !ok {
			return fmt.Errorf("the previous snapshot's user_id is %s, want a string", rec.Column(0).DataType())
		}
		for i := range c.Len() {
			id := c.Value(i)
			// One lookup: past SeenInMemory each may read the disk.
			loaded, rejected := r.tr.Lookup(id)
			switch {
			case !loaded && !rejected:
				ids = append(ids, strings.Clone(id))
			case loaded:
				kept++
			}
		}
		all += int64(c.Len())
		return nil
	})
	if err != nil {
		return nil, prev, ok, err
	}
	r.rec.PreviousUsers = all
	r.prevKept, r.prevMissing = kept, ids
	slices.Sort(ids)
	return ids, prev, true, nil
}

// reconcile runs after a complete listing; it may read the listing again
// unsharded (through reread) or look users up by id.
func (r *tenantRun) reconcile(ctx context.Context, reread func(context.Context) error) error {
	if cs := r.tr.Stats(); len(r.plan) > 1 && cs.MovedBetweenShards > max(overlapFloor, cs.Users/10) {
		// Changes during a run move a few users; this many means the
		// shards overlap (a Graph that stopped applying the filter after
		// the first page): the sharded listing proves nothing.
		r.log.Warn("users were read in more than one shard, far more than changes during a run explain; reading the listing again unsharded",
			"moved_between_shards", cs.MovedBetweenShards, "users", cs.Users)
		if err := reread(ctx); err != nil {
			return err
		}
		r.rec.RereadUnsharded = true
		r.rec.Note = fmt.Sprintf("%d users were read in more than one shard: the shards overlapped, so the listing was read again unsharded", cs.MovedBetweenShards)
	}
	ids, prev, ok, err := r.missing(ctx)
	if err != nil {
		return fmt.Errorf("reading the previous snapshot to reconcile: %w", err)
	}
	if !ok {
		if r.rec.Note == "" {
			r.rec.Note = "no previous snapshot: users that moved between shards during the run cannot be checked"
			if r.o.History == nil {
				r.rec.Note = "no warehouse history given: users that moved between shards during the run cannot be checked"
			}
		}
		return nil
	}
	r.rec.PreviousSnapshot = prev.DateString()
	r.rec.Missing = int64(len(ids))
	if len(ids) == 0 || len(r.plan) == 1 {
		// An unsharded listing misses no one by a flip: the users it lacks
		// left the tenant.
		r.rec.Gone = r.rec.Missing
		return nil
	}
	if r.o.Endpoint != schemas.UserRegistrationDetails {
		r.rec.Unconfirmed = r.rec.Missing
		r.rec.Note = fmt.Sprintf("%s documents no lookup by id: %d users of the previous snapshot were not confirmed", r.o.Endpoint, len(ids))
		return nil
	}
	users := r.tr.Stats().Users
	size := int64(r.client.PageSize())
	if pages := (users + size - 1) / size; int64(len(ids)) > pages {
		r.log.Info("reading the listing again unsharded: cheaper than looking up the missing users",
			"missing", len(ids), "pages", pages)
		if err := reread(ctx); err != nil {
			return err
		}
		r.rec.RereadUnsharded = true
		ids, _, _, err = r.missing(ctx)
		if err != nil {
			return fmt.Errorf("reading the previous snapshot to reconcile: %w", err)
		}
		r.rec.Missing = int64(len(ids))
		r.rec.Gone = r.rec.Missing
		return nil
	}
	return r.lookUp(ctx, ids)
}

// lookUp asks Graph for each missing user by id, landing every answer.
func (r *tenantRun) lookUp(ctx context.Context, ids []string) error {
	limit := r.o.MaxLookups
	if limit == 0 {
		limit = DefaultMaxLookups
	}
	limit = max(limit, 0)
	for i, id := range ids {
		if i >= limit {
			r.rec.Unconfirmed += int64(len(ids) - i)
			r.rec.Note = fmt.Sprintf("%d missing users were not looked up (over the limit of %d lookups)", len(ids)-i, limit)
			break
		}
		lk, err := r.client.LookupUser(ctx, r.o.Endpoint, id)
		if errors.Is(err, extract.ErrBadUserID) {
			// An id Graph could not hold; ask for the others.
			r.rec.Unconfirmed++
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The check is for completeness, not a reason to lose the
			// night's snapshot: say what is unconfirmed.
			r.rec.Unconfirmed += int64(len(ids) - i)
			r.rec.Note = fmt.Sprintf("lookups stopped after %d of %d: %v", i, len(ids), err)
			r.log.Warn("could not look up the users missing from the listing", "looked_up", i, "missing", len(ids), "err", err)
			break
		}
		r.rec.Lookups++
		seq := r.seq.Add(1)
		if _, err := r.raw.LandLookup(ctx, seq, lk); err != nil {
			return err
		}
		if !lk.Found {
			r.rec.Gone++
			continue
		}
		if err := r.writeAll(ctx, r.sw, r.tr.AddShardPage(seq, lookupShard, lk.ReceivedAt, []odata.Record{lk.Record})); err != nil {
			return err
		}
		if r.tr.Loaded(id) {
			r.rec.Recovered++
		} else {
			// Found, but its record breaks the contract: it is in
			// rejected_records, not a user.
			r.rec.Unconfirmed++
		}
	}
	return nil
}

// overlapFloor is the fewest users read twice that can mean overlapping
// shards rather than changes during the run (see reconcile).
const overlapFloor = 100

// lookupShard names the records of per-id lookups in the transformer and
// the raw index.
const lookupShard = "lookup"

// finishReconcile fills the counts that need the final users.
func (r *tenantRun) finishReconcile() {
	cs := r.tr.Stats()
	r.rec.MovedBetweenShards = cs.MovedBetweenShards
	if r.rec.PreviousSnapshot == "" || cs.Users == 0 {
		return
	}
	// The previous users loaded: those loaded when the listing was
	// reconciled, and the missing ones recovered since.
	kept := r.prevKept
	for _, id := range r.prevMissing {
		if r.tr.Loaded(id) {
			kept++
		}
	}
	r.rec.NewUsers = cs.Users - kept
	if !r.rec.RereadUnsharded && len(r.plan) > 1 {
		e := float64(cs.MovedBetweenShards) * float64(r.rec.NewUsers) / float64(cs.Users)
		r.rec.EstimatedMissedNewUsers = math.Round(e*10) / 10
	}
}
