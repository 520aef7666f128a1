//! DATA (RFC 9260): fragments reassembled by TSN (in order as they come, out of order in a
//! map), ordered messages delivered by SSN, FORWARD-TSN (RFC 3758).

use super::*;
use crate::chunk::DataChunk;

impl Receiver {
    /// Handles one DATA chunk; messages are built in buffers from `pool`.
    pub(crate) fn on_data(
        &mut self,
        d: &DataChunk<'_>,
        external: usize,
        pool: &mut BufferPool,
    ) -> Accept {
        let t = match self.accept_tsn(d.tsn, d.payload.len(), external) {
            Ok(t) => t,
            Err(a) => return a,
        };
        if d.stream_id >= self.stream_count {
            return Accept::InvalidStream(d.stream_id);
        }
        let single =
            d.flags & (data_flags::BEGIN | data_flags::END) == data_flags::BEGIN | data_flags::END;
        if single {
            if d.payload.len() > self.max_message_size {
                self.dropped_messages += 1;
                return Accept::New;
            }
            let msg = ReceivedMessage {
                stream_id: d.stream_id,
                ppid: d.ppid,
                unordered: d.flags & data_flags::UNORDERED != 0,
                data: pool.copy_of(d.payload),
            };
            self.buffered += msg.data.len();
            self.complete(msg, d.ssn);
            return Accept::New;
        }
        self.buffered += d.payload.len() + FRAGMENT_OVERHEAD;
        if self.assemble_in_order(t, d, pool) {
            return Accept::New;
        }
        self.fragments.insert(
            t,
            Fragment {
                flags: d.flags,
                stream_id: d.stream_id,
                ssn: d.ssn,
                ppid: d.ppid,
                data: d.payload.to_vec(),
            },
        );
        #[cfg(test)]
        {
            self.work += 1;
        }
        let (run_start, run_end) = self.fragment_runs.insert(t);
        if d.flags & data_flags::BEGIN != 0 {
            self.begins.insert(t);
        }
        if d.flags & data_flags::END != 0 {
            self.ends.insert(t);
        }
        // The new fragment can only complete the message around it: the last first fragment
        // at or below it and the first last fragment at or above it, within its run. (Every
        // other complete span was assembled when its own last fragment arrived, so no first
        // or last fragment lies between those two.)
        let begin = self.begins.range(run_start..=t).next_back().copied();
        let end = self.ends.range(t..=run_end).next().copied();
        if let (Some(begin), Some(end)) = (begin, end) {
            self.assemble(begin, end, pool);
        }
        Accept::New
    }

    /// Takes the fragment `d` (TSN `t`, charged already) into the message being assembled in
    /// order, or starts one, when it arrived in order: it is the next TSN and nothing above it
    /// was received, so no fragment of its message can be in the map. Otherwise it hands what
    /// was assembled so far to the map and returns false: the map takes `d` too.
    fn assemble_in_order(&mut self, t: u64, d: &DataChunk<'_>, pool: &mut BufferPool) -> bool {
        #[cfg(test)]
        if self.no_assembly {
            return false;
        }
        let in_order = t == self.cum && self.above.is_empty();
        let begin = d.flags & data_flags::BEGIN != 0;
        let unordered = d.flags & data_flags::UNORDERED != 0;
        let Some(a) = &mut self.assembly else {
            if !(in_order && begin) {
                return false;
            }
            // Messages tend to be alike: room for one as long as the last saves regrowing.
            let capacity = d.payload.len().max(self.assembly_hint);
            let mut data = pool.take(capacity.min(self.max_message_size));
            data.extend_from_slice(d.payload);
            self.assembly_lens.clear();
            self.assembly_lens.push(d.payload.len());
            self.assembly = Some(Assembly {
                stream_id: d.stream_id,
                ssn: d.ssn,
                ppid: d.ppid,
                unordered,
                first: t,
                last: t,
                data,
            });
            return true;
        };
        let continues = in_order
            && !begin
            && t == a.last + 1
            && (d.stream_id, d.ssn, unordered) == (a.stream_id, a.ssn, a.unordered)
            && a.data.len() + d.payload.len() <= self.max_message_size;
        if !continues {
            self.spill_assembly(pool);
            return false;
        }
        #[cfg(test)]
        {
            self.work += 1;
        }
        a.data.extend_from_slice(d.payload);
        a.last = t;
        self.assembly_lens.push(d.payload.len());
        if d.flags & data_flags::END != 0 {
            let a = self.assembly.take().expect("assembling");
            self.assembly_hint = a.data.len();
            self.buffered -= self.assembly_lens.len() * FRAGMENT_OVERHEAD;
            self.assembly_lens.clear();
            self.complete(
                ReceivedMessage {
                    stream_id: a.stream_id,
                    ppid: a.ppid,
                    unordered: a.unordered,
                    data: a.data,
                },
                a.ssn,
            );
        }
        true
    }

    /// Hands the message assembled in order so far to the map, one fragment per TSN as if they
    /// had arrived out of order (the order broke: a gap, or a fragment of another message).
    fn spill_assembly(&mut self, pool: &mut BufferPool) {
        let Some(a) = self.assembly.take() else {
            return;
        };
        let flags = if a.unordered {
            data_flags::UNORDERED
        } else {
            0
        };
        let mut offset = 0;
        for (i, &len) in self.assembly_lens.iter().enumerate() {
            let tsn = a.first + i as u64;
            self.fragments.insert(
                tsn,
                Fragment {
                    flags: if i == 0 {
                        flags | data_flags::BEGIN
                    } else {
                        flags
                    },
                    stream_id: a.stream_id,
                    ssn: a.ssn,
                    ppid: a.ppid,
                    data: a.data[offset..offset + len].to_vec(),
                },
            );
            self.fragment_runs.insert(tsn);
            offset += len;
        }
        self.begins.insert(a.first);
        self.assembly_lens.clear();
        pool.put(a.data);
    }

