package transform

import (
	"fmt"
	"testing"
	"time"
)

// daysIn and daysSinceEpoch stand in for time.Date: they must agree with
// it on every day of the years around the calendar's turns (year 0, the
// century and 400-year leap rules, the epoch) and on the ends of every
// month of every year parseTimestamp reads.
func TestCalendarAgreesWithTime(t *testing.T) {
	check := func(y int, m time.Month, d int) {
		t.Helper()
		want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
		if d <= 0 || time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Day() != d {
			t.Fatalf("bad test date %04d-%02d-%02d", y, m, d)
		}
		if got := daysSinceEpoch(y, int(m), d); got != want {
			t.Fatalf("daysSinceEpoch(%04d-%02d-%02d) = %d, want %d", y, m, d, got, want)
		}
	}
	for y := range 10000 {
		for m := time.January; m <= time.December; m++ {
			want := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
			if got := daysIn(m, y); got != want {
				t.Fatalf("daysIn(%s, %d) = %d, want %d", m, y, got, want)
			}
			check(y, m, 1)
			check(y, m, want)
		}
	}
	for _, from := range []int{0, 96, 396, 1896, 1966, 1996, 2096, 2396, 9995} {
		for y := from; y < from+5; y++ {
			for m := time.January; m <= time.December; m++ {
				for d := 1; d <= daysIn(m, y); d++ {
					check(y, m, d)
				}
			}
		}
	}
}

// parseTimestamp computes the instant itself: it must be the very Time
// (==, not only Equal) that time.Date and Add make of the same parts,
// offsets and a leap second included, so that nothing downstream tells
// them apart.
func TestParseTimestampIsTimeDate(t *testing.T) {
	for _, c := range []struct {
		y, mo, d, h, mi, s, ns int
		off                    string
	}{
		{2024, 5, 6, 7, 8, 9, 123456700, "Z"}, {2024, 5, 6, 7, 8, 9, 0, "+02:00"}, {2016, 12, 31, 23, 59, 60, 0, "Z"},
		{1970, 1, 1, 0, 0, 0, 0, "Z"}, {1969, 12, 31, 23, 59, 59, 999999900, "Z"}, {0, 1, 1, 0, 0, 0, 0, "-23:59"},
		{0, 1, 1, 0, 0, 0, 100, "+23:59"}, {9999, 12, 31, 23, 59, 60, 999999900, "-23:59"}, {2000, 2, 29, 12, 0, 0, 0, "+05:30"},
		{1900, 3, 1, 0, 0, 0, 0, "-00:30"}, {2100, 2, 28, 23, 59, 59, 1000, "z"},
	} {
		s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%07d%s", c.y, c.mo, c.d, c.h, c.mi, c.s, c.ns/100, c.off)
		got, err := parseTimestamp(s)
		if err != nil {
			t.Fatalf("parseTimestamp(%q): %v", s, err)
		}
		off := 0
		if c.off != "Z" && c.off != "z" {
			var oh, om int
			fmt.Sscanf(c.off[1:], "%d:%d", &oh, &om)
			off = (oh*60 + om) * 60
			if c.off[0] == '-' {
				off = -off
			}
		}
		want := time.Date(c.y, time.Month(c.mo), c.d, c.h, c.mi, c.s, c.ns, time.UTC).Add(-time.Duration(off) * time.Second)
		if got != want {
			t.Fatalf("parseTimestamp(%q) = %#v, time.Date says %#v", s, got, want)
		}
	}
}
