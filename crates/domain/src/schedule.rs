//! Sending schedules: the 30-minute grid, the supported time zones, per-day windows and the
//! instant arithmetic ("is the window open at t", "when does it next open after t").
//!
//! # Window semantics
//! - A window is `[start, end)` in the schedule's local wall-clock time: open at `start`, closed
//!   from `end` on. `start < end` is required (after rounding to the grid); overnight windows
//!   (end <= start) are refused with [`ScheduleError::EndNotAfterStart`].
//! - Each day uses its own `start`/`end` when set, the default window otherwise; a disabled day
//!   has no window at all.
//! - Daylight saving: a local time that does not exist (spring-forward gap) means the first
//!   instant after the gap; a local time that exists twice (fall-back fold) means the earlier
//!   instance. So a window is always one contiguous range of instants, never reopened by a fold,
//!   and a window lying wholly inside a gap is empty that day.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::validation::{FieldError, ValidationErrors};

/// Minutes in a day.
const DAY_MINUTES: u16 = 24 * 60;
/// The grid step, in minutes.
pub const GRID_MINUTES: u16 = 30;

/// A wall-clock time of day with minute precision, `00:00` to `23:59`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

/// Why a string is not a `"HH:MM"` time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not two digits, a colon and two digits.
    #[error("must be a 24-hour time \"HH:MM\"")]
    Format,
    /// Hour above 23.
    #[error("hour must be between 00 and 23")]
    Hour,
    /// Minute above 59.
    #[error("minute must be between 00 and 59")]
    Minute,
}

impl TimeError {
    /// Stable code: `invalid_format` or `out_of_range`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Format => "invalid_format",
            Self::Hour | Self::Minute => "out_of_range",
        }
    }
}

impl TimeOfDay {
    /// Midnight.
    pub const MIDNIGHT: Self = Self(0);
    /// The latest time on the grid, `23:30`.
    pub const MAX_GRID: Self = Self(DAY_MINUTES - GRID_MINUTES);

    /// A time from hour and minute, if valid.
    #[must_use]
    pub const fn new(hour: u8, minute: u8) -> Option<Self> {
        if hour < 24 && minute < 60 {
            Some(Self(hour as u16 * 60 + minute as u16))
        } else {
            None
        }
    }

    /// A time from minutes since midnight, if below 1440.
    #[must_use]
    pub const fn from_minutes(minutes: u16) -> Option<Self> {
        if minutes < DAY_MINUTES {
            Some(Self(minutes))
        } else {
            None
        }
    }

    /// Parses exactly `"HH:MM"` (24-hour, two digits each), without rounding.
    ///
    /// # Errors
    /// [`TimeError::Format`], [`TimeError::Hour`] or [`TimeError::Minute`].
    pub fn parse(input: &str) -> Result<Self, TimeError> {
        let b = input.as_bytes();
        let digit = |i: usize| b[i].is_ascii_digit().then(|| b[i] - b'0');
        if b.len() != 5 || b[2] != b':' {
            return Err(TimeError::Format);
        }
        let (Some(h1), Some(h2), Some(m1), Some(m2)) = (digit(0), digit(1), digit(3), digit(4))
        else {
            return Err(TimeError::Format);
        };
        let (hour, minute) = (h1 * 10 + h2, m1 * 10 + m2);
        if hour > 23 {
            return Err(TimeError::Hour);
        }
        Self::new(hour, minute).ok_or(TimeError::Minute)
    }

    /// Parses `"HH:MM"` and rounds it to the grid, as the API stores schedule times.
    ///
    /// # Errors
    /// As [`TimeOfDay::parse`].
    pub fn parse_on_grid(input: &str) -> Result<Self, TimeError> {
        Self::parse(input).map(Self::round_to_grid)
    }

    /// Rounds to the nearest `:00` or `:30`, ties rounding up, never past `23:30`.
    ///
    /// Every result is within 15 minutes of the input, except inputs after 23:45, which clamp to
    /// 23:30 (at most 29 minutes away).
    #[must_use]
    pub const fn round_to_grid(self) -> Self {
        let rounded = (self.0 + GRID_MINUTES / 2) / GRID_MINUTES * GRID_MINUTES;
        if rounded > Self::MAX_GRID.0 {
            Self::MAX_GRID
        } else {
            Self(rounded)
        }
    }

    /// Whether the time lies on the 30-minute grid.
    #[must_use]
    pub const fn is_on_grid(self) -> bool {
        self.0.is_multiple_of(GRID_MINUTES)
    }

    /// Minutes since midnight.
    #[must_use]
    pub const fn minutes(self) -> u16 {
        self.0
    }

    /// The hour, 0-23.
    #[must_use]
    pub const fn hour(self) -> u8 {
        (self.0 / 60) as u8
    }

