//! The virtual clock: every timestamp the simulator shows comes from here.
//!
//! Virtual now = anchor + real time elapsed since the anchor × scale, unless paused. Changing the
//! scale, pausing or advancing re-anchors first, so virtual time never jumps backwards and never
//! loses the time already elapsed. Nothing here owns a timer: operations compare their deadlines
//! with [`Clock::now`] whenever someone looks (see `ops`).
//!
//! Two styles of use, as in the time-skipping test servers we learn from: *auto* (scale > 0, not
//! paused; time flows by itself, faster than real time if you like) and *explicit* (paused; time
//! moves only through [`Clock::advance`]). Tests use explicit mode.

use crate::error::{ErrorCode, SimError};
use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};
use parking_lot::Mutex;
use serde::Serialize;
use std::time::Instant;

/// The largest time scale accepted: one real second is then about 11.6 virtual days.
pub const MAX_SCALE: f64 = 1_000_000.0;

/// A reading of the clock, as `GET /_sim/clock` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockStatus {
    /// Virtual now.
    pub now: Timestamp,
    /// Virtual seconds per real second while running.
    pub scale: f64,
    /// Whether virtual time stands still (it then moves only by `advance`).
    pub paused: bool,
}

/// The virtual clock shared by all tenants.
#[derive(Debug)]
pub struct Clock {
    /// Guards the anchor. A sync lock: it is held for a few arithmetic operations only, never
    /// across an `.await`, and contention is one short critical section per request.
    state: Mutex<Anchor>,
    /// Settings at start-up, restored by [`Clock::reset`].
    initial: ClockStatus,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// Virtual time at `real`.
    virt: Timestamp,
    /// Real instant at which `virt` was read.
    real: Instant,
    scale: f64,
    paused: bool,
}

impl Anchor {
    /// Virtual time at the real instant `at` (which must not precede the anchor).
    fn at(&self, at: Instant) -> Timestamp {
        if self.paused {
            return self.virt;
        }
        let real = at.saturating_duration_since(self.real).as_nanos() as f64;
        let nanos = (real * self.scale).min(i64::MAX as f64) as i64;
        self.virt
            .checked_add(SignedDuration::from_nanos(nanos))
            .unwrap_or(Timestamp::MAX)
    }

    /// Moves the anchor to `at` without changing virtual time.
    fn reanchor(&mut self, at: Instant) {
        self.virt = self.at(at);
        self.real = at;
    }
}

impl Clock {
    /// A clock reading `start` now, running at `scale` unless `paused`.
    pub fn new(start: Timestamp, scale: f64, paused: bool) -> Result<Clock, SimError> {
        check_scale(scale)?;
        let start = truncate_ms(start);
        Ok(Clock {
            state: Mutex::new(Anchor {
                virt: start,
                real: Instant::now(),
                scale,
                paused,
            }),
            initial: ClockStatus {
                now: start,
                scale,
                paused,
            },
        })
    }

    /// Virtual now, to the millisecond.
    pub fn now(&self) -> Timestamp {
        truncate_ms(self.state.lock().at(Instant::now()))
    }

    /// Now, scale and paused in one consistent reading.
    pub fn status(&self) -> ClockStatus {
        let state = self.state.lock();
        ClockStatus {
            now: truncate_ms(state.at(Instant::now())),
            scale: state.scale,
            paused: state.paused,
        }
    }

    /// Changes the scale and/or pauses or resumes; virtual time is continuous across the change.
    pub fn configure(
        &self,
        scale: Option<f64>,
        paused: Option<bool>,
    ) -> Result<ClockStatus, SimError> {
        if let Some(scale) = scale {
            check_scale(scale)?;
        }
        let mut state = self.state.lock();
        state.reanchor(Instant::now());
        if let Some(scale) = scale {
            state.scale = scale;
        }
        if let Some(paused) = paused {
            state.paused = paused;
        }
        Ok(ClockStatus {
            now: truncate_ms(state.virt),
            scale: state.scale,
            paused: state.paused,
        })
    }

    /// Moves virtual time forward by `by` (which must not be negative); returns the new now.
    pub fn advance(&self, by: SignedDuration) -> Result<Timestamp, SimError> {
        if by.is_negative() {
            return Err(SimError::new(
                ErrorCode::ClockCannotGoBack,
                format!("cannot advance by {by:#}: the virtual clock only moves forward"),
            ));
        }
        let mut state = self.state.lock();
        state.reanchor(Instant::now());
        state.virt = add(state.virt, by)?;
        Ok(truncate_ms(state.virt))
    }

    /// Moves virtual time forward to `to` (which must not be earlier than now); returns the new now.
    pub fn advance_to(&self, to: Timestamp) -> Result<Timestamp, SimError> {
        let mut state = self.state.lock();
        state.reanchor(Instant::now());
        let now = truncate_ms(state.virt);
        if to < now {
            return Err(SimError::new(
                ErrorCode::ClockCannotGoBack,
                format!(
                    "cannot advance to {to}: virtual now is already {now} and the clock only moves \
                     forward; use POST /_sim/reset to start over"
                ),
            ));
        }
        state.virt = state.virt.max(to);
        Ok(truncate_ms(state.virt))
    }

    /// Back to the start-up time, scale and pause setting.
    pub fn reset(&self) {
        *self.state.lock() = Anchor {
            virt: self.initial.now,
            real: Instant::now(),
            scale: self.initial.scale,
            paused: self.initial.paused,
        };
    }
}

