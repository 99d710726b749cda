// Package graphsim is a simulated Microsoft Entra tenant set speaking
// Microsoft Graph's HTTP protocol over TLS: an authority host that issues
// client-credentials tokens and a Graph host that serves the two credential
// registration reports credreg extracts. It runs in-process (credreg run
// --demo, end-to-end tests) or as a server (credreg simulate).
//
// New starts an HTTPS server on Options.Addr with a freshly generated ECDSA
// CA; URL is both the authority host and the Graph base URL, Client or
// CACertPEM make a client trust it. Users returns the ground truth a test
// compares a pipeline's output with; under Options.Churn, Tick and Truth
// return what each user was at the ticks (report requests) of a read.
//
// # Faithful
//
//   - Token: GET /{tenant}/v2.0/.well-known/openid-configuration with an
//     issuer on the host the client used (MSAL requires scheme and host:port
//     to match the authority), POST /{tenant}/oauth2/v2.0/token for
//     grant_type=client_credentials with client_secret (form or HTTP Basic)
//     or a client_assertion JWT, scope https://graph.microsoft.com/.default
//     (other scopes such as openid may come along), an optional claims
//     field. Errors are AAD-shaped ({"error":…,"error_description":"AADSTSnnnn: …"}):
//     unknown tenant 400 invalid_tenant (AADSTS90002), unknown client id 401
//     invalid_client (AADSTS700016), wrong secret 401 invalid_client
//     (AADSTS7000215). The real azidentity ClientSecretCredential and
//     ClientCertificateCredential get tokens from it when instance discovery
//     is disabled (with it enabled, MSAL asks login.microsoftonline.com).
//   - Reports: GET /v1.0/reports/authenticationMethods/userRegistrationDetails
//     and GET /beta/reports/credentialUserRegistrationDetails, for the tenant
//     the token was issued to, with the documented properties and $filter
//     forms, $top 1..999, @odata.nextLink paging with an opaque $skiptoken
//     (the link keeps the client's own query verbatim; context, next link
//     and value come in Graph's order), pages deliberately left empty with a
//     next link, 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant
//     for a tenant without P1/P2 on v1.0, and the documented throttling:
//     5 requests per 10 s per tenant and 122 per 10 s across tenants, 429
//     with Retry-After and a TooManyRequests body. Every Graph error is
//     {"error":{"code":…,"message":…,"innerError":{…}}} with Content-Type
//     application/json and request-id headers.
//   - One user: GET /v1.0/reports/authenticationMethods/userRegistrationDetails/{id}
//     answers the record as a listing serves it, with @odata.context
//     ".../$metadata#reports/authenticationMethods/userRegistrationDetails/$entity"
//     first, or 404 Request_ResourceNotFound ("Resource '<id>' does not
//     exist or one of its queried reference-property objects are not
//     present.") for an id the report does not hold at that moment. It has
//     a listing's bearer check, throttling, license check and faults, and
//     counts in Stats.Lookups. Report paths are literals in graphsim, not
//     schemas.Endpoint.Path, so a wrong path in the client fails against it.
//   - Graph's own aggregates of the v1.0 report:
//     GET /v1.0/reports/authenticationMethods/usersRegisteredByFeature(includedUserTypes='all',includedUserRoles='all')
//     answers {"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.userRegistrationFeatureSummary",
//     "totalUserCount":N,"userRegistrationFeatureCounts":[{"feature":"ssprRegistered","userCount":n},…],
//     "userRoles":"all","userTypes":"all"}, the features ssprRegistered,
//     ssprEnabled, ssprCapable, passwordlessCapable and mfaCapable in that
//     order, each counting the users with that report flag;
//     usersRegisteredByMethod(…) answers
//     "…#microsoft.graph.userRegistrationMethodSummary" with
//     "userRegistrationMethodCounts":[{"authenticationMethod":"alternateMobilePhone","userCount":n},…],
//     the users whose methodsRegistered holds each value. Both parameters
//     are required, single-quoted (or %27), includedUserTypes one of all,
//     member, guest and includedUserRoles one of all, privilegedAdmin,
//     admin, user; any other value, a missing, repeated or unknown
//     parameter is 400 badRequest naming it. They are report requests like
//     a page: bearer check, limits, license, faults, churn tick, counted
//     in Stats.Requests and Stats.Aggregates. totalUserCount counts the
//     users the per-user report holds at the request (Graph excludes
//     blocked accounts; graphsim serves none, so both populations are the
//     report's); injected defect records are not users and not counted.
//     The beta report has no aggregates (the catch-all 404).
//   - Data: users are a pure function of (Seed, tenant ID, UTC day), so the
//     same inputs give byte-identical pages (the next links differ only in
//     host:port). From one day to the next the tenant changes as a
//     directory does, in every way a change table between two snapshots
//     can see: users join (5 per 10,000 of Tenant.Users a day after the
//     anchor) and leave, deleted or disabled, so absent from the report,
//     the lookup (404) and the aggregates' counts (2 in 10,000 a day:
//     dozens a month in a 5,000-user tenant, the population still growing
//     net; a user who left never comes back under its id); members are
//     appointed admin and removed (about 0.3 a day each in 5,000 users,
//     some admins all along); users register methods, add more and now and
//     then remove some, and are made to re-register MFA ("require
//     re-register": every MFA method removed at once, most users
//     registering again within days or weeks, some never) — admins far more
//     often than others, so an admin loses MFA in most months of a few
//     thousand users. MFA registration rises year by year, and steeply
//     in an MFA rollout campaign that starts 30 days before the anchor
//     (Tenant.UsersOn; a tenant without it ran its campaign from December
//     2023): each day it reaches 0.6 % of the users it has not reached
//     yet, and each reached user who is not registered for MFA that day
//     registers one method (Authenticator push, phone or a passkey, by
//     their weights). A 5,000-user tenant so gains 3 to 4 points of MFA
//     share in the month before the anchor and in the month after, and
//     saturates near 93 % within two years: 15 % of members and 60 % of
//     guests never answer. Methods are drawn from the v1.0
//     vocabulary with realistic weights; about 0.2 % of users carry
//     "qrCodePin", a value the schemas catalog does not know; some users
//     have no method. The booleans follow the methods by graphsim's own
//     table of what each method counts for (methods.go, written from
//     Microsoft's documentation), which a test holds the client's schemas
//     catalog to.
//   - Order: Graph promises no order for these listings, and graphsim
//     serves none a client could rely on: each (tenant, day) has its own
//     permutation of the users (by a hash of tenant, day and id), not the
//     ids' order, another every day, so a client that merges or
//     deduplicates assuming sorted input fails. Within a day the order is
//     fixed, so skip tokens stay valid and the same request gives the same
//     page; a $filter shard serves its users in the same relative order.
//     Users and Truth return users sorted by id.
//   - Change during a read (Options.Churn): users change methods, appear
//     and disappear between the requests of one read, and a listing
//     serves each page as the data is at that request, filtered at that
//     request, walking the day's users in listing order (users created
//     during the read take their place in it). A user whose flag flips
//     between two shards' pages can be missed or listed twice, as on
//     Graph. The changed states are self-consistent (flags re-derived
//     from methods).
//
// # Simplified
//
//   - Access tokens are opaque HMAC-signed strings, not JWTs; they expire by
//     Options.Now, which a test may move (Clock) to expire a token that
//     azidentity still caches. RevokeTokens revokes every token issued so
//     far, of all tenants at once; the refusal is the same 401 as for an
//     expired token. Client assertion signatures are not verified (only iss
//     and sub must equal the client id). No ID tokens, refresh tokens, or
//     delegated flows; the claims field is accepted and ignored.
//   - Only HTTP/1.1 is served (Graph also speaks HTTP/2): the Reset and
//     Truncate faults hijack the connection.
//   - Throttling uses sliding windows on the real clock; a refused request
//     takes no slot. Only report requests are throttled.
//   - $orderby, $select, $count and other query options are ignored; only
//     "and" combines filter clauses, as the reports document.
//   - A listing serves the day it started on to its end, even across
//     midnight. Skip tokens do not expire; a tampered one, one for another
//     query or tenant, or one from a server with another Seed or Churn
//     answers 400 Directory_ExpiredPageToken.
//   - Churn runs on a clock of requests, not time: a tenant's tick counts
//     its report requests (pages and lookups, whatever their outcome)
//     since New, and a day's changes fall on its requests 2 to
//     Churn.Requests+1 counted from the first request that served that
//     day. Each changed user changes once (loses every MFA method, adds a
//     passwordless one, or registers for MFA); created users have no
//     methods yet; a user is changed or deleted, never both. Users still
//     returns the frozen day.
//   - Aggregates: graphsim has no directory roles, so privilegedAdmin is
//     a deterministic third of the admins (User.PrivilegedAdmin). The
//     method summary lists every value graphsim can serve in
//     methodsRegistered (its vocabulary, qrCodePin included), sorted by
//     name, those no user has with userCount 0, so its shape never
//     changes (Graph's documented example lists a fixed set too; which
//     values real Graph lists is not documented). They are counted on
//     Options.Now's day at the request's tick less Options.AggregateLag
//     (never before the day's start): Microsoft recomputes them on its own
//     schedule, unconfirmed, which the lag stands in for. Query options
//     are ignored; parameter names and values are case-sensitive, and
//     answers come without Options.Latency. Microsoft documents both
//     functions for delegated permissions only ("Application: Not
//     supported"); graphsim serves them to its app tokens unless
//     Options.AggregatesDelegatedOnly, which answers 403
//     Authorization_RequestDenied as an app may expect from real Graph.
//   - The lookup ignores query options and answers without
//     Options.Latency. The beta report documents no lookup: its {id} paths
//     get graphsim's catch-all 404 Request_ResourceNotFound (what Graph
//     answers there is not documented).
//   - The beta report is served although Microsoft stopped its data in
//     2024; its records are the v1.0 users in the beta vocabulary
//     (User.BetaAuthMethods, User.BetaFlags).
//   - Guests' UPNs have the #EXT# form; lastUpdatedDateTime is the last
//     registration change on or before the day (or the day the user joined),
//     at a hash-derived time of that day, so it can lie later than Now on
//     the day itself. An admin appointment or removal does not move it.
//   - Day-to-day change happens at midnight UTC, all of a day's at once;
//     within a day only Churn changes anything. Users, appointments,
//     resets and the campaign's reach are drawn per user (a constant
//     daily rate), not from any
//     real tenant's statistics. The population is Tenant.Users on the
//     anchor day (Tenant.UsersOn, else 2024-01-01); in the 400 days
//     before it users already join and leave (fewer users than
//     Tenant.Users then), before those it is flat. Deleted and disabled
//     users are not told apart: both are simply gone from the report.
//     Guests are never admins.
//
// # Faults
//
// Options.Faults (or SetFaults at run time) inject, per report request: an
// extra 429, a 503 (half of them with Retry-After), a reset connection
// after the headers and half the body, a body shorter than its
// Content-Length (half of them carrying the complete JSON document), or a
// 401 for a valid token. The 429 and 401 faults come before the limits and
// take no slot; the others count as served requests. Intercept lets a test
// answer any report request itself.
//
// Each request's fault, its variant and its latency are a pure function of
// (Seed, tenant, request target — path and query exactly as sent —, how
// many times the tenant asked for that target before), not of the order
// requests arrive in: a client that runs shards concurrently meets the
// same faults in every run, and a retry draws afresh.
//
// Options.Latency makes every page served with 200 wait that long, ±20 %,
// before its body is written, as Graph takes seconds to build a page of
// these reports. The limits count the request on arrival; a client that
// leaves ends the wait.
//
// Tenant.Defects inject records that break credreg's data contract, each
// in addition to the users and right after the record of one user, in
// every listing (whole or $filter shard) that holds that user; DefectKind
// values are the reason codes credreg gives them, and Stats.Defects counts
// those served. Both reports serve them; the beta report, which has no
// timestamp, serves DefectBadTimestamp as a wrong_type. The damage kinds
// (DamageUnclosedString, DamageMissingBracket) break the page the way
// real truncation or a serializer bug does, not salvageably: a client's
// tolerant split fails on the whole page ("ends inside the value array")
// and, since the same bytes come back every time, must take the page as
// persistently broken.
//
// Tenant.Withhold leaves user records out of one page of a v1.0 listing
// (the unfiltered one, or the shard of one exact $filter) silently: the
// page is well formed, its next link goes on as it would have, so a client
// cannot tell; only a count it did not compute itself (the aggregates)
// can. The same records are left out every time the page is served.
// Stats.Withheld counts the records left out, Server.Withheld names the
// users, so a test knows exactly what a client should have missed.
//
// Stats.EarlyRetries counts requests for a target that came again before
// the Retry-After of its last 429 or 503 had passed, so a test can tell a
// client that honours Retry-After from one that does not (real Graph
// would throttle them; graphsim only counts them).
//
// Secrets (client secrets, tokens) never appear in logs or responses.
package graphsim
