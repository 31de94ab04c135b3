//! A business calendar definition (JSON), then business time and deadlines
//! across DST changes: business time is additive over adjacent spans, and
//! the deadline of a span's business time is the first instant reaching it.
#![no_main]

use itsm_core::Timestamp;
use itsm_core::calendar::Calendar;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = itsm_fuzz::text(data) else { return };
    let Some(calendar) = itsm_fuzz::parse::<Calendar>("calendar", text) else { return };
    let _ = calendar.week_business_time();
    // Across the 2026 spring and autumn DST changes of Europe and North America.
    let (a, b, c) = (at("2026-03-06T10:17:00Z"), at("2026-03-30T00:30:00Z"), at("2026-11-03T23:59:59Z"));
    let (Ok(ab), Ok(bc), Ok(ac)) =
        (calendar.business_time(a, b), calendar.business_time(b, c), calendar.business_time(a, c))
    else {
        panic!("business time inside the supported range refused")
    };
    assert_eq!(ab.as_secs() + bc.as_secs(), ac.as_secs(), "business time is not additive: {calendar:?}");
    for (from, to, span) in [(a, b, ab), (b, c, bc)] {
        let Ok(deadline) = calendar.deadline_after(from, span) else { panic!("deadline of an accrued span refused") };
        assert!(deadline <= to, "deadline {deadline} after {to} for {span:?}: {calendar:?}");
        assert_eq!(calendar.business_time(from, deadline).ok(), Some(span), "deadline {deadline} misses {span:?}");
    }
});
