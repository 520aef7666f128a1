//! Time conversions RTP and RTCP need: NTP timestamps (RFC 3550 4), their compact 32-bit form
//! used by LSR/DLSR, RTP clock arithmetic, and round-trip time from a report block.

use core::time::Duration;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
pub const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp: 32 bits of seconds since 1900, 32 bits of fraction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// From a duration since the Unix epoch (the caller reads the wall clock).
    pub fn from_unix(since_epoch: Duration) -> Self {
        let secs = since_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET_SECS);
        let frac = ((since_epoch.subsec_nanos() as u64) << 32) / 1_000_000_000;
        NtpTime((secs << 32) | frac)
    }

    /// The duration since the Unix epoch (saturating at zero for earlier times).
    pub fn to_unix(self) -> Duration {
        let secs = (self.0 >> 32).saturating_sub(NTP_UNIX_OFFSET_SECS);
        let nanos = ((self.0 & 0xFFFF_FFFF) * 1_000_000_000) >> 32;
        Duration::new(secs, nanos as u32)
    }

    /// The middle 32 bits (16.16 fixed point seconds), as carried in LSR and DLRR.
    pub fn compact(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// A compact (16.16) duration as carried in DLSR/DLRR, from a duration (saturating).
pub fn compact_from_duration(d: Duration) -> u32 {
    let units = (d.as_nanos() << 16) / 1_000_000_000;
    units.min(u32::MAX as u128) as u32
}

/// A duration from compact (16.16) units.
pub fn duration_from_compact(units: u32) -> Duration {
    Duration::from_nanos(((units as u64) * 1_000_000_000) >> 16)
}

/// Round-trip time from a report block (RFC 3550 6.4.1): `now` is the compact NTP time the
/// block arrived, `lsr` and `dlsr` its fields. `None` when the block reports no SR yet, or
/// when the values are inconsistent.
pub fn round_trip_time(now: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = now.wrapping_sub(lsr).wrapping_sub(dlsr);
    // a "negative" result (clock error, bogus peer) shows as a huge value
    (rtt < 0x8000_0000).then(|| duration_from_compact(rtt))
}

/// An RTP media clock of a fixed rate (e.g. 90 kHz video, 48 kHz Opus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpClock {
    /// Ticks per second.
    pub rate: u32,
}

impl RtpClock {
    /// A clock of `rate` ticks per second.
    pub const fn new(rate: u32) -> Self {
        RtpClock { rate }
    }

    /// Ticks in `d` (wrapping like RTP timestamps do).
    pub fn ticks(self, d: Duration) -> u32 {
        ((d.as_nanos() * self.rate as u128) / 1_000_000_000) as u32
    }

    /// The duration of `ticks` ticks.
    pub fn duration(self, ticks: u64) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(((ticks as u128 * 1_000_000_000) / self.rate as u128) as u64)
    }

    /// The NTP time of `rtp_timestamp`, given a sender report's (NTP, RTP) pair for this
    /// clock; timestamps before the report give earlier times.
    pub fn ntp_time(self, report: (NtpTime, u32), rtp_timestamp: u32) -> NtpTime {
        let delta_ticks = rtp_timestamp.wrapping_sub(report.1) as i32 as i64;
        let delta_ntp = if self.rate == 0 {
            0
        } else {
            (delta_ticks << 32) / self.rate as i64
        };
        NtpTime((report.0.0 as i64).wrapping_add(delta_ntp) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_unix_round_trip_and_compact() {
        let t = Duration::new(1_700_000_000, 500_000_000);
        let ntp = NtpTime::from_unix(t);
        assert_eq!(ntp.0 >> 32, 1_700_000_000 + NTP_UNIX_OFFSET_SECS);
        assert_eq!(ntp.0 & 0xFFFF_FFFF, 0x8000_0000);
        assert!(ntp.to_unix().abs_diff(t) < Duration::from_nanos(2));
        assert_eq!(ntp.compact() & 0xFFFF, 0x8000);
    }

    #[test]
    fn rtt_example_from_rfc3550() {
        // RFC 3550 figure 2: A = 0xb710_8000 (46864.500), LSR 0xb705_2000 (46853.125),
        // DLSR 0x0005_4000 (5.250) -> RTT 6.125 s
        let rtt = round_trip_time(0xB710_8000, 0xB705_2000, 0x0005_4000).unwrap();
        assert_eq!(rtt, Duration::from_millis(6125));
        assert_eq!(round_trip_time(5, 0, 0), None);
        assert_eq!(round_trip_time(10, 20, 0), None);
    }

    #[test]
    fn rtp_clock() {
        let c = RtpClock::new(90_000);
        assert_eq!(c.ticks(Duration::from_millis(20)), 1800);
        assert_eq!(c.duration(1800), Duration::from_millis(20));
        let sr = (NtpTime(100 << 32), 1000u32);
        assert_eq!(c.ntp_time(sr, 1000 + 90_000), NtpTime(101 << 32));
        assert_eq!(
            c.ntp_time(sr, 1000u32.wrapping_sub(45_000)),
            NtpTime((100 << 32) - (1 << 31))
        );
        assert_eq!(
            compact_from_duration(Duration::from_millis(5250)),
            0x0005_4000
        );
    }
}