fn check_scale(scale: f64) -> Result<(), SimError> {
    if scale.is_finite() && scale > 0.0 && scale <= MAX_SCALE {
        Ok(())
    } else {
        Err(SimError::new(
            ErrorCode::InvalidScale,
            format!(
                "scale must be a number greater than 0 and at most {MAX_SCALE} (virtual seconds per \
                 real second), got {scale}; to stop time, set \"paused\": true instead"
            ),
        ))
    }
}

/// `t + by`, or a clear error if that is beyond the representable range.
pub fn add(t: Timestamp, by: SignedDuration) -> Result<Timestamp, SimError> {
    t.checked_add(by).map_err(|_| {
        SimError::new(
            ErrorCode::ClockOutOfRange,
            format!("{t} + {by:#} is beyond the last representable time (9999-12-31)"),
        )
    })
}

fn truncate_ms(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

/// `t + by`, clamped to the representable range (for deadlines and expiries that may lie past the
/// end of time when the clock has been advanced far).
pub fn saturating_add(t: Timestamp, by: SignedDuration) -> Timestamp {
    t.checked_add(by).unwrap_or(if by.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// Parses a duration such as `"90m"`, `"1h30m"`, `"1h 30m"`, `"2d"`, `"45s"` or ISO 8601
/// `"PT1H30M"`. Days count as 24 hours; months and years are refused (their length varies).
pub fn parse_duration(text: &str) -> Result<SignedDuration, SimError> {
    let invalid = |why: String| {
        SimError::new(
            ErrorCode::InvalidDuration,
            format!(
                "\"{text}\" is not a duration: {why}. Write it like \"90m\", \"1h30m\", \"2d\", \
                 \"45s\" or \"PT1H30M\""
            ),
        )
    };
    let span: Span = text.trim().parse().map_err(|e| invalid(format!("{e}")))?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(invalid("months and years have no fixed length".into()));
    }
    span.to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| invalid(format!("{e}")))
}

/// Parses an RFC 3339 timestamp such as `"2026-01-01T10:00:00Z"` (any offset is accepted).
pub fn parse_timestamp(text: &str) -> Result<Timestamp, SimError> {
    text.trim().parse().map_err(|e| {
        SimError::new(
            ErrorCode::InvalidTimestamp,
            format!(
                "\"{text}\" is not a timestamp ({e}); write it in RFC 3339 form with an offset, \
                 e.g. \"2026-01-01T10:00:00Z\""
            ),
        )
    })
}

/// The real wall-clock time (for the journal's `realTime` only; everything else is virtual).
pub fn wall_now() -> Timestamp {
    truncate_ms(Timestamp::now())
}

/// Measures real elapsed time, e.g. how long a request took.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring.
    pub fn start() -> Self {
        Stopwatch(Instant::now())
    }

    /// Real time since start.
    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn anchor(scale: f64, paused: bool) -> Anchor {
        Anchor {
            virt: ts("2026-01-01T00:00:00Z"),
            real: Instant::now(),
            scale,
            paused,
        }
    }

    #[test]
    fn virtual_time_runs_at_scale() {
        let a = anchor(60.0, false);
        let later = a.real + Duration::from_secs(90);
        assert_eq!(a.at(later), ts("2026-01-01T01:30:00Z"));
    }

    #[test]
    fn paused_clock_stands_still() {
        let a = anchor(60.0, true);
        assert_eq!(a.at(a.real + Duration::from_secs(3600)), a.virt);
    }

    #[test]
    fn reanchoring_keeps_elapsed_time() {
        let mut a = anchor(2.0, false);
        let t1 = a.real + Duration::from_secs(10);
        a.reanchor(t1);
        assert_eq!(a.virt, ts("2026-01-01T00:00:20Z"));
        a.scale = 10.0;
        assert_eq!(
            a.at(t1 + Duration::from_secs(1)),
            ts("2026-01-01T00:00:30Z")
        );
    }

    #[test]
    fn advance_moves_forward_only() {
        let clock = match Clock::new(ts("2026-01-01T00:00:00Z"), 1.0, true) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            clock.advance(SignedDuration::from_mins(90)).ok(),
            Some(ts("2026-01-01T01:30:00Z"))
        );
        let back = clock.advance_to(ts("2026-01-01T01:00:00Z"));
        assert_eq!(back.map_err(|e| e.code), Err(ErrorCode::ClockCannotGoBack));
        let neg = clock.advance(SignedDuration::from_mins(-1));
        assert_eq!(neg.map_err(|e| e.code), Err(ErrorCode::ClockCannotGoBack));
        clock.reset();
        assert_eq!(clock.now(), ts("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn scale_must_be_positive_and_bounded() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_SCALE * 2.0] {
            assert!(check_scale(bad).is_err(), "{bad}");
        }
        assert!(check_scale(MAX_SCALE).is_ok());
    }

    #[test]
    fn durations_parse_in_friendly_and_iso_forms() {
        let mins = |s: &str| parse_duration(s).map(|d| d.as_secs() / 60).ok();
        assert_eq!(mins("90m"), Some(90));
        assert_eq!(mins("1h30m"), Some(90));
        assert_eq!(mins("1h 30m"), Some(90));
        assert_eq!(mins("PT1H30M"), Some(90));
        assert_eq!(mins("2d"), Some(2 * 24 * 60));
        assert_eq!(mins("1.5h"), Some(90));
        for bad in ["", "soon", "3mo", "1y", "90"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