    /// The minute, 0-59.
    #[must_use]
    pub const fn minute(self) -> u8 {
        (self.0 % 60) as u8
    }

    fn on(self, date: Date) -> DateTime {
        date.at(self.hour() as i8, self.minute() as i8, 0, 0)
    }
}

impl fmt::Display for TimeOfDay {
    /// `"HH:MM"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl fmt::Debug for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeOfDay({self})")
    }
}

/// The 26 IANA zone names the contract supports, in the contract's order.
pub const SUPPORTED_ZONES: [&str; 26] = [
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Vancouver",
    "America/Phoenix",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Toronto",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Kiev",
    "Europe/Moscow",
    "Asia/Tehran",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];

/// One of the [`SUPPORTED_ZONES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Zone(u8);

/// A zone name outside [`SUPPORTED_ZONES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported time zone {0:?}")]
pub struct UnsupportedZone(pub String);

impl Zone {
    /// `America/New_York`, the default of new campaigns.
    pub const NEW_YORK: Self = Self(7);

    /// Accepts a supported zone name, case-insensitively; the canonical spelling is kept.
    ///
    /// # Errors
    /// [`UnsupportedZone`] for any other name (including IANA aliases such as `Europe/Kyiv`).
    pub fn parse(name: &str) -> Result<Self, UnsupportedZone> {
        SUPPORTED_ZONES
            .iter()
            .position(|z| z.eq_ignore_ascii_case(name))
            .and_then(|i| u8::try_from(i).ok())
            .map(Self)
            .ok_or_else(|| UnsupportedZone(name.to_owned()))
    }

    /// Every supported zone.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..SUPPORTED_ZONES.len()).filter_map(|i| u8::try_from(i).ok().map(Self))
    }

    /// The canonical IANA name.
    #[must_use]
    pub fn name(self) -> &'static str {
        SUPPORTED_ZONES[usize::from(self.0)]
    }

    /// The zone's rules, from the time zone database bundled into the binary.
    #[must_use]
    pub fn time_zone(self) -> TimeZone {
        // Every supported name is in the bundled database (a test checks all 26); UTC is only a
        // defensive fallback that no supported zone reaches.
        TimeZone::get(self.name()).unwrap_or(TimeZone::UTC)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A day of the week, spelled as the contract's `days` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Day {
    /// `monday`
    Monday,
    /// `tuesday`
    Tuesday,
    /// `wednesday`
    Wednesday,
    /// `thursday`
    Thursday,
    /// `friday`
    Friday,
    /// `saturday`
    Saturday,
    /// `sunday`
    Sunday,
}

impl Day {
    /// Monday to Sunday.
    pub const ALL: [Self; 7] = [
        Self::Monday,
        Self::Tuesday,
        Self::Wednesday,
        Self::Thursday,
        Self::Friday,
        Self::Saturday,
        Self::Sunday,
    ];

    /// `monday` ... `sunday`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Monday => "monday",
            Self::Tuesday => "tuesday",
            Self::Wednesday => "wednesday",
            Self::Thursday => "thursday",
            Self::Friday => "friday",
            Self::Saturday => "saturday",
            Self::Sunday => "sunday",
        }
    }

    /// Parses `monday` ... `sunday` (lower case).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The day of a jiff weekday.
    #[must_use]
    pub const fn from_weekday(w: Weekday) -> Self {
        match w {
            Weekday::Monday => Self::Monday,
            Weekday::Tuesday => Self::Tuesday,
            Weekday::Wednesday => Self::Wednesday,
            Weekday::Thursday => Self::Thursday,
            Weekday::Friday => Self::Friday,
            Weekday::Saturday => Self::Saturday,
            Weekday::Sunday => Self::Sunday,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A daily sending window `[start, end)`, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: TimeOfDay,
    end: TimeOfDay,
}

impl Window {
    /// A window; `end` must be after `start`.
    ///
    /// # Errors
    /// [`ScheduleError::EndNotAfterStart`].
    pub fn new(start: TimeOfDay, end: TimeOfDay) -> Result<Self, ScheduleError> {
        if start < end {
            Ok(Self { start, end })
        } else {
            Err(ScheduleError::EndNotAfterStart { start, end })
        }
    }

    /// Opening time.
    #[must_use]
    pub const fn start(self) -> TimeOfDay {
        self.start
    }

    /// Closing time (exclusive).
    #[must_use]
    pub const fn end(self) -> TimeOfDay {
        self.end
    }
}

/// Why a schedule is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A window whose end is not after its start (overnight windows are not supported).
    #[error("window end {end} must be after its start {start}")]
    EndNotAfterStart {
        /// The start.
        start: TimeOfDay,
        /// The end.
        end: TimeOfDay,
    },
}

