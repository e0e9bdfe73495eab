//! Rotation schedules as AWS writes them: `AutomaticallyAfterDays`, `rate(N days)`,
//! `rate(N hours)` and six-field `cron(minutes hours day-of-month month
//! day-of-week year)`, each with an optional window `Duration` (`"3h"`). Times are
//! epoch milliseconds, UTC.

use time::{Date, OffsetDateTime, Time};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every N days (AutomaticallyAfterDays or `rate(N days)`).
    Days(i64),
    /// Every N hours (`rate(N hours)`).
    Hours(i64),
    Cron(Box<Cron>),
}

/// A parsed cron expression: the allowed values of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    /// None: `?` (any day of month); `L` is day 32.
    days: Option<Vec<u32>>,
    months: Vec<u32>,
    /// AWS numbering, 1 = Sunday; None: `?`.
    weekdays: Option<Vec<u32>>,
    years: Option<Vec<u32>>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(s: &str, names: &[&str], lo: u32, hi: u32) -> Result<u32, String> {
    let upper = s.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        return Ok(i as u32 + lo);
    }
    let v: u32 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a valid value"))?;
    if v < lo || v > hi {
        return Err(format!("{v} is out of range {lo}-{hi}"));
    }
    Ok(v)
}

/// One field: `*`, `N`, `A-B`, lists, and `/step` on any of them.
fn field(s: &str, names: &[&str], lo: u32, hi: u32) -> Result<Vec<u32>, String> {
    let mut out = vec![];
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (
                r,
                st.parse::<u32>()
                    .map_err(|_| format!("bad step in '{part}'"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("bad step in '{part}'"));
        }
        let (a, b) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a, names, lo, hi)?, value(b, names, lo, hi)?),
                None if part.contains('/') => (value(r, names, lo, hi)?, hi),
                None => {
                    let v = value(r, names, lo, hi)?;
                    (v, v)
                }
            },
        };
        if a > b {
            return Err(format!("'{range}' is an empty range"));
        }
        out.extend((a..=b).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Schedule {
    /// Parses a `ScheduleExpression`.
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        let e = expr.trim();
        if let Some(inner) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let (n, unit) = inner
                .trim()
                .split_once(' ')
                .ok_or("a rate needs a value and a unit")?;
            let n: i64 = n.parse().map_err(|_| format!("'{n}' is not a number"))?;
            return match (unit.trim(), n) {
                ("day" | "days", 1..=1000) => Ok(Schedule::Days(n)),
                ("hour" | "hours", 4..=23) => Ok(Schedule::Hours(n)),
                ("day" | "days", _) => Err("rate in days must be between 1 and 1000".into()),
                ("hour" | "hours", _) => Err("rate in hours must be between 4 and 23".into()),
                (u, _) => Err(format!("'{u}' is not a rate unit (hours or days)")),
            };
        }
        let inner = e
            .strip_prefix("cron(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or("the expression must be rate(...) or cron(...)")?;
        let f: Vec<&str> = inner.split_whitespace().collect();
        if f.len() != 6 {
            return Err("a cron expression has six fields".into());
        }
        if (f[2] == "?") == (f[4] == "?") {
            return Err("exactly one of day-of-month and day-of-week must be '?'".into());
        }
        for x in &f {
            if x.contains(['W', '#']) || (x.contains('L') && *x != "L") {
                return Err(format!("'{x}': W, # and L with values are not supported"));
            }
        }
        let days = match f[2] {
            "?" => None,
            "L" => Some(vec![32]),
            d => Some(field(d, &[], 1, 31)?),
        };
        let weekdays = match f[4] {
            "?" => None,
            d => Some(field(d, &WEEKDAYS, 1, 7)?),
        };
        let years = match f[5] {
            "*" => None,
            y => Some(field(y, &[], 1970, 2199)?),
        };
        Ok(Schedule::Cron(Box::new(Cron {
            minutes: field(f[0], &[], 0, 59)?,
            hours: field(f[1], &[], 0, 23)?,
            days,
            months: field(f[3], &MONTHS, 1, 12)?,
            weekdays,
            years,
        })))
    }

    /// The start of the next rotation window after `after_ms`, counted from the last
    /// rotation (`last_ms`) for the interval forms.
    pub fn next(&self, last_ms: i64, after_ms: i64) -> Option<i64> {
        match self {
            // Day schedules rotate on the due day, from midnight UTC.
            Schedule::Days(n) => {
                let due = (last_ms + n * DAY).div_euclid(DAY) * DAY;
                Some(due.max(after_ms.div_euclid(DAY) * DAY))
            }
            Schedule::Hours(n) => Some((last_ms + n * HOUR).max(after_ms)),
            Schedule::Cron(c) => c.next_after(after_ms),
        }
    }

    /// The default window: a day for day schedules, the interval for hourly ones.
    pub fn default_window_ms(&self) -> i64 {
        match self {
            Schedule::Hours(n) => n * HOUR,
            _ => DAY,
        }
    }
}

