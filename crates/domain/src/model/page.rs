//! Paging: `?limit=` (1-500, default 50) and `?offset=` (>= 0).

use serde::Serialize;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub offset: u64,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;

    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Self, (&'static str, String)> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT as i64);
        if !(1..=Self::MAX_LIMIT as i64).contains(&limit) {
            return Err(("limit", format!("must be 1 to {}", Self::MAX_LIMIT)));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(("offset", "must be >= 0".into()));
        }
        Ok(PageRequest {
            limit: limit as u32,
            offset: offset as u64,
        })
    }

    /// Applies this page to an already filtered and sorted list.
    pub fn slice<T: Clone>(&self, all: &[T]) -> Page<T> {
        let start = (self.offset as usize).min(all.len());
        let end = (start + self.limit as usize).min(all.len());
        Page {
            items: all[start..end].to_vec(),
            total: all.len() as u64,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list, with the total number of matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

impl<T> Page<T> {
    /// The same page (total, limit, offset) with other items: what the items became.
    pub fn with_items<U>(self, items: Vec<U>) -> Page<U> {
        Page {
            items,
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}