impl ScheduleError {
    /// Stable code: `end_not_after_start`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::EndNotAfterStart { .. } => "end_not_after_start",
        }
    }
}

/// One weekday's settings: enabled, and optional overrides of the default window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySchedule {
    /// Whether anything is sent on this day.
    pub enabled: bool,
    /// Overrides the default start; `None` falls back to it.
    pub start: Option<TimeOfDay>,
    /// Overrides the default end; `None` falls back to it.
    pub end: Option<TimeOfDay>,
}

impl DaySchedule {
    /// Enabled or not, without overrides.
    #[must_use]
    pub const fn plain(enabled: bool) -> Self {
        Self {
            enabled,
            start: None,
            end: None,
        }
    }
}

/// A campaign's sending schedule.
///
/// Invariant: every day's effective window (its overrides over the default window, whether the
/// day is enabled or not) has `start < end`, so enabling a day never yields an invalid window.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: Zone,
    tz: TimeZone,
    default_window: Window,
    days: [DaySchedule; 7],
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.zone == other.zone
            && self.default_window == other.default_window
            && self.days == other.days
    }
}

impl Eq for Schedule {}

impl Default for Schedule {
    /// America/New_York, 09:00-17:00, Monday to Friday.
    fn default() -> Self {
        let weekday = DaySchedule::plain(true);
        let weekend = DaySchedule::plain(false);
        Self {
            zone: Zone::NEW_YORK,
            tz: Zone::NEW_YORK.time_zone(),
            default_window: Window {
                start: TimeOfDay(9 * 60),
                end: TimeOfDay(17 * 60),
            },
            days: [
                weekday, weekday, weekday, weekday, weekday, weekend, weekend,
            ],
        }
    }
}

impl Schedule {
    /// A schedule; `days` is Monday to Sunday.
    ///
    /// # Errors
    /// [`ScheduleError::EndNotAfterStart`] when a day's effective window is empty or inverted.
    pub fn new(
        zone: Zone,
        default_window: Window,
        days: [DaySchedule; 7],
    ) -> Result<Self, ScheduleError> {
        for d in &days {
            Window::new(
                d.start.unwrap_or(default_window.start),
                d.end.unwrap_or(default_window.end),
            )?;
        }
        Ok(Self {
            zone,
            tz: zone.time_zone(),
            default_window,
            days,
        })
    }

    /// The zone.
    #[must_use]
    pub const fn zone(&self) -> Zone {
        self.zone
    }

    /// The zone's rules.
    #[must_use]
    pub const fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The default window.
    #[must_use]
    pub const fn default_window(&self) -> Window {
        self.default_window
    }

    /// A day's stored settings (with `None` overrides, as the API shows them).
    #[must_use]
    pub const fn day(&self, day: Day) -> DaySchedule {
        self.days[day.index()]
    }

    /// A day's effective window (overrides over the default), or `None` when it is disabled.
    #[must_use]
    pub fn window_for(&self, day: Day) -> Option<Window> {
        let d = self.days[day.index()];
        d.enabled.then(|| Window {
            start: d.start.unwrap_or(self.default_window.start),
            end: d.end.unwrap_or(self.default_window.end),
        })
    }

    /// Whether any day is enabled.
    #[must_use]
    pub fn any_day_enabled(&self) -> bool {
        self.days.iter().any(|d| d.enabled)
    }

    /// The calendar date of `at` in the schedule's zone (the day `daily_limit` counts against).
    #[must_use]
    pub fn local_date(&self, at: Timestamp) -> Date {
        self.tz.to_datetime(at).date()
    }

    /// The instants `[open, close)` of the window on a local date, or `None` when the day is
    /// disabled or its window is empty (lies wholly in a DST gap).
    #[must_use]
    pub fn window_on(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        let w = self.window_for(Day::from_weekday(date.weekday()))?;
        let open = resolve(&self.tz, w.start.on(date))?;
        let close = resolve(&self.tz, w.end.on(date))?;
        (open < close).then_some((open, close))
    }

    /// Whether sending is allowed at `at`.
    #[must_use]
    pub fn is_open(&self, at: Timestamp) -> bool {
        let date = self.local_date(at);
        [date.yesterday().ok(), Some(date), date.tomorrow().ok()]
            .into_iter()
            .flatten()
            .filter_map(|d| self.window_on(d))
            .any(|(open, close)| open <= at && at < close)
    }

