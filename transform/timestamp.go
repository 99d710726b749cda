package transform

import (
	"fmt"
	"time"
)

// maxFractionDigits is Graph's precision: lastUpdatedDateTime carries up to
// seven (100 ns ticks, .NET's DateTime).
const maxFractionDigits = 7

// parseTimestamp reads an RFC 3339 date-time, YYYY-MM-DDTHH:MM:SS with up
// to seven fraction digits and an explicit offset ("Z" or ±HH:MM), and
// returns it in UTC. It is stricter than time.Parse, which also takes a
// comma before the fraction, nine digits and a +24:00 offset.
func parseTimestamp(s string) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("%s is not an RFC 3339 timestamp like 2024-05-06T07:08:09.1234567Z: %s", quoteCut(s), why)
	}
	if len(s) < len("2006-01-02T15:04:05") {
		return bad("too short")
	}
	if s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return bad("wrong layout")
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return bad("a date or time part is not digits")
	}
	switch {
	case month < 1 || month > 12:
		return bad("month out of range")
	case day < 1 || day > daysIn(time.Month(month), year):
		return bad("day out of range")
	case hour > 23 || minute > 59 || sec > 60: // 60: a leap second
		return bad("time of day out of range")
	}
	rest := s[19:]
	nanos := 0
	if rest != "" && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		digits := n - 1
		switch {
		case digits == 0:
			return bad("no digits after '.'")
		case digits > maxFractionDigits:
			return bad(fmt.Sprintf("%d fraction digits, more than the %d Graph sends", digits, maxFractionDigits))
		}
		for i := 1; i < n; i++ {
			nanos = nanos*10 + int(rest[i]-'0')
		}
		for i := digits; i < 9; i++ {
			nanos *= 10
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return bad("offset out of range")
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	case rest == "":
		return bad("no time zone offset")
	default:
		return bad(fmt.Sprintf("unexpected %s after the seconds", quoteCut(rest)))
	}
	// What time.Date(...).Add(-offset) gives, without its normalizing:
	// every part is in range (a leap second, 60, counts into the next
	// minute, as time.Date counts it).
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nanos)).UTC(), nil
}

// daysSinceEpoch counts the days from 1970-01-01 to a valid date of the
// proleptic Gregorian calendar, year 0 to 9999 (Howard Hinnant's
// days_from_civil, with March the first month so that a leap day ends
// the year).
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	m := int64(month) + 9 // March is 0
	if m >= 12 {
		m -= 12
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// num reads a fixed-width run of decimal digits.
func num(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// quoteCut quotes a value for a message, cut to a readable length.
func quoteCut(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
