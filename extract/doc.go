// Package extract reads a Microsoft Graph registration report page by page.
//
// A Client talks to one Graph host for one tenant. FetchPage performs one
// page request; a Pager hides the @odata.nextLink chain, retrying each page
// from the last good link. LookupUser reads one user's record by id (v1.0
// only) through the same throttle, token and retries; a user the report
// does not hold is an answer (Found false), not an error. Every request first waits on the shared Throttle,
// which keeps the process under Graph's documented limits for identity and
// access reports (5 requests per 10 s per tenant, 122 per 10 s per app) and
// pauses a tenant for everyone when Graph answers 429 with Retry-After.
//
// Errors are classified once, where the response is read (see Class):
// throttled and transient failures are retried with jittered exponential
// backoff honouring Retry-After; a 401 refreshes the token once; anything
// else is permanent and returned as *GraphError, *ForeignHostError or
// *PageError, each wrapping a sentinel to test with errors.Is. A 400
// (ErrBadRequest) or 404 (ErrNotFound) on a listing will not fix itself.
// A body larger than ClientOptions.MaxBodyBytes is a transport fault
// (ErrBodyTooLarge), retried like a reset connection. The bearer
// token is only ever sent to the configured Graph host: a next link that
// points elsewhere stops the pager with *ForeignHostError. Tokens never
// appear in errors or logs.
//
// RawZone lands every page and lookup exactly as received (gzip-compressed)
// in a blob bucket before the caller transforms it, so a snapshot can be
// replayed: ListRawRuns finds a day's runs, ReadRawIndex and ReadRawPage
// read one back.
package extract
