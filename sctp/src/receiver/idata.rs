//! I-DATA (RFC 8260): fragments reassembled per message by fragment sequence number, ordered
//! messages delivered by message identifier, I-FORWARD-TSN.

use super::*;
use crate::chunk::IDataChunk;

impl Receiver {
    /// Handles one I-DATA chunk (RFC 8260); messages are built in buffers from `pool`.
    pub(crate) fn on_idata(
        &mut self,
        d: &IDataChunk<'_>,
        external: usize,
        pool: &mut BufferPool,
    ) -> Accept {
        if let Err(a) = self.accept_tsn(d.tsn, d.payload.len(), external) {
            return a;
        }
        if d.stream_id >= self.stream_count {
            return Accept::InvalidStream(d.stream_id);
        }
        let unordered = d.flags & data_flags::UNORDERED != 0;
        let begin = d.flags & data_flags::BEGIN != 0;
        let end = d.flags & data_flags::END != 0;
        if begin && end {
            if d.payload.len() <= self.max_message_size {
                self.buffered += d.payload.len();
                self.complete_mid(
                    ReceivedMessage {
                        stream_id: d.stream_id,
                        ppid: d.ppid_or_fsn,
                        unordered,
                        data: pool.copy_of(d.payload),
                    },
                    d.mid,
                );
            } else {
                self.dropped_messages += 1;
            }
            return Accept::New;
        }
        let key = (d.stream_id, unordered, d.mid);
        let m = self.imessages.entry(key).or_default();
        let fsn = if begin {
            m.ppid = Some(d.ppid_or_fsn);
            0
        } else {
            d.ppid_or_fsn
        };
        let conflicting_end = end && m.last_fsn.is_some_and(|l| l != fsn);
        if end {
            m.last_fsn = Some(fsn);
        }
        let past_end = m
            .last_fsn
            .is_some_and(|l| fsn > l || m.frags.last_key_value().is_some_and(|(k, _)| *k > l));
        if m.frags.contains_key(&fsn)
            || conflicting_end
            || past_end
            || m.bytes + d.payload.len() > self.max_message_size
        {
            // A repeated FSN, two ends, a fragment past the end, or more than a message may
            // hold: drop the whole message.
            let m = self.imessages.remove(&key).expect("entry exists");
            self.buffered -= m.bytes + m.frags.len() * FRAGMENT_OVERHEAD;
            self.dropped_messages += 1;
            return Accept::New;
        }
        m.frags.insert(fsn, d.payload.to_vec());
        m.bytes += d.payload.len();
        self.buffered += d.payload.len() + FRAGMENT_OVERHEAD;
        let complete = m.ppid.is_some()
            && m.last_fsn
                .is_some_and(|l| m.frags.len() as u64 == l as u64 + 1);
        if complete {
            let m = self.imessages.remove(&key).expect("entry exists");
            self.buffered -= m.frags.len() * FRAGMENT_OVERHEAD;
            let mut data = pool.take(m.bytes);
            for f in m.frags.values() {
                data.extend_from_slice(f);
            }
            self.complete_mid(
                ReceivedMessage {
                    stream_id: d.stream_id,
                    ppid: m.ppid.expect("checked"),
                    unordered,
                    data,
                },
                d.mid,
            );
        }
        Accept::New
    }

    /// Queues a complete I-DATA message, or keeps it until its turn (charged the overhead of a
    /// waiting message meanwhile).
    fn complete_mid(&mut self, msg: ReceivedMessage, mid: u32) {
        if msg.unordered {
            self.ready.push_back(msg);
            return;
        }
        let s = self.streams.get_or_insert_default(msg.stream_id);
        if mid == s.next_mid {
            s.next_mid = s.next_mid.wrapping_add(1);
            self.ready.push_back(msg);
            while let Some(m) = s.pending_mid.remove(&s.next_mid) {
                s.next_mid = s.next_mid.wrapping_add(1);
                self.buffered -= FRAGMENT_OVERHEAD;
                self.ready.push_back(m);
            }
        } else if (mid.wrapping_sub(s.next_mid) as i32) > 0 && !s.pending_mid.contains_key(&mid) {
            self.buffered += FRAGMENT_OVERHEAD;
            s.pending_mid.insert(mid, msg);
        } else {
            self.buffered -= msg.data.len();
            self.dropped_messages += 1;
        }
    }

    /// Handles an I-FORWARD-TSN: moves the cumulative point and skips the listed messages.
    pub(crate) fn on_i_forward_tsn(
        &mut self,
        new_cum: u32,
        entries: impl Iterator<Item = (u16, bool, u32)>,
    ) {
        if !self.advance_cum(new_cum) {
            return;
        }
        for (sid, unordered, mid) in entries {
            if sid >= self.stream_count {
                continue;
            }
            // Partial messages skipped: the unordered one named, or every ordered one up to
            // `mid` (the MIDs within half the counter space below it).
            let dropped: Vec<IMessage> = if unordered {
                self.imessages
                    .remove(&(sid, true, mid))
                    .into_iter()
                    .collect()
            } else {
                let from = (sid, false, mid.wrapping_sub(i32::MAX as u32));
                take_circular(
                    &mut self.imessages,
                    from,
                    (sid, false, mid),
                    (sid, false, 0),
                    (sid, false, u32::MAX),
                )
            };
            for m in dropped {
                self.buffered -= m.bytes + m.frags.len() * FRAGMENT_OVERHEAD;
            }
            if unordered {
                continue;
            }
            let s = self.streams.get_or_insert_default(sid);
            if (mid.wrapping_sub(s.next_mid) as i32) < 0 {
                continue;
            }
            let skipped = take_circular(&mut s.pending_mid, s.next_mid, mid, 0, u32::MAX);
            self.buffered -= skipped.len() * FRAGMENT_OVERHEAD;
            self.ready.extend(skipped);
            s.next_mid = mid.wrapping_add(1);
            while let Some(m) = s.pending_mid.remove(&s.next_mid) {
                s.next_mid = s.next_mid.wrapping_add(1);
                self.buffered -= FRAGMENT_OVERHEAD;
                self.ready.push_back(m);
            }
        }
    }
}
