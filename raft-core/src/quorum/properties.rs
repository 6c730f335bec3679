//! The quorum arithmetic against naive re-implementations, over random configurations.
//! `RAFT_PROPTEST_CASES` sets the number of cases (default 512). (Unit tests, because the quorum
//! module is private to the core.)

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{JointConfig, MajorityConfig, VoteResult};

/// Number of proptest cases: `RAFT_PROPTEST_CASES` or the given CI default.
fn proptest_cases(default: u32) -> u32 {
    std::env::var("RAFT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Naive committed index: the largest value that at least a majority has reached, found by
/// trying every candidate value.
fn naive_committed(voters: &[u64], acked: &BTreeMap<u64, u64>) -> u64 {
    if voters.is_empty() {
        return u64::MAX;
    }
    let majority = voters.len() / 2 + 1;
    let candidates = voters.iter().map(|v| acked.get(v).copied().unwrap_or(0));
    candidates
        .filter(|&c| {
            voters
                .iter()
                .filter(|v| acked.get(v).copied().unwrap_or(0) >= c)
                .count()
                >= majority
        })
        .max()
        .unwrap_or(0)
}

/// Naive vote: won with a majority of grants, lost when the grants plus the missing answers
/// cannot reach one.
fn naive_vote(voters: &[u64], votes: &BTreeMap<u64, bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let majority = voters.len() / 2 + 1;
    let yes = voters
        .iter()
        .filter(|v| votes.get(v) == Some(&true))
        .count();
    let missing = voters.iter().filter(|v| !votes.contains_key(v)).count();
    if yes >= majority {
        VoteResult::Won
    } else if yes + missing >= majority {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

fn voters() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::btree_set(1u64..12, 0..9).prop_map(|s| s.into_iter().collect())
}

fn acks() -> impl Strategy<Value = BTreeMap<u64, u64>> {
    proptest::collection::btree_map(1u64..12, 0u64..20, 0..12)
}

fn votes() -> impl Strategy<Value = BTreeMap<u64, bool>> {
    proptest::collection::btree_map(1u64..12, any::<bool>(), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(512),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn majority_committed_index_matches_naive(v in voters(), a in acks()) {
        let c = MajorityConfig::new(v.iter().copied());
        prop_assert_eq!(c.committed_index(|id| a.get(&id).copied()), naive_committed(&v, &a));
    }

    #[test]
    fn majority_vote_matches_naive(v in voters(), votes in votes()) {
        let c = MajorityConfig::new(v.iter().copied());
        prop_assert_eq!(c.vote_result(|id| votes.get(&id).copied()), naive_vote(&v, &votes));
    }

    #[test]
    fn joint_is_the_lower_committed_and_needs_both_votes(
        a in voters(), b in voters(), acked in acks(), votes in votes()
    ) {
        let joint = JointConfig::new(MajorityConfig::new(a.clone()), MajorityConfig::new(b.clone()));
        let committed = joint.committed_index(|id| acked.get(&id).copied());
        prop_assert_eq!(committed, naive_committed(&a, &acked).min(naive_committed(&b, &acked)));
        let expected = match (naive_vote(&a, &votes), naive_vote(&b, &votes)) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        };
        prop_assert_eq!(joint.vote_result(|id| votes.get(&id).copied()), expected);
    }

    #[test]
    fn swapping_joint_halves_changes_nothing(
        a in voters(), b in voters(), acked in acks(), votes in votes()
    ) {
        let ab = JointConfig::new(MajorityConfig::new(a.clone()), MajorityConfig::new(b.clone()));
        let ba = JointConfig::new(MajorityConfig::new(b), MajorityConfig::new(a));
        prop_assert_eq!(
            ab.committed_index(|id| acked.get(&id).copied()),
            ba.committed_index(|id| acked.get(&id).copied())
        );
        prop_assert_eq!(
            ab.vote_result(|id| votes.get(&id).copied()),
            ba.vote_result(|id| votes.get(&id).copied())
        );
    }

    /// A change that ends at members M agrees with M whichever way it got there: the joint
    /// configuration (M, M) decides exactly as the simple configuration M does.
    #[test]
    fn simple_and_joint_configurations_of_the_same_members_agree(
        v in voters(), acked in acks(), votes in votes()
    ) {
        let simple = JointConfig::simple(v.iter().copied());
        let joint = JointConfig::new(MajorityConfig::new(v.iter().copied()), MajorityConfig::new(v.iter().copied()));
        prop_assert_eq!(
            simple.committed_index(|id| acked.get(&id).copied()),
            joint.committed_index(|id| acked.get(&id).copied())
        );
        prop_assert_eq!(
            simple.vote_result(|id| votes.get(&id).copied()),
            joint.vote_result(|id| votes.get(&id).copied())
        );
    }

    #[test]
    fn a_joint_config_with_an_empty_half_is_the_plain_majority(
        v in voters(), acked in acks(), votes in votes()
    ) {
        let simple = JointConfig::simple(v.iter().copied());
        let majority = MajorityConfig::new(v.iter().copied());
        prop_assert_eq!(
            simple.committed_index(|id| acked.get(&id).copied()),
            majority.committed_index(|id| acked.get(&id).copied())
        );
        prop_assert_eq!(
            simple.vote_result(|id| votes.get(&id).copied()),
            majority.vote_result(|id| votes.get(&id).copied())
        );
    }
}

/// Table cases that read like the definition.
#[test]
fn majority_examples() {
    // (voters, (voter, acknowledged index) pairs, expected committed index)
    type Case<'a> = (&'a [u64], &'a [(u64, u64)], u64);
    let cases: &[Case] = &[
        (&[1], &[(1, 5)], 5),
        (&[1, 2, 3], &[(1, 5), (2, 3), (3, 1)], 3),
        (&[1, 2, 3], &[(1, 5)], 0),
        (&[1, 2, 3, 4], &[(1, 9), (2, 9), (3, 2), (4, 2)], 2),
        (
            &[1, 2, 3, 4, 5],
            &[(1, 7), (2, 7), (3, 7), (4, 1), (5, 1)],
            7,
        ),
    ];
    for (voters, acked, expected) in cases {
        let c = MajorityConfig::new(voters.iter().copied());
        let acked: BTreeMap<u64, u64> = acked.iter().copied().collect();
        assert_eq!(
            c.committed_index(|id| acked.get(&id).copied()),
            *expected,
            "{voters:?} {acked:?}"
        );
    }
    assert_eq!(
        MajorityConfig::default().committed_index(|_| None),
        u64::MAX
    );
    assert_eq!(
        MajorityConfig::default().vote_result(|_| None),
        VoteResult::Won
    );
}
