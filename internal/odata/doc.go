// Package odata splits one page of a Microsoft Graph collection response
// (an OData JSON object with a value array and an optional
// @odata.nextLink) into its records, tolerating records that are not valid
// JSON.
//
// Split never copies: every Record.Raw is a sub-slice of the body, so a
// caller that keeps a record past the life of the body copies it.
//
// # Strict and tolerant paths
//
// A body that is valid JSON is split by a fast path and every record's Err is
// nil. Any other body is walked by a tolerant scanner: the top-level object
// must still be well formed (property names are JSON strings, followed by a
// colon, separated by commas), but the elements of value are split at
// depth-0 commas by tracking strings and bracket depth only, and each element
// is then checked on its own. An element that is not valid JSON gets a
// Record.Err wrapping ErrInvalidRecordJSON and the rest of the page stays
// usable; such a page has Salvaged set. Values of other properties are
// skipped by span, whatever they hold.
//
// Property names are matched exactly (after JSON unquoting), and when a name
// repeats the last occurrence wins, as with encoding/json decoding into a
// map. An element of value that is empty (as in "[1,,2]" or "[1,]") is a
// record with an Err, so that nothing between two commas vanishes unseen.
//
// # Errors
//
// Split returns a *SyntaxError, whose Offset is a byte offset in the body and
// whose Unwrap is one of the sentinels:
//
//   - ErrTruncated: the body ends before the top-level object closes,
//     including an empty body and junk inside value that never closes. This
//     is how a truncated HTTP body shows up; fetching the page again may help.
//   - ErrNotJSON: the body does not start with '{', the top-level object is
//     malformed, data follows it, or value is neither an array nor null.
//   - ErrNoValue: there is no value property, or it is null.
//   - ErrBadNextLink: @odata.nextLink is present and neither a string nor
//     null (null means the same as absent: the last page).
//
// A record's own error (Record.Err) is a *SyntaxError wrapping
// ErrInvalidRecordJSON; it never makes Split fail.
//
// # Splitting without checking
//
// SplitUnchecked and SplitRead give Split's records, links and errors for
// every body without checking the records: each is marked Unchecked for
// its reader to check (CheckRecord gives the Err Split would have set), or,
// with SplitRead, read by the caller's ElementReader, which cuts the
// elements it reads and vouches that they are valid JSON. A reader that
// walks every record anyway (transform's Decoder.ReadPage) so walks a
// page's records once instead of twice; Salvaged is then not known.
//
// Entity checks a single-entity body (a lookup by id) and returns it as one
// record; it salvages nothing and fails with the same *SyntaxError.
//
// Valid is the JSON check Split uses, exported so that a consumer checking
// single records gets the same verdict at the same speed.
//
// # One cursor
//
// Cursor is credreg's one walker of outside JSON: Split's validator and
// both its paths, transform's decoder (through Container, over records
// Split or Valid already checked) and extract's import of saved exports
// move with it, so that a string, a bracket or an escape is delimited the
// same way everywhere. The tolerant rule that cuts a value array into
// elements is ElementSplitter, a byte at a time: the scanner splits with
// it, and so does extract's import, which streams files of any size where
// Cursor needs the bytes in memory.
package odata