impl Cron {
    fn day_matches(&self, d: Date) -> bool {
        let month_ok = self.months.contains(&(d.month() as u32));
        let year_ok = self
            .years
            .as_ref()
            .is_none_or(|ys| ys.contains(&(d.year() as u32)));
        let dom_ok = self.days.as_ref().is_none_or(|ds| {
            let last = u32::from(d.month().length(d.year()));
            ds.iter()
                .any(|&x| x == u32::from(d.day()) || (x == 32 && u32::from(d.day()) == last))
        });
        let dow_ok = self
            .weekdays
            .as_ref()
            .is_none_or(|ws| ws.contains(&(u32::from(d.weekday().number_days_from_sunday()) + 1)));
        month_ok && year_ok && dom_ok && dow_ok
    }

    /// The first matching minute strictly after `after_ms`, within five years.
    fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = OffsetDateTime::from_unix_timestamp(after_ms.div_euclid(1000)).ok()?;
        let mut day = start.date();
        for _ in 0..(5 * 366) {
            if self.day_matches(day) {
                for &h in &self.hours {
                    for &m in &self.minutes {
                        let t = Time::from_hms(h as u8, m as u8, 0).ok()?;
                        let ms = day.with_time(t).assume_utc().unix_timestamp() * 1000;
                        if ms > after_ms {
                            return Some(ms);
                        }
                    }
                }
            }
            day = day.next_day()?;
        }
        None
    }
}

/// A window `Duration` (`"1h"`..`"24h"`) in milliseconds.
pub fn window(d: &str) -> Result<i64, String> {
    let h: i64 = d
        .strip_suffix('h')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("'{d}' is not a duration in hours (like 3h)"))?;
    if !(1..=24).contains(&h) {
        return Err("the duration must be between 1h and 24h".into());
    }
    Ok(h * HOUR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Month;

    fn ms(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> i64 {
        let date = Date::from_calendar_date(y, Month::try_from(mo).unwrap(), d).unwrap();
        date.with_time(Time::from_hms(h, mi, 0).unwrap())
            .assume_utc()
            .unix_timestamp()
            * 1000
    }

    #[test]
    fn rates() {
        let s = Schedule::parse("rate(10 days)").unwrap();
        assert_eq!(s, Schedule::Days(10));
        let last = ms(2026, 1, 1, 15, 30);
        assert_eq!(s.next(last, last), Some(ms(2026, 1, 11, 0, 0)));
        // Late (the server was down): due at once, never skipped.
        assert_eq!(
            s.next(last, ms(2026, 2, 1, 9, 0)),
            Some(ms(2026, 2, 1, 0, 0))
        );
        assert_eq!(
            Schedule::parse("rate(4 hours)").unwrap(),
            Schedule::Hours(4)
        );
        for bad in [
            "rate(0 days)",
            "rate(2 hours)",
            "rate(3 weeks)",
            "rate(days)",
            "every day",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cron_first_and_fifteenth_at_four_pm() {
        // The example, from AWS's documentation.
        let s = Schedule::parse("cron(0 16 1,15 * ? *)").unwrap();
        assert_eq!(
            s.next(0, ms(2026, 11, 22, 12, 0)),
            Some(ms(2026, 12, 1, 16, 0))
        );
        assert_eq!(
            s.next(0, ms(2026, 12, 1, 16, 0)),
            Some(ms(2026, 12, 15, 16, 0))
        );
        assert_eq!(
            s.next(0, ms(2026, 12, 15, 15, 59)),
            Some(ms(2026, 12, 15, 16, 0))
        );
    }

    #[test]
    fn cron_fields() {
        // Every Monday at 08:00 (AWS numbers days from Sunday = 1).
        let s = Schedule::parse("cron(0 8 ? * MON *)").unwrap();
        assert_eq!(
            s.next(0, ms(2026, 11, 22, 12, 0)),
            Some(ms(2026, 11, 23, 8, 0))
        );
        let s = Schedule::parse("cron(0 8 ? * 2 *)").unwrap();
        assert_eq!(
            s.next(0, ms(2026, 11, 22, 12, 0)),
            Some(ms(2026, 11, 23, 8, 0))
        );
        // The last day of the month, every 6 hours from midnight.
        let s = Schedule::parse("cron(0 0/6 L * ? *)").unwrap();
        assert_eq!(s.next(0, ms(2027, 2, 1, 0, 0)), Some(ms(2027, 2, 28, 0, 0)));
        assert_eq!(
            s.next(0, ms(2027, 2, 28, 0, 0)),
            Some(ms(2027, 2, 28, 6, 0))
        );
        // A year range that has passed never fires.
        let s = Schedule::parse("cron(0 0 1 1 ? 2020-2021)").unwrap();
        assert_eq!(s.next(0, ms(2026, 1, 1, 0, 0)), None);
        for bad in [
            "cron(0 16 1,15 * * *)",
            "cron(0 16 ? * ? *)",
            "cron(0 16 1 *)",
            "cron(61 16 1 * ? *)",
            "cron(0 16 1W * ? *)",
            "cron(0 16 ? * 2#1 *)",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows() {
        assert_eq!(window("3h").unwrap(), 3 * HOUR);
        assert!(window("0h").is_err() && window("25h").is_err() && window("3d").is_err());
    }
}