    /// Takes the fragments `begin..=end` (all present) out and delivers them as one message,
    /// or drops them if they do not belong to one message or it is too large.
    fn assemble(&mut self, begin: u64, end: u64, pool: &mut BufferPool) {
        self.fragment_runs.remove_span(begin, end);
        self.begins.remove(&begin);
        self.ends.remove(&end);
        let first = self
            .fragments
            .remove(&begin)
            .expect("fragment run was checked to be contiguous");
        self.buffered -= first.data.len() + FRAGMENT_OVERHEAD;
        let (stream_id, ssn, uflag, ppid) = (
            first.stream_id,
            first.ssn,
            first.flags & data_flags::UNORDERED,
            first.ppid,
        );
        let mut ok = true;
        // Fragments are usually all as large as the first.
        let capacity = usize::try_from(end - begin + 1)
            .unwrap_or(usize::MAX)
            .saturating_mul(first.data.len())
            .min(self.max_message_size);
        let mut data = pool.take(capacity);
        data.extend_from_slice(&first.data);
        for k in begin + 1..=end {
            #[cfg(test)]
            {
                self.work += 1;
            }
            let f = self
                .fragments
                .remove(&k)
                .expect("fragment run was checked to be contiguous");
            self.buffered -= f.data.len() + FRAGMENT_OVERHEAD;
            let same = f.stream_id == stream_id
                && f.ssn == ssn
                && f.flags & data_flags::UNORDERED == uflag;
            ok &= same && data.len() + f.data.len() <= self.max_message_size;
            if ok {
                data.extend_from_slice(&f.data);
            }
        }
        if !ok || data.len() > self.max_message_size {
            self.dropped_messages += 1;
            pool.put(data);
            return;
        }
        self.buffered += data.len();
        self.complete(
            ReceivedMessage {
                stream_id,
                ppid,
                unordered: uflag != 0,
                data,
            },
            ssn,
        );
    }

    /// Queues a complete DATA message, or keeps it until its turn (charged the overhead of a
    /// waiting message meanwhile).
    fn complete(&mut self, msg: ReceivedMessage, ssn: u16) {
        if msg.unordered {
            self.ready.push_back(msg);
            return;
        }
        let s = self.streams.get_or_insert_default(msg.stream_id);
        if ssn == s.next_ssn {
            s.next_ssn = s.next_ssn.wrapping_add(1);
            self.ready.push_back(msg);
            while let Some(m) = s.pending.remove(&s.next_ssn) {
                s.next_ssn = s.next_ssn.wrapping_add(1);
                self.buffered -= FRAGMENT_OVERHEAD;
                self.ready.push_back(m);
            }
        } else if (ssn.wrapping_sub(s.next_ssn) as i16) > 0 && !s.pending.contains_key(&ssn) {
            self.buffered += FRAGMENT_OVERHEAD;
            s.pending.insert(ssn, msg);
        } else {
            // An old or repeated SSN: a protocol error by the peer; drop it.
            self.buffered -= msg.data.len();
            self.dropped_messages += 1;
        }
    }

    /// Handles a FORWARD-TSN: moves the cumulative point, forgets fragments it covers, and skips
    /// the listed ordered messages.
    pub(crate) fn on_forward_tsn(
        &mut self,
        new_cum: u32,
        streams: impl Iterator<Item = (u16, u16)>,
    ) {
        if !self.advance_cum(new_cum) {
            return;
        }
        // The message assembled in order lies below the old cumulative point: skipped too.
        if let Some(a) = self.assembly.take() {
            self.buffered -= a.data.len() + self.assembly_lens.len() * FRAGMENT_OVERHEAD;
            self.assembly_lens.clear();
        }
        let keep = self.fragments.split_off(&(self.cum + 1));
        for f in std::mem::replace(&mut self.fragments, keep).into_values() {
            self.buffered -= f.data.len() + FRAGMENT_OVERHEAD;
        }
        self.fragment_runs.remove_through(self.cum);
        self.begins = self.begins.split_off(&(self.cum + 1));
        self.ends = self.ends.split_off(&(self.cum + 1));
        for (sid, ssn) in streams {
            if sid >= self.stream_count {
                continue;
            }
            let Some(s) = self.streams.get_mut(&sid) else {
                let s = self.streams.get_or_insert_default(sid);
                s.next_ssn = ssn.wrapping_add(1);
                continue;
            };
            if (ssn.wrapping_sub(s.next_ssn) as i16) < 0 {
                continue;
            }
            let skipped = take_circular(&mut s.pending, s.next_ssn, ssn, 0, u16::MAX);
            #[cfg(test)]
            {
                self.work += 1 + skipped.len() as u64;
            }
            self.buffered -= skipped.len() * FRAGMENT_OVERHEAD;
            self.ready.extend(skipped);
            s.next_ssn = ssn.wrapping_add(1);
            while let Some(m) = s.pending.remove(&s.next_ssn) {
                s.next_ssn = s.next_ssn.wrapping_add(1);
                self.buffered -= FRAGMENT_OVERHEAD;
                self.ready.push_back(m);
            }
        }
    }
}
