// Package transform turns the records of Graph report pages into Arrow
// record batches of credreg's three tables: user_registration_details (one
// row per user), user_auth_methods (one row per user and registered method)
// and rejected_records (quarantine).
//
// # The data contract
//
// DecodeRecord checks one record of either report against what credreg
// accepts. It is tolerant in what it accepts and strict about types:
// unknown properties, unknown method values and "" strings load, and JSON
// null for an optional property is the same as its absence (NULL in the
// table); but a known property of the wrong JSON type rejects the record,
// because a report that changed shape must be seen, not guessed at.
//
// Property names are matched exactly, as Graph spells them. OData
// annotations (names holding '@', as "@odata.type" or "id@odata.type") are
// neither fields nor unknown fields. When a name repeats, the last one wins.
// methodsRegistered (v1.0) and authMethods (beta) keep the values as sent,
// in order, without repeats; null means no methods. default_mfa_method is
// userPreferredMethodForSecondaryAuthentication, or, when that is absent or
// "", defaultMfaMethod (an extra of the beta version of the v1.0 report); ""
// is NULL; both are type-checked, whichever is used. lastUpdatedDateTime is
// RFC 3339 with an explicit offset and at most seven fraction digits; "" is
// NULL.
//
// # One table of fields
//
// The properties the decoder knows, their names in each report, their
// kinds (string, boolean, method list, string list, timestamp), which are
// required and their documented values all come from schemas.UserFields,
// the table the user_registration_details schemas are derived from; the
// checks run in the order of the reason codes below, kind by kind
// (strings, booleans, method lists, string lists, timestamps), in table
// order within a kind. Adding a field takes seven edits, five of them
// one line: the table entry (schemas/fields.go), UserRow's field and its
// line in UserRow.Append (schemas/rows.go), Record's field and its lines
// in record.go (decoded.record, userRow) and fields.go (its field
// variable); then schemas.Version is bumped and the golden file
// refreshed. graphsim, the independent check of the table, learns the
// property in its own words.
//
// # Drift
//
// Graph's enums are evolvable, so values nobody documented yet load as
// sent, flagged and counted rather than rejected: method values the catalog
// (schemas.LookupMethod) does not know get is_known_value false and count
// in Stats.UnknownMethods; undocumented values of the enum-like strings
// userType (member, guest), userPreferredMethodForSecondaryAuthentication
// and systemPreferredAuthenticationMethods (push, oath, voiceMobile,
// voiceAlternateMobile, voiceOffice, sms, none) and defaultMfaMethod (none,
// mobilePhone, alternateMobilePhone, officePhone, microsoftAuthenticatorPush,
// softwareOneTimePasscode) are listed in Record.UnknownValues and count in
// Stats.UnknownValues as "property=value"; unknown properties count in
// Stats.UnknownFields. Values are matched exactly; unknownFutureValue is
// known, and "" is no value.
//
// # Reason codes
//
// A record that breaks the contract becomes a row of rejected_records, never
// a crash and never a silent drop. Its reason_code is one of these stable
// strings (the Reason constants), checked in this order:
//
//   - invalid_json: the element is not valid JSON (odata.Record.Err is set,
//     or DecodeRecord was given bytes that do not parse). user_id is still
//     filled when a top-level "id" string can be read.
//   - null_record: the element is JSON null.
//   - not_an_object: the element is a string, number, array or boolean.
//   - missing_id: id is absent, null or "".
//   - malformed_id: id is not a string, holds whitespace or a control
//     character, or is longer than 256 bytes. It need not be a GUID: the
//     documentation's example id is "id-value".
//   - missing_user_principal_name: userPrincipalName is absent, null or "".
//   - wrong_type: a known property has the wrong JSON type: authMethods as
//     an object, a boolean as "yes", a method that is not a string. The
//     detail names the property, the type wanted and the type found.
//   - bad_timestamp: lastUpdatedDateTime is a string that does not parse.
//   - duplicate_id: the id was already loaded in this snapshot; the first
//     occurrence is kept. Only a Transformer reports it.
//
// DecodeRecord returns a *RecordError carrying the code, the property, a
// detail for people, the id when it could be read, and the code's sentinel
// (ErrInvalidJSON, …) for errors.Is.
//
// # Transformer
//
// A Transformer serves one snapshot of one tenant and endpoint. AddPage
// decodes a page's records, explodes the methods (classified by
// schemas.LookupMethod; unknown values load with is_known_value false and
// are counted), and returns the batches that filled up; Finish returns the
// rest. Every record in is a user row or a reject row, so Stats' RecordsIn
// always equals Users + Rejected. raw_json holds the record's bytes, with
// invalid UTF-8 replaced and cut at MaxRawJSON (1 MiB); reason_detail says
// when either happened, and the raw zone keeps the exact page.
//
// Memory: batches are bounded by Options.BatchRows; the set of loaded ids,
// needed to reject duplicates, is held in memory up to
// Options.SeenInMemory ids and spilled to local files past it.
//
// # Temporary files
//
// Two things spill to local files once a tenant is large: the
// Transformer's loaded ids (past Options.SeenInMemory) and a History's
// comparison with a previous snapshot (past Previous.InMemory users). Both
// write under os.TempDir() ($TMPDIR, /tmp by default), about 300 bytes per
// user together at the peak, and remove their files when released. A
// deployment gives that folder room (see deploy/); where /tmp is in memory
// the files count against the memory limit, so point $TMPDIR at a disk.
//
// Their failures (a full disk, a folder gone) are reported, never turned
// into wrong rows, and each error names the folder:
//
//   - the Transformer keeps the first in Err, which the caller checks after
//     Finish, after a second pass and before publishing: a Transformer
//     with Err set must not be published;
//   - Previous.AddUsers and AddMethods, and History.Join, return an error
//     wrapping ErrSpill (errors.Is). Join finds every write failure before
//     its first batch, so a caller that gets ErrSpill from Join with no
//     batch emitted can publish the snapshot without its changes (the
//     pipeline does); after a batch, only a file that could not be read
//     back fails.
package transform
