//! Merging the shards' answers to one FT.SEARCH into the page the client gets. Pure.
//!
//! Each shard answers for its own slots: for a KNN its own k nearest (all of them, whatever
//! LIMIT says: any of them may be among the cluster's k nearest), otherwise the first
//! `offset + count` of its matches in the query's order, with its number of matches. The
//! coordinator orders the union the way one server would order all the documents — distance,
//! then SORTBY, ties by key — and pages once.

use std::cmp::Ordering;

use super::wire::{ShardHits, SortValue, WireHit};

/// How the hits of one query are put in order.
#[derive(Debug, Clone, PartialEq)]
pub struct MergePlan {
    /// KNN's k: the union is cut to the k nearest first.
    pub knn: Option<usize>,
    /// Order by each hit's `order` value (SORTBY, or a yielded range distance), this way up.
    pub ascending: Option<bool>,
    pub offset: usize,
    pub count: usize,
}

impl MergePlan {
    /// The page each shard is asked for: (offset, count).
    pub fn shard_page(&self) -> (u64, u64) {
        match self.knn {
            _ if self.count == 0 => (0, 0),
            Some(k) => (0, k as u64),
            None => (0, self.offset.saturating_add(self.count) as u64),
        }
    }
}

fn cmp_order(a: &SortValue, b: &SortValue, ascending: bool) -> Ordering {
    use SortValue::*;
    // Missing values sort last whichever the direction, as on one server.
    let o = match (a, b) {
        (Missing, Missing) => return Ordering::Equal,
        (Missing, _) => return Ordering::Greater,
        (_, Missing) => return Ordering::Less,
        (Num(x), Num(y)) => x.total_cmp(y),
        (Str(x), Str(y)) => x.cmp(y),
        (Num(_), Str(_)) => Ordering::Less,
        (Str(_), Num(_)) => Ordering::Greater,
    };
    if ascending {
        o
    } else {
        o.reverse()
    }
}

/// The total and the page, from the shards' answers in a fixed shard order.
pub fn merge(plan: &MergePlan, shards: Vec<ShardHits>) -> (u64, Vec<WireHit>) {
    let sum: u64 = shards.iter().map(|s| s.total).fold(0, u64::saturating_add);
    let mut hits: Vec<WireHit> = shards.into_iter().flat_map(|s| s.hits).collect();
    let total = match plan.knn {
        Some(k) => {
            hits.sort_by(|a, b| a.score.total_cmp(&b.score).then_with(|| a.key.cmp(&b.key)));
            hits.truncate(k);
            sum.min(k as u64)
        }
        None => sum,
    };
    if let Some(ascending) = plan.ascending {
        hits.sort_by(|a, b| {
            cmp_order(&a.order, &b.order, ascending).then_with(|| a.key.cmp(&b.key))
        });
    }
    let page = hits
        .into_iter()
        .skip(plan.offset)
        .take(plan.count)
        .collect();
    (total, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(key: &str, score: f64, order: SortValue) -> WireHit {
        WireHit {
            key: key.as_bytes().to_vec(),
            score,
            order,
            fields: Vec::new(),
            payload: None,
        }
    }

    fn keys(hits: &[WireHit]) -> Vec<&str> {
        hits.iter()
            .map(|h| std::str::from_utf8(&h.key).unwrap())
            .collect()
    }

    #[test]
    fn knn_keeps_the_k_nearest_of_the_union() {
        let plan = MergePlan {
            knn: Some(3),
            ascending: None,
            offset: 0,
            count: 10,
        };
        let a = ShardHits {
            total: 3,
            hits: vec![
                hit("a1", 0.1, SortValue::Missing),
                hit("a2", 0.5, SortValue::Missing),
                hit("a3", 0.9, SortValue::Missing),
            ],
        };
        let b = ShardHits {
            total: 2,
            hits: vec![
                hit("b1", 0.2, SortValue::Missing),
                hit("b0", 0.5, SortValue::Missing),
            ],
        };
        let (total, page) = merge(&plan, vec![a.clone(), b.clone()]);
        assert_eq!(total, 3);
        // Equal distances are ordered by key.
        assert_eq!(keys(&page), ["a1", "b1", "a2"]);
        assert_eq!(plan.shard_page(), (0, 3));
        // LIMIT applies after the cut to k.
        let plan = MergePlan {
            offset: 1,
            count: 1,
            ..plan
        };
        assert_eq!(keys(&merge(&plan, vec![a, b]).1), ["b1"]);
    }

    #[test]
    fn sortby_pages_after_the_merge() {
        let plan = MergePlan {
            knn: None,
            ascending: Some(false),
            offset: 1,
            count: 2,
        };
        assert_eq!(plan.shard_page(), (0, 3));
        let a = ShardHits {
            total: 40,
            hits: vec![
                hit("x", 1.0, SortValue::Num(9.0)),
                hit("y", 1.0, SortValue::Num(3.0)),
            ],
        };
        let b = ShardHits {
            total: 2,
            hits: vec![
                hit("z", 1.0, SortValue::Num(5.0)),
                hit("w", 1.0, SortValue::Missing),
            ],
        };
        let (total, page) = merge(&plan, vec![a, b]);
        assert_eq!(total, 42);
        assert_eq!(keys(&page), ["z", "y"]);
    }

    #[test]
    fn count_only_asks_the_shards_for_counts() {
        let plan = MergePlan {
            knn: Some(5),
            ascending: None,
            offset: 0,
            count: 0,
        };
        assert_eq!(plan.shard_page(), (0, 0));
        let s = |t| ShardHits {
            total: t,
            hits: Vec::new(),
        };
        assert_eq!(merge(&plan, vec![s(4), s(3)]).0, 5);
        let plan = MergePlan { knn: None, ..plan };
        assert_eq!(merge(&plan, vec![s(4), s(3)]).0, 7);
    }
}
