//! Bandwidth probing: short clusters of packets sent above the current estimate, whose arrival
//! rate measures what the path can carry. The estimator asks for clusters (at start, and again
//! while they succeed), the pacer sends them, and the feedback on them yields a probe result.

use std::collections::VecDeque;

/// A probe the estimator asks the pacer to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeCluster {
    /// Identifies the cluster's packets (pass it to `on_probe_sent` and `Pacer::probe`).
    pub id: u32,
    /// The rate to send the cluster at (bits per second).
    pub bitrate: u64,
    /// Send at least this many packets...
    pub min_packets: u32,
    /// ...and at least this many bytes.
    pub min_bytes: usize,
}

/// Packets remembered per cluster at most.
const MAX_PACKETS: usize = 64;
/// Clusters tracked at once at most.
const MAX_CLUSTERS: usize = 8;
/// A cluster lasts about this long at its rate.
const CLUSTER_MS: u64 = 15;
/// A cluster is judged once this fraction of its minimum packets was received.
const RECEIVED_FRACTION: f64 = 0.8;

#[derive(Debug, Clone)]
struct Tracked {
    cluster: ProbeCluster,
    /// (send us, arrival us, size) of received packets.
    received: Vec<(i64, i64, usize)>,
    done: bool,
}

/// Issues clusters and turns their feedback into rate measurements.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prober {
    pending: VecDeque<ProbeCluster>,
    tracked: VecDeque<Tracked>,
    next_id: u32,
    started: bool,
}

impl Prober {
    /// A cluster at `bitrate` (queued until polled); returns its id.
    pub(crate) fn request(&mut self, bitrate: u64) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let min_bytes = (bitrate.saturating_mul(CLUSTER_MS) / 8000).max(1) as usize;
        let cluster = ProbeCluster {
            id,
            bitrate,
            min_packets: 5,
            min_bytes,
        };
        if self.pending.len() < MAX_CLUSTERS {
            self.pending.push_back(cluster);
        }
        if self.tracked.len() == MAX_CLUSTERS {
            self.tracked.pop_front();
        }
        self.tracked.push_back(Tracked {
            cluster,
            received: Vec::new(),
            done: false,
        });
        id
    }

    /// The initial clusters (3x and 6x the start rate), once.
    pub(crate) fn start(&mut self, start: u64, max: u64) {
        if self.started {
            return;
        }
        self.started = true;
        for factor in [3, 6] {
            let rate = start.saturating_mul(factor).min(max);
            if rate > start {
                self.request(rate);
            }
        }
    }

    /// The next cluster to send.
    pub(crate) fn poll(&mut self) -> Option<ProbeCluster> {
        self.pending.pop_front()
    }

    /// Records a received probe packet; returns a measured rate when its cluster completes.
    pub(crate) fn on_received(
        &mut self,
        id: u32,
        send: i64,
        arrival: i64,
        size: usize,
    ) -> Option<(ProbeCluster, f64)> {
        let t = self.tracked.iter_mut().find(|t| t.cluster.id == id)?;
        if t.done || t.received.len() >= MAX_PACKETS {
            return None;
        }
        t.received.push((send, arrival, size));
        let need = (f64::from(t.cluster.min_packets) * RECEIVED_FRACTION).ceil() as usize;
        if t.received.len() < need.max(2) {
            return None;
        }
        t.done = true;
        let r = &t.received;
        let (first_send, last_send) = r
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (first_arr, last_arr) = r
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let bytes: usize = r.iter().map(|p| p.2).sum();
        // bytes over an interval exclude one packet (the last sent / the first arrived)
        let last_sent_size = r.iter().max_by_key(|p| p.0).map_or(0, |p| p.2);
        let first_arr_size = r.iter().min_by_key(|p| p.1).map_or(0, |p| p.2);
        let send_span = last_send.saturating_sub(first_send);
        let arr_span = last_arr.saturating_sub(first_arr);
        // intervals under 1 ms (or absurdly long) say nothing
        if !(1_000..=1_000_000).contains(&send_span) || !(1_000..=1_000_000).contains(&arr_span) {
            return None;
        }
        let send_rate = (bytes - last_sent_size) as f64 * 8e6 / send_span as f64;
        let recv_rate = (bytes - first_arr_size) as f64 * 8e6 / arr_span as f64;
        let cluster = t.cluster;
        // arriving slower than sent: the path's limit is the arrival rate, a little below it
        let rate = if recv_rate < 0.9 * send_rate {
            0.95 * recv_rate
        } else {
            send_rate.min(recv_rate)
        };
        Some((cluster, rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_clusters_and_result() {
        let mut p = Prober::default();
        p.start(300_000, 10_000_000);
        p.start(300_000, 10_000_000);
        let a = p.poll().unwrap();
        let b = p.poll().unwrap();
        assert_eq!(p.poll(), None);
        assert_eq!((a.bitrate, b.bitrate), (900_000, 1_800_000));
        assert_eq!(b.min_bytes, 3375);
        // 1000-byte packets sent 1 ms apart (8 Mbit/s), arriving 4 ms apart (2 Mbit/s)
        let mut out = None;
        for i in 0..5 {
            out = out.or(p.on_received(b.id, i * 1000, 50_000 + i * 4000, 1000));
        }
        let (c, rate) = out.unwrap();
        assert_eq!(c.id, b.id);
        assert_eq!(rate, 0.95 * 2_000_000.0);
        // later packets of a judged cluster are ignored
        assert_eq!(p.on_received(b.id, 9000, 90_000, 1000), None);
    }

    #[test]
    fn bounded() {
        let mut p = Prober::default();
        for i in 0..100 {
            p.request(1_000_000 + i);
        }
        assert!(p.pending.len() <= MAX_CLUSTERS && p.tracked.len() <= MAX_CLUSTERS);
        let id = p.tracked.back().unwrap().cluster.id;
        for i in 0..1000 {
            let _ = p.on_received(id, i, i, 100);
        }
        assert!(p.tracked.iter().all(|t| t.received.len() <= MAX_PACKETS));
    }
}
