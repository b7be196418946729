//! Schedule rules: grid, zones, windows, next opening, daylight saving.

use jiff::Timestamp;
use jiff::civil::date;
use proptest::prelude::*;
use reachkit_domain::schedule::{
    Day, DayChanges, DaySchedule, SUPPORTED_ZONES, Schedule, ScheduleChanges, ScheduleError,
    TimeError, TimeOfDay, Window, WindowInput, Zone,
};

fn t(s: &str) -> TimeOfDay {
    TimeOfDay::parse(s).unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Every day enabled, one window, in `zone`.
fn every_day(zone: &str, start: &str, end: &str) -> Schedule {
    Schedule::new(
        Zone::parse(zone).unwrap(),
        Window::new(t(start), t(end)).unwrap(),
        [DaySchedule::plain(true); 7],
    )
    .unwrap()
}

#[test]
fn times_parse_as_strict_hh_mm() {
    let ok = [
        ("00:00", 0),
        ("09:05", 545),
        ("23:59", 1439),
        ("12:30", 750),
    ];
    for (s, minutes) in ok {
        assert_eq!(
            TimeOfDay::parse(s).map(TimeOfDay::minutes),
            Ok(minutes),
            "{s}"
        );
        assert_eq!(TimeOfDay::parse(s).unwrap().to_string(), s);
    }
    let bad = [
        ("", TimeError::Format),
        ("9:00", TimeError::Format),
        ("09:0", TimeError::Format),
        ("0900", TimeError::Format),
        ("09-00", TimeError::Format),
        ("ab:cd", TimeError::Format),
        (" 09:00", TimeError::Format),
        ("09:00:00", TimeError::Format),
        ("+9:00", TimeError::Format),
        ("24:00", TimeError::Hour),
        ("99:00", TimeError::Hour),
        ("09:60", TimeError::Minute),
        ("09:99", TimeError::Minute),
    ];
    for (s, e) in bad {
        assert_eq!(TimeOfDay::parse(s), Err(e), "{s:?}");
    }
    assert_eq!(TimeError::Format.code(), "invalid_format");
    assert_eq!(TimeError::Hour.code(), "out_of_range");
    assert_eq!(TimeError::Minute.code(), "out_of_range");
}

#[test]
fn times_round_to_the_half_hour_grid() {
    let cases = [
        ("09:23", "09:30"),
        ("09:15", "09:30"),
        ("09:14", "09:00"),
        ("09:00", "09:00"),
        ("09:44", "09:30"),
        ("09:45", "10:00"),
        ("00:14", "00:00"),
        ("23:14", "23:00"),
        ("23:15", "23:30"),
        ("23:44", "23:30"),
        ("23:45", "23:30"),
        ("23:50", "23:30"),
        ("23:59", "23:30"),
    ];
    for (input, expected) in cases {
        assert_eq!(
            TimeOfDay::parse_on_grid(input).unwrap().to_string(),
            expected,
            "{input}"
        );
    }
}

proptest! {
    #[test]
    fn grid_rounding_is_idempotent_bounded_and_close(minutes in 0u16..1440) {
        let time = TimeOfDay::from_minutes(minutes).unwrap();
        let r = time.round_to_grid();
        prop_assert!(r.is_on_grid());
        prop_assert_eq!(r.round_to_grid(), r);
        prop_assert!(r <= TimeOfDay::MAX_GRID);
        let distance = i32::from(r.minutes()).abs_diff(i32::from(minutes));
        if minutes <= 23 * 60 + 45 {
            prop_assert!(distance <= 15, "{} -> {}", time, r);
        } else {
            prop_assert_eq!(r, TimeOfDay::MAX_GRID);
            prop_assert!(distance < 30);
        }
    }
}

#[test]
fn exactly_the_26_contract_zones_are_supported() {
    assert_eq!(SUPPORTED_ZONES.len(), 26);
    assert_eq!(Zone::all().count(), 26);
    for name in SUPPORTED_ZONES {
        let zone = Zone::parse(name).unwrap();
        assert_eq!(zone.name(), name);
        // Each one is in the bundled database (not silently UTC).
        assert!(jiff::tz::TimeZone::get(name).is_ok(), "{name}");
        assert_eq!(
            zone.time_zone().iana_name(),
            jiff::tz::TimeZone::get(name).unwrap().iana_name()
        );
    }
    assert_eq!(
        Zone::parse("america/new_york").unwrap().name(),
        "America/New_York"
    );
    for bad in [
        "UTC",
        "Europe/Kyiv",
        "America/Detroit",
        "EST",
        "",
        "+05:00",
        "America/New York",
    ] {
        assert!(Zone::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_default_schedule_is_new_york_nine_to_five_on_weekdays() {
    let s = Schedule::default();
    assert_eq!(s.zone().name(), "America/New_York");
    assert_eq!(s.default_window().start().to_string(), "09:00");
    assert_eq!(s.default_window().end().to_string(), "17:00");
    for day in Day::ALL {
        let weekend = matches!(day, Day::Saturday | Day::Sunday);
        assert_eq!(s.day(day).enabled, !weekend, "{day:?}");
        assert_eq!(s.day(day), DaySchedule::plain(!weekend));
    }
}

#[test]
fn windows_need_end_after_start() {
    assert!(Window::new(t("09:00"), t("09:30")).is_ok());
    for (a, b) in [("09:00", "09:00"), ("17:00", "09:00"), ("22:00", "02:00")] {
        assert_eq!(
            Window::new(t(a), t(b)),
            Err(ScheduleError::EndNotAfterStart {
                start: t(a),
                end: t(b)
            })
        );
    }
    assert_eq!(
        ScheduleError::EndNotAfterStart {
            start: t("09:00"),
            end: t("08:00")
        }
        .code(),
        "end_not_after_start"
    );
    // A day override that inverts the default window is refused, even on a disabled day.
    let days = {
        let mut d = [DaySchedule::plain(true); 7];
        d[6] = DaySchedule {
            enabled: false,
            start: Some(t("18:00")),
            end: None,
        };
        d
    };
    assert!(
        Schedule::new(
            Zone::NEW_YORK,
            Window::new(t("09:00"), t("17:00")).unwrap(),
            days
        )
        .is_err()
    );
}

#[test]
fn day_overrides_fall_back_to_the_default_window() {
    let mut days = [DaySchedule::plain(true); 7];
    days[0].start = Some(t("07:00"));
    days[1].end = Some(t("12:00"));
    days[2].enabled = false;
    let s = Schedule::new(
        Zone::NEW_YORK,
        Window::new(t("09:00"), t("17:00")).unwrap(),
        days,
    )
    .unwrap();
    let w = |d| {
        s.window_for(d)
            .map(|w| (w.start().to_string(), w.end().to_string()))
    };
    assert_eq!(w(Day::Monday), Some(("07:00".into(), "17:00".into())));
    assert_eq!(w(Day::Tuesday), Some(("09:00".into(), "12:00".into())));
    assert_eq!(w(Day::Wednesday), None);
    assert_eq!(w(Day::Thursday), Some(("09:00".into(), "17:00".into())));
}

#[test]
fn is_open_follows_the_window_in_local_time() {
    let s = Schedule::default(); // New York, Mon-Fri 09:00-17:00, EST = UTC-5 in January.
    let cases = [
        ("2026-01-05T13:59:59Z", false), // Monday 08:59:59
        ("2026-01-05T14:00:00Z", true),  // Monday 09:00 opens
        ("2026-01-05T21:59:59Z", true),  // Monday 16:59:59
        ("2026-01-05T22:00:00Z", false), // Monday 17:00 closes (end is exclusive)
        ("2026-01-10T15:00:00Z", false), // Saturday 10:00
        ("2026-01-12T04:00:00Z", false), // Sunday 23:00
    ];
    for (at, open) in cases {
        assert_eq!(s.is_open(ts(at)), open, "{at}");
    }
}

#[test]
fn next_opening_is_now_when_open_else_the_next_window() {
    let s = Schedule::default();
    let cases = [
        ("2026-01-05T15:00:00Z", "2026-01-05T15:00:00Z"), // open: now
        ("2026-01-05T10:00:00Z", "2026-01-05T14:00:00Z"), // Monday 05:00 -> 09:00
        ("2026-01-05T22:00:00Z", "2026-01-06T14:00:00Z"), // Monday 17:00 -> Tuesday
        ("2026-01-09T22:30:00Z", "2026-01-12T14:00:00Z"), // Friday evening -> Monday
        ("2026-01-10T12:00:00Z", "2026-01-12T14:00:00Z"), // Saturday -> Monday
    ];
    for (after, expected) in cases {
        assert_eq!(s.next_opening(ts(after)), Some(ts(expected)), "{after}");
    }
}

#[test]
fn next_opening_is_none_when_no_day_is_enabled() {
    let s = Schedule::new(
        Zone::NEW_YORK,
        Window::new(t("09:00"), t("17:00")).unwrap(),
        [DaySchedule::plain(false); 7],
    )
    .unwrap();
    assert_eq!(s.next_opening(ts("2026-01-05T15:00:00Z")), None);
    assert!(!s.is_open(ts("2026-01-05T15:00:00Z")));
}

#[test]
fn local_date_is_the_calendar_date_in_the_schedule_zone() {
    let s = Schedule::default();
    // 03:00 UTC on the 6th is still the 5th in New York.
    assert_eq!(s.local_date(ts("2026-01-06T03:00:00Z")), date(2026, 1, 5));
    assert_eq!(s.local_date(ts("2026-01-06T05:00:00Z")), date(2026, 1, 6));
    let tokyo = every_day("Asia/Tokyo", "09:00", "17:00");
    assert_eq!(
        tokyo.local_date(ts("2026-01-05T16:00:00Z")),
        date(2026, 1, 6)
    );
}

#[test]
fn spring_forward_gap_opens_at_the_first_instant_after_the_gap() {
    // 2026-03-08: New York clocks jump from 02:00 EST to 03:00 EDT (07:00 UTC).
    let s = every_day("America/New_York", "02:30", "05:00");
    assert_eq!(
        s.window_on(date(2026, 3, 8)),
        Some((ts("2026-03-08T07:00:00Z"), ts("2026-03-08T09:00:00Z")))
    );
    assert_eq!(
        s.next_opening(ts("2026-03-08T05:00:00Z")),
        Some(ts("2026-03-08T07:00:00Z"))
    );
    assert!(!s.is_open(ts("2026-03-08T06:59:59Z")));
    assert!(s.is_open(ts("2026-03-08T07:00:00Z")));
    // The day before and after are ordinary.
    assert_eq!(
        s.window_on(date(2026, 3, 7)).map(|w| w.0),
        Some(ts("2026-03-07T07:30:00Z"))
    );
    assert_eq!(
        s.window_on(date(2026, 3, 9)).map(|w| w.0),
        Some(ts("2026-03-09T06:30:00Z"))
    );
    // An ordinary 9-to-5 shifts by the offset change.
    let office = every_day("America/New_York", "09:00", "17:00");
    assert_eq!(
        office.window_on(date(2026, 3, 7)).map(|w| w.0),
        Some(ts("2026-03-07T14:00:00Z"))
    );
    assert_eq!(
        office.window_on(date(2026, 3, 8)).map(|w| w.0),
        Some(ts("2026-03-08T13:00:00Z"))
    );
    // A window wholly inside the gap is empty that day; the next opening is the next day's.
    let inside = every_day("America/New_York", "02:00", "02:30");
    assert_eq!(inside.window_on(date(2026, 3, 8)), None);
    assert_eq!(
        inside.next_opening(ts("2026-03-08T06:00:00Z")),
        Some(ts("2026-03-09T06:00:00Z"))
    );
}

#[test]
fn fall_back_fold_uses_the_earlier_instance() {
    // 2026-11-01: New York clocks go back from 02:00 EDT to 01:00 EST (06:00 UTC).
    let s = every_day("America/New_York", "01:30", "03:00");
    // Opens at the first 01:30 (EDT, 05:30 UTC), closes at 03:00 EST (08:00 UTC).
    assert_eq!(
        s.window_on(date(2026, 11, 1)),
        Some((ts("2026-11-01T05:30:00Z"), ts("2026-11-01T08:00:00Z")))
    );
    assert_eq!(
        s.next_opening(ts("2026-11-01T04:00:00Z")),
        Some(ts("2026-11-01T05:30:00Z"))
    );
    assert!(s.is_open(ts("2026-11-01T06:15:00Z"))); // the repeated 01:15 EST is inside
    // A window ending inside the fold closes at the earlier instance and does not reopen.
    let short = every_day("America/New_York", "00:30", "01:30");
    assert_eq!(
        short.window_on(date(2026, 11, 1)),
        Some((ts("2026-11-01T04:30:00Z"), ts("2026-11-01T05:30:00Z")))
    );
    assert!(!short.is_open(ts("2026-11-01T06:10:00Z"))); // 01:10 EST, second pass
    assert_eq!(
        short.next_opening(ts("2026-11-01T05:30:00Z")),
        Some(ts("2026-11-02T05:30:00Z"))
    );
}

#[test]
fn half_hour_offset_zones_are_exact() {
    // Kolkata is UTC+05:30 all year, Tehran UTC+03:30 (no DST since 2022).
    let kolkata = every_day("Asia/Kolkata", "09:00", "17:00");
    assert_eq!(
        kolkata.window_on(date(2026, 6, 1)),
        Some((ts("2026-06-01T03:30:00Z"), ts("2026-06-01T11:30:00Z")))
    );
    assert_eq!(
        kolkata.next_opening(ts("2026-06-01T03:29:00Z")),
        Some(ts("2026-06-01T03:30:00Z"))
    );
    assert!(!kolkata.is_open(ts("2026-06-01T11:30:00Z")));
    let tehran = every_day("Asia/Tehran", "09:00", "17:00");
    assert_eq!(
        tehran.window_on(date(2026, 6, 1)).map(|w| w.0),
        Some(ts("2026-06-01T05:30:00Z"))
    );
}

#[test]
fn southern_hemisphere_dst_is_handled() {
    // Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST; 2026-10-04 02:00 AEST -> 03:00 AEDT.
    let s = every_day("Australia/Sydney", "09:00", "17:00");
    assert_eq!(
        s.window_on(date(2026, 4, 4)).map(|w| w.0),
        Some(ts("2026-04-03T22:00:00Z"))
    );
    assert_eq!(
        s.window_on(date(2026, 4, 5)).map(|w| w.0),
        Some(ts("2026-04-04T23:00:00Z"))
    );
    let gap = every_day("Australia/Sydney", "02:30", "04:00");
    assert_eq!(
        gap.window_on(date(2026, 10, 4)).map(|w| w.0),
        Some(ts("2026-10-03T16:00:00Z"))
    );
}

#[test]
fn schedule_changes_apply_all_fields_with_rounding() {
    let changes = ScheduleChanges {
        timezone: Some("Europe/Paris".into()),
        default_window: Some(WindowInput {
            start: "08:23".into(),
            end: "18:10".into(),
        }),
        days: vec![
            (
                Day::Saturday,
                DayChanges {
                    enabled: Some(true),
                    start: Some(Some("10:00".into())),
                    end: Some(Some("13:44".into())),
                },
            ),
            (
                Day::Monday,
                DayChanges {
                    enabled: None,
                    start: Some(None),
                    end: None,
                },
            ),
        ],
    };
    let s = changes.apply(&Schedule::default()).unwrap();
    assert_eq!(s.zone().name(), "Europe/Paris");
    assert_eq!(s.default_window().start().to_string(), "08:30");
    assert_eq!(s.default_window().end().to_string(), "18:00");
    let sat = s.day(Day::Saturday);
    assert!(sat.enabled);
    assert_eq!(sat.end.map(|e| e.to_string()), Some("13:30".into()));
    assert_eq!(s.day(Day::Monday), DaySchedule::plain(true));
    assert_eq!(s.day(Day::Sunday), DaySchedule::plain(false));
}

#[test]
fn clearing_an_override_falls_back_to_the_default() {
    let set = ScheduleChanges {
        days: vec![(
            Day::Monday,
            DayChanges {
                start: Some(Some("07:00".into())),
                ..DayChanges::default()
            },
        )],
        ..ScheduleChanges::default()
    };
    let s = set.apply(&Schedule::default()).unwrap();
    assert_eq!(
        s.window_for(Day::Monday).unwrap().start().to_string(),
        "07:00"
    );
    let clear = ScheduleChanges {
        days: vec![(
            Day::Monday,
            DayChanges {
                start: Some(None),
                ..DayChanges::default()
            },
        )],
        ..ScheduleChanges::default()
    };
    let s = clear.apply(&s).unwrap();
    assert_eq!(s.day(Day::Monday).start, None);
    assert_eq!(
        s.window_for(Day::Monday).unwrap().start().to_string(),
        "09:00"
    );
}

#[test]
fn schedule_changes_report_every_bad_field_and_apply_nothing() {
    let changes = ScheduleChanges {
        timezone: Some("Mars/Olympus".into()),
        default_window: Some(WindowInput {
            start: "9am".into(),
            end: "25:00".into(),
        }),
        days: vec![(
            Day::Friday,
            DayChanges {
                enabled: Some(false),
                start: Some(Some("12:60".into())),
                end: None,
            },
        )],
    };
    let errors = changes.apply(&Schedule::default()).unwrap_err();
    let got: Vec<(&str, &str)> = errors
        .fields()
        .iter()
        .map(|e| (e.field.as_str(), e.code))
        .collect();
    assert_eq!(
        got,
        [
            ("timezone", "unsupported_timezone"),
            ("default_window.start", "invalid_format"),
            ("default_window.end", "out_of_range"),
            ("days.friday.start", "out_of_range"),
        ]
    );
}

#[test]
fn inverted_windows_are_refused_after_rounding() {
    let default_inverted = ScheduleChanges {
        default_window: Some(WindowInput {
            start: "17:00".into(),
            end: "09:00".into(),
        }),
        ..ScheduleChanges::default()
    };
    let e = default_inverted.apply(&Schedule::default()).unwrap_err();
    assert_eq!(
        (e.fields()[0].field.as_str(), e.fields()[0].code),
        ("default_window", "end_not_after_start")
    );
    // "09:10" and "09:14" both round to 09:00: an empty window.
    let collapsed = ScheduleChanges {
        days: vec![(
            Day::Tuesday,
            DayChanges {
                start: Some(Some("09:10".into())),
                end: Some(Some("09:14".into())),
                enabled: None,
            },
        )],
        ..ScheduleChanges::default()
    };
    let e = collapsed.apply(&Schedule::default()).unwrap_err();
    assert_eq!(
        (e.fields()[0].field.as_str(), e.fields()[0].code),
        ("days.tuesday", "end_not_after_start")
    );
    // A default window change that inverts an existing day override is refused on that day.
    let late = ScheduleChanges {
        days: vec![(
            Day::Sunday,
            DayChanges {
                start: Some(Some("16:00".into())),
                ..DayChanges::default()
            },
        )],
        ..ScheduleChanges::default()
    };
    let s = late.apply(&Schedule::default()).unwrap();
    let shorter = ScheduleChanges {
        default_window: Some(WindowInput {
            start: "08:00".into(),
            end: "12:00".into(),
        }),
        ..ScheduleChanges::default()
    };
    let e = shorter.apply(&s).unwrap_err();
    assert!(e.has("days.sunday"), "{e}");
}

fn arb_schedule() -> impl Strategy<Value = Schedule> {
    let day = (
        any::<bool>(),
        proptest::option::of(0u16..48),
        proptest::option::of(1u16..48),
    );
    (
        0usize..26,
        0u16..47,
        1u16..48,
        proptest::array::uniform7(day),
    )
        .prop_filter_map("valid windows", |(zone, a, b, days)| {
            let zone = Zone::parse(SUPPORTED_ZONES[zone]).ok()?;
            let g = |n: u16| TimeOfDay::from_minutes(n * 30);
            let default = Window::new(g(a)?, g(b)?).ok()?;
            let days = days.map(|(enabled, s, e)| DaySchedule {
                enabled,
                start: s.and_then(g),
                end: e.and_then(g),
            });
            Schedule::new(zone, default, days).ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn next_opening_is_open_and_nothing_earlier_is(
        schedule in arb_schedule(),
        // 2020-01-01 .. 2031-01-01, so DST transitions of every zone are crossed.
        seconds in 1_577_836_800i64..1_924_992_000,
    ) {
        let after = Timestamp::from_second(seconds).unwrap();
        match schedule.next_opening(after) {
            None => prop_assert!(!schedule.any_day_enabled()),
            Some(next) => {
                prop_assert!(next >= after);
                prop_assert!(schedule.is_open(next), "{next} not open");
                if schedule.is_open(after) {
                    prop_assert_eq!(next, after);
                }
                let gap = next.as_second() - after.as_second();
                // Sample every minute up to a day, then about 2000 evenly spaced instants.
                let step = (gap / 2000).max(60);
                let mut s = after.as_second();
                while s < next.as_second() {
                    let probe = Timestamp::from_second(s).unwrap();
                    prop_assert!(!schedule.is_open(probe), "{probe} open before {next}");
                    s += step;
                }
                let just_before = Timestamp::from_second(next.as_second() - 1).unwrap();
                prop_assert!(just_before < after || !schedule.is_open(just_before));
            }
        }
    }
}
