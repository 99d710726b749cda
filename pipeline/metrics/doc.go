// Package metrics turns what a credreg command did into Prometheus
// metrics, and reads from the warehouse what an operator must see of
// nights gone by: each tenant's last published slice, the days missed
// since, and the last failure (see [ReadStatus]).
//
// A [Set] is filled from a run's manifests (published ones, and the ones
// a failed run keeps under _failed for inspection) and from the
// warehouse's newest published manifest per tenant, so a failing run still
// reports the time of the last success. It has its own registry, never
// the process-wide default one, and is written as Prometheus text for
// node_exporter's textfile collector ([Set.WriteFile], atomic) or pushed
// to a Pushgateway ([Set.Push]).
//
// The metrics describe the last command, not a process that lives on:
// a *_total counter counts that command's requests, and the next command
// replaces the file (or the Pushgateway group). Names: see [Names].
//
// Errors wrap the warehouse's (errors.Is(err, load.ErrNotFound) and so on)
// or the Pushgateway's answer; no error carries a credential.
package metrics
