//! Which shards each member of a cluster holds (`miaodan serve --cluster`). Nobody coordinates: every member looks at the live members and the leases every
//! [`PLACEMENT_POLL`] and moves on its own towards an even share ([`share`]): one short of its
//! share takes free leases (given back, expired, or held by a member whose process is gone);
//! one over it gives one back while another live member is short and no free lease is left for
//! it. The leases keep it safe whatever the members believe: a lease has one holder, and every
//! commit is fenced by its epoch. Two members that see the cluster differently for a moment
//! only move a shard once too often.
//!
//! A member never gives back its last shard while it runs (it would have nothing to serve
//! from), so with fewer shards than members the last ones to join hold none and forward. A
//! shard free for [`LONG_FREE`] is taken by whoever sees it, share or not: the member short of
//! it may be unable to take it (its start fails, or its looks stall), and a shard nobody holds
//! serves nobody. Only members sharing the shards count (registered as `holder` or `joining`):
//! a member of an older build that registered as `leader` or `standby`, met in an upgrade,
//! takes no share.

use super::Membership;
use crate::app::AppState;
use miaodan_store::cluster::{StoredLease, Taking};
use std::time::Duration;
use tokio::time::Instant;

/// How often a member looks at the placement.
pub const PLACEMENT_POLL: Duration = Duration::from_millis(500);
/// A member heard from within this long is live (it says so every [`super::HEARTBEAT_MS`]).
pub const LIVE_WITHIN_MS: i64 = 3 * super::HEARTBEAT_MS as i64;
/// How long a member that could not give a shard back (requests in flight held it up) waits
/// before it tries again: meanwhile the shard takes every request again.
pub const GIVE_BACK_PAUSE: Duration = Duration::from_secs(10);
/// How long a shard may be seen free before any member takes it.
pub const LONG_FREE: Duration = Duration::from_millis(1_500);
/// The roles a member registers (`GET /v1/cluster`): it holds shards, or it holds none yet and
/// forwards. Both share the shards.
pub const HOLDER: &str = "holder";
pub const JOINING: &str = "joining";
pub const SHARING_ROLES: [&str; 2] = [HOLDER, JOINING];

/// What a member sees of the cluster.
#[derive(Clone, Debug)]
pub struct View<'a> {
    pub me: i64,
    /// The live members, this one among them, by id.
    pub live: &'a [i64],
    pub leases: &'a [StoredLease],
    /// The members whose process is gone ([`Membership::watch_member`]): their leases are free.
    pub gone: &'a [i64],
    pub shards: u32,
    /// The shards this member has seen free for [`LONG_FREE`].
    pub long_free: &'a [u32],
}

/// What a member does now: takes these shards' leases (each as its [`Taking`] allows), and gives
/// this one back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moves {
    pub take: Vec<(u32, Taking)>,
    pub give_back: Option<u32>,
}

/// How many of `shards` shards `member` holds in an even spread over `live` (by id; the lowest
/// ids hold one more when they do not divide evenly). None for a member not among them.
pub fn share(shards: u32, live: &[i64], member: i64) -> u32 {
    let Some(rank) = live.iter().position(|m| *m == member) else {
        return 0;
    };
    let members = live.len() as u32;
    shards / members + u32::from((rank as u32) < shards % members)
}

impl View<'_> {
    /// Who holds shard `index`: its lease's owner while the lease lives and its process is not
    /// gone.
    fn holder(&self, index: u32) -> Option<i64> {
        self.leases
            .iter()
            .find(|lease| lease.shard == index && lease.expires_in_ms > 0 && !self.gone.contains(&lease.owner))
            .map(|lease| lease.owner)
    }

    /// How a free shard's lease is taken: from its gone holder, or as expired.
    fn taking(&self, index: u32) -> Taking {
        let lease = self.leases.iter().find(|lease| lease.shard == index);
        match lease {
            Some(lease) if lease.expires_in_ms > 0 => Taking::ExpiredOrFrom(lease.owner),
            _ => Taking::Expired,
        }
    }

    fn held_by(&self, member: i64) -> Vec<u32> {
        (0..self.shards).filter(|s| self.holder(*s) == Some(member)).collect()
    }

    /// This member's moves towards an even share.
    pub fn moves(&self) -> Moves {
        let mut live = self.live.to_vec();
        live.push(self.me);
        live.sort_unstable();
        live.dedup();
        let mine = self.held_by(self.me);
        let my_share = share(self.shards, &live, self.me) as usize;
        let mut free: Vec<u32> = (0..self.shards).filter(|s| self.holder(*s).is_none()).collect();
        // Members short of their share start at different free shards, and rarely race.
        let rank = live.iter().position(|m| *m == self.me).unwrap_or(0);
        if !free.is_empty() {
            let turn = rank % free.len();
            free.rotate_left(turn);
        }
        let others_short: usize = live
            .iter()
            .filter(|m| **m != self.me)
            .map(|m| (share(self.shards, &live, *m) as usize).saturating_sub(self.held_by(*m).len()))
            .sum();
        let take_count = match (mine.len() < my_share, others_short) {
            (true, _) => my_share - mine.len(),
            // Free shards no other live member will take (they all hold their share).
            (false, 0) => free.len(),
            (false, _) => 0,
        };
        let mut chosen: Vec<u32> = free.iter().take(take_count).copied().collect();
        let orphans: Vec<u32> = free
            .iter()
            .filter(|s| self.long_free.contains(s) && !chosen.contains(s))
            .copied()
            .collect();
        chosen.extend(orphans);
        let take: Vec<(u32, Taking)> = chosen.iter().map(|s| (*s, self.taking(*s))).collect();
        let give_back = (mine.len() > my_share && mine.len() > 1 && others_short > free.len())
            .then(|| Self::to_give_back(&mine))
            .flatten();
        Moves { take, give_back }
    }

    /// Which of the shards held to give back: the highest, so that shard 0 (and the
    /// platform-wide work at its holder) moves least.
    fn to_give_back(mine: &[u32]) -> Option<u32> {
        mine.iter().copied().max()
    }
}

