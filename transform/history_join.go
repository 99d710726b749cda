package transform

// Join compares a spilled previous snapshot (see Previous) with the new
// snapshot's users, one partition at a time, once every user is in and
// Gone has had the previous users' names; it calls emit with each full
// batch of change rows. With a previous snapshot in memory, or none, it
// does nothing: the rows came from the Transformer and Gone. Call it once
// per pass, before Finish (which panics without it).
//
// errors.Is(err, ErrSpill) when the local files fail. Every write to them
// (a full disk, a folder gone) is found before the first batch is emitted:
// Join then emits nothing and holds no rows, so the caller can publish the
// snapshot without its changes. Only a file that cannot be read back fails
// after rows were emitted; the change rows held are dropped either way.
func (h *History) Join(emit func(Batch) error) (err error) {
	p := h.o.Previous
	if h.joined || !h.Compared() || p.spill == nil {
		h.joined = true
		return nil
	}
	h.joined = true
	defer func() {
		if err != nil && h.rows > 0 {
			h.cut().Record.Release()
		}
	}()
	if err := p.spill.flushAll(); err != nil {
		return err
	}
	var out []Batch
	send := func() error {
		for i, b := range out {
			if err := emit(b); err != nil {
				for _, rest := range out[i+1:] {
					rest.Record.Release()
				}
				return err
			}
		}
		out = out[:0]
		return nil
	}
	for k := range spillPartitions {
		set, err := p.spill.load(k)
		if err != nil {
			return err
		}
		err = p.spill.read(&p.spill.cur[k], func(r *spillRecord) error {
			if r.kind == recGone {
				out = h.gone(out, set, r.id, r.upn)
			} else {
				out = h.compare(out, set, r.id, r.upn, r.flags, r.methods, r.extra)
			}
			return send()
		})
		if err != nil {
			return err
		}
	}
	return nil
}