    /// The first instant at or after `after` at which the window is open: `after` itself when
    /// it is open, `None` when no day is enabled.
    #[must_use]
    pub fn next_opening(&self, after: Timestamp) -> Option<Timestamp> {
        if !self.any_day_enabled() {
            return None;
        }
        // Windows are disjoint and ordered by date, so the first one that has not closed yet
        // holds the answer. Two weeks always contain an enabled, non-empty window (a DST gap
        // can empty at most one day of a week).
        let mut date = self.local_date(after).yesterday().ok()?;
        for _ in 0..16 {
            if let Some((open, close)) = self.window_on(date)
                && close > after
            {
                return Some(open.max(after));
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// A local wall-clock time as an instant: a time inside a spring-forward gap becomes the first
/// instant after the gap; a time inside a fall-back fold becomes its earlier instance.
pub(crate) fn resolve(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, the wall time falls before the transition; the
            // transition itself is the first instant after the gap.
            let probe = after.to_timestamp(dt).ok()?;
            tz.following(probe).next().map(|t| t.timestamp())
        }
    }
}

/// A `{start, end}` pair as the API receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInput {
    /// `"HH:MM"`.
    pub start: String,
    /// `"HH:MM"`.
    pub end: String,
}

/// A PATCH of one day: every field optional. `start`/`end`: `None` = unchanged,
/// `Some(None)` = clear the override (fall back to the default window).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayChanges {
    /// New `enabled`.
    pub enabled: Option<bool>,
    /// New start override.
    pub start: Option<Option<String>>,
    /// New end override.
    pub end: Option<Option<String>>,
}

/// A PATCH of a schedule: validated whole, applied all or nothing. Times are rounded to the
/// grid before the `start < end` check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleChanges {
    /// New zone name (one of [`SUPPORTED_ZONES`]).
    pub timezone: Option<String>,
    /// New default window.
    pub default_window: Option<WindowInput>,
    /// Per-day changes.
    pub days: Vec<(Day, DayChanges)>,
}

impl ScheduleChanges {
    /// Validates every field and produces the new schedule.
    ///
    /// Field names: `timezone` (code `unsupported_timezone`), `default_window.start`,
    /// `default_window.end`, `days.<day>.start`, `days.<day>.end` (codes of
    /// [`TimeError::code`]), `default_window` and `days.<day>` (code `end_not_after_start`).
    ///
    /// # Errors
    /// [`ValidationErrors`] listing every failed field.
    pub fn apply(&self, current: &Schedule) -> Result<Schedule, ValidationErrors> {
        let mut errors = Vec::new();
        let mut zone = current.zone;
        if let Some(name) = &self.timezone {
            match Zone::parse(name) {
                Ok(z) => zone = z,
                Err(e) => errors.push(FieldError::new(
                    "timezone",
                    "unsupported_timezone",
                    e.to_string(),
                )),
            }
        }
        let mut time = |field: String, s: &str| match TimeOfDay::parse_on_grid(s) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(FieldError::new(field, e.code(), e.to_string()));
                None
            }
        };

        let mut default_window = current.default_window;
        let mut window_error = None;
        let mut default_ok = true;
        if let Some(w) = &self.default_window {
            let start = time("default_window.start".into(), &w.start);
            let end = time("default_window.end".into(), &w.end);
            default_ok = start.is_some() && end.is_some();
            if let (Some(start), Some(end)) = (start, end) {
                match Window::new(start, end) {
                    Ok(w) => default_window = w,
                    Err(e) => {
                        default_ok = false;
                        window_error =
                            Some(FieldError::new("default_window", e.code(), e.to_string()));
                    }
                }
            }
        }

        let mut days = current.days;
        let mut bad_days = [false; 7];
        for (day, change) in &self.days {
            let slot = &mut days[day.index()];
            if let Some(enabled) = change.enabled {
                slot.enabled = enabled;
            }
            for (value, target, which) in [
                (&change.start, &mut slot.start, "start"),
                (&change.end, &mut slot.end, "end"),
            ] {
                match value {
                    None => {}
                    Some(None) => *target = None,
                    Some(Some(s)) => match time(format!("days.{}.{which}", day.as_str()), s) {
                        Some(t) => *target = Some(t),
                        None => bad_days[day.index()] = true,
                    },
                }
            }
        }

        errors.extend(window_error);
        for day in Day::ALL {
            let d = days[day.index()];
            // A day whose own time is malformed, or any day when the default window is invalid,
            // has already been reported: a second error for it would only be noise.
            if bad_days[day.index()] || !default_ok {
                continue;
            }
            let start = d.start.unwrap_or(default_window.start);
            let end = d.end.unwrap_or(default_window.end);
            if let Err(e) = Window::new(start, end) {
                errors.push(FieldError::new(
                    format!("days.{}", day.as_str()),
                    e.code(),
                    e.to_string(),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ValidationErrors(errors));
        }
        Ok(Schedule {
            zone,
            tz: zone.time_zone(),
            default_window,
            days,
        })
    }
}