/// What a look at the placement changed here.
#[derive(Clone, Debug, Default)]
pub struct Placed {
    /// The shards taken, and how.
    pub taken: Vec<(u32, Taking)>,
    pub given_back: Option<u32>,
}

impl Placed {
    pub fn changed(&self) -> bool {
        !self.taken.is_empty() || self.given_back.is_some()
    }
}

/// What a member sees of the cluster in one look: the live members sharing the shards, the
/// leases, the holders gone, and the shards free for long.
struct Look {
    live: Vec<i64>,
    leases: Vec<StoredLease>,
    gone: Vec<i64>,
    long_free: Vec<u32>,
}

impl Look {
    async fn take(store: &miaodan_store::Store, membership: &Membership, shards: u32) -> anyhow::Result<Look> {
        let (members, leases) = (store.members().await?, store.shard_leases().await?);
        membership.forget_watches_except(&members.iter().map(|m| m.id).collect::<Vec<_>>());
        let gone = gone_holders(store, membership, &leases).await;
        let live: Vec<i64> = members
            .iter()
            .filter(|m| m.heartbeat_age_ms < LIVE_WITHIN_MS && SHARING_ROLES.contains(&m.role.as_str()))
            .map(|m| m.id)
            .filter(|m| !gone.contains(m))
            .collect();
        let mut look = Look {
            live,
            leases,
            gone,
            long_free: Vec::new(),
        };
        let view = look.view(membership, shards);
        let free: Vec<u32> = (0..shards).filter(|s| view.holder(*s).is_none()).collect();
        look.long_free = membership.note_free(&free, Instant::now(), LONG_FREE);
        Ok(look)
    }

    fn view<'a>(&'a self, membership: &Membership, shards: u32) -> View<'a> {
        View {
            me: membership.id(),
            live: &self.live,
            leases: &self.leases,
            gone: &self.gone,
            shards,
            long_free: &self.long_free,
        }
    }
}

/// Looks at the cluster and makes this member's moves: takes free leases up to its share, gives
/// one back when another member is short. (Its caller first closes the shards whose lease another
/// member took: [`crate::sequencer::Shards::close_lost`].)
pub async fn place(state: &AppState) -> anyhow::Result<Placed> {
    let shards = state.shards.count();
    let look = Look::take(&state.store, &state.membership, shards).await?;
    let moves = look.view(&state.membership, shards).moves();
    let mut taken = Vec::new();
    for (shard, taking) in &moves.take {
        match state.take_shard(*shard as usize, *taking).await {
            Ok(true) => {
                tracing::info!(shard, ?taking, "placement: took a shard");
                taken.push((*shard, *taking));
            }
            Ok(false) => tracing::debug!(shard, "placement: another member took the shard first"),
            Err(error) => tracing::warn!(%error, shard, "placement: could not take a shard"),
        }
    }
    let mut given_back = None;
    if let Some(shard) = moves
        .give_back
        .filter(|_| state.membership.may_give_back(Instant::now()))
    {
        tracing::info!(shard, "placement: giving a shard back to a member short of its share");
        given_back = state.give_back_shard(shard as usize).await.then_some(shard);
        if given_back.is_none() {
            state.membership.give_back_held_up(Instant::now(), GIVE_BACK_PAUSE);
        }
    }
    Ok(Placed { taken, given_back })
}

/// The holders of live leases, other than this member, whose process is gone.
async fn gone_holders(store: &miaodan_store::Store, membership: &Membership, leases: &[StoredLease]) -> Vec<i64> {
    let mut holders: Vec<i64> = leases
        .iter()
        .filter(|lease| lease.expires_in_ms > 0 && lease.owner != membership.id())
        .map(|lease| lease.owner)
        .collect();
    holders.sort_unstable();
    holders.dedup();
    let mut gone = Vec::new();
    for holder in holders {
        let free = store.member_gone(holder).await.ok();
        if membership.watch_member(holder, free, Instant::now()) {
            gone.push(holder);
        }
    }
    gone
}

/// The shards a member that holds none yet takes first, and how (all under one [`Taking`]: the
/// leases are taken at once, all or none).
pub async fn first_share(store: &miaodan_store::Store, membership: &Membership, shards: u32) -> anyhow::Result<Moves> {
    let look = Look::take(store, membership, shards).await?;
    let mut moves = look.view(membership, shards).moves();
    let first = moves.take.first().map(|(_, taking)| *taking);
    moves.take.retain(|(_, taking)| Some(*taking) == first);
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The cluster as the members see it at once: each shard's holder, if any.
    fn leases(owners: &[Option<i64>]) -> Vec<StoredLease> {
        owners
            .iter()
            .enumerate()
            .map(|(shard, owner)| StoredLease {
                shard: shard as u32,
                owner: owner.unwrap_or(0),
                epoch: 1,
                expires_in_ms: if owner.is_some() { 3_000 } else { 0 },
            })
            .collect()
    }

    /// Each live member in turn makes its moves, `rounds` times over.
    fn settle(owners: &mut [Option<i64>], live: &[i64], gone: &[i64], rounds: usize) {
        for _ in 0..rounds {
            for me in live {
                let stored = leases(owners);
                let view = View {
                    me: *me,
                    live,
                    leases: &stored,
                    gone,
                    shards: owners.len() as u32,
                    long_free: &[],
                };
                let held_before = view.held_by(*me).len();
                let moves = view.moves();
                for (shard, taking) in moves.take {
                    let owner = &mut owners[shard as usize];
                    // As the store takes it: free, or held by the gone member named.
                    match (*owner, taking) {
                        (None, _) => *owner = Some(*me),
                        (Some(from), Taking::ExpiredOrFrom(gone)) if from == gone => *owner = Some(*me),
                        _ => panic!("member {me} took shard {shard}, held by a live member"),
                    }
                }
                if let Some(shard) = moves.give_back {
                    assert_eq!(owners[shard as usize], Some(*me), "only a shard held is given back");
                    assert!(held_before > 1, "a member never gives back its last shard");
                    owners[shard as usize] = None;
                }
            }
        }
    }

    #[test]
    fn shares_are_even_and_add_up() {
        assert_eq!(share(8, &[3, 5, 9], 3), 3);
        assert_eq!(share(8, &[3, 5, 9], 5), 3);
        assert_eq!(share(8, &[3, 5, 9], 9), 2);
        assert_eq!(share(2, &[3, 5, 9], 9), 0, "more members than shards");
        assert_eq!(share(8, &[3, 5], 7), 0, "not live");
    }

    #[test]
    fn a_member_that_joins_gets_its_share_from_the_others() {
        let mut owners = vec![Some(1); 8];
        settle(&mut owners, &[1, 2, 3], &[], 12);
        let held = |m: i64| owners.iter().filter(|o| **o == Some(m)).count();
        assert_eq!((held(1), held(2), held(3)), (3, 3, 2));
        assert_eq!(owners[0], Some(1), "shard 0 stays where it was");
    }

    #[test]
    fn a_shard_free_for_long_is_taken_by_a_member_at_its_share() {
        // Member 2 is short of its share but does not take shard 1.
        let stored = leases(&[Some(1), None, Some(1), Some(2)]);
        let view = |long_free| View {
            me: 1,
            live: &[1, 2],
            leases: &stored,
            gone: &[],
            shards: 4,
            long_free,
        };
        assert_eq!(view(&[]).moves(), Moves::default(), "member 2 is to take it");
        assert_eq!(view(&[1]).moves().take, vec![(1, Taking::Expired)]);
    }

    #[test]
    fn a_gone_members_shards_are_taken_at_once_by_the_others() {
        let mut owners = vec![Some(1), Some(2), Some(1), Some(2)];
        settle(&mut owners, &[1], &[2], 1);
        assert_eq!(owners, vec![Some(1); 4]);
    }

    proptest! {
        /// Whatever the members held before (some by members gone, some given back), every
        /// shard ends held once by a live member, each holding its even share.
        #[test]
        fn the_shards_settle_evenly_over_the_live_members(
            shards in 1u32..=16,
            members in 1usize..=5,
            gone_count in 0usize..=2,
            held in proptest::collection::vec(0usize..8, 16),
        ) {
            let live: Vec<i64> = (1..=members as i64).collect();
            let gone: Vec<i64> = (100..100 + gone_count as i64).collect();
            let everyone: Vec<i64> = live.iter().chain(&gone).copied().collect();
            let mut owners: Vec<Option<i64>> = (0..shards as usize)
                .map(|s| everyone.get(held[s]).copied())
                .collect();
            settle(&mut owners, &live, &gone, 2 * shards as usize + 2);
            prop_assert!(owners.iter().all(|o| o.is_some_and(|o| live.contains(&o))), "{owners:?}");
            for member in &live {
                let count = owners.iter().filter(|o| **o == Some(*member)).count() as u32;
                let even = share(shards, &live, *member);
                // A member keeps its last shard: with fewer shards than members one may hold
                // one more than its share, and another one less.
                prop_assert!(count == even || shards < members as u32, "{member}: {count} not {even}: {owners:?}");
            }
        }
    }
}
