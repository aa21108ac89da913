//! The category tree's use cases (ADR 0018). Every write reads the whole tree, applies
//! one change under the tree's rules, and stores it with a compare-and-set on its version,
//! retrying from a fresh read when another write came first.

use crate::error::{Error, Result};
use crate::model::{
    CategoryId, CategoryInput, CategoryNode, CategoryTree, Page, PageRequest, ProductQuery,
};
use crate::ports::Stores;
use std::collections::HashMap;
use std::time::Duration;

/// How often a write is tried again after losing the compare-and-set to another write.
const WRITE_ATTEMPTS: u32 = 64;

/// A category with what the listing shows besides its own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryView {
    pub node: CategoryNode,
    /// Slugs from the root down, `/`-separated.
    pub path: String,
    /// Products that name this category in their `categories`.
    pub product_count: u64,
}

/// Creates, reads, moves and deletes categories, and resolves the references products
/// and product filters make to them.
#[derive(Clone)]
pub struct CategoryService {
    stores: Stores,
}

impl CategoryService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// Runs `change` on the current tree and stores the result; on a lost race, again on
    /// a fresh read (so the rules are always checked against what is stored).
    async fn write<T>(&self, change: impl Fn(&mut CategoryTree) -> Result<T>) -> Result<T> {
        for attempt in 0..WRITE_ATTEMPTS {
            let mut tree = self.stores.categories.tree().await?;
            let out = change(&mut tree)?;
            tree.version += 1;
            if self.stores.categories.save_tree(&tree).await? {
                return Ok(out);
            }
            // Back off a little, more as contention persists, with jitter from the clock.
            let jitter = u64::from(crate::model::now().timestamp_subsec_millis() % 7);
            tokio::time::sleep(Duration::from_millis(
                1 + u64::from(attempt.min(20)) + jitter,
            ))
            .await;
        }
        Err(Error::Unavailable(
            "the category tree is changing too fast to write; try again".into(),
        ))
    }

    async fn view(&self, tree: &CategoryTree, node: CategoryNode) -> Result<CategoryView> {
        let counts: HashMap<CategoryId, u64> = self
            .stores
            .categories
            .product_counts()
            .await?
            .into_iter()
            .collect();
        Ok(CategoryView {
            path: tree.path(node.id),
            product_count: counts.get(&node.id).copied().unwrap_or(0),
            node,
        })
    }

    #[tracing::instrument(name = "categories.create", skip_all)]
    pub async fn create(&self, input: CategoryInput) -> Result<CategoryView> {
        let node = self.write(|tree| tree.add(input.clone())).await?;
        let tree = self.stores.categories.tree().await?;
        self.view(&tree, node).await
    }

    #[tracing::instrument(name = "categories.get", skip(self))]
    pub async fn get(&self, id: CategoryId) -> Result<CategoryView> {
        let tree = self.stores.categories.tree().await?;
        let node = tree.get(id).cloned().ok_or(Error::NotFound("category"))?;
        self.view(&tree, node).await
    }

    /// Every category, flat, in tree order (each parent before its children, siblings by
    /// creation), paged.
    #[tracing::instrument(name = "categories.list", skip(self))]
    pub async fn list(&self, page: PageRequest) -> Result<Page<CategoryView>> {
        let tree = self.stores.categories.tree().await?;
        let counts: HashMap<CategoryId, u64> = self
            .stores
            .categories
            .product_counts()
            .await?
            .into_iter()
            .collect();
        let mut views: Vec<CategoryView> = tree
            .nodes
            .iter()
            .map(|n| CategoryView {
                path: tree.path(n.id),
                product_count: counts.get(&n.id).copied().unwrap_or(0),
                node: n.clone(),
            })
            .collect();
        let order: HashMap<CategoryId, usize> = tree
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id, i))
            .collect();
        let key = |v: &CategoryView| -> Vec<usize> {
            tree.lineage(v.node.id).iter().map(|c| order[c]).collect()
        };
        views.sort_by_key(key);
        Ok(page.slice(&views))
    }

    #[tracing::instrument(name = "categories.update", skip(self, input))]
    pub async fn update(&self, id: CategoryId, input: CategoryInput) -> Result<CategoryView> {
        let node = self.write(|tree| tree.update(id, input.clone())).await?;
        let tree = self.stores.categories.tree().await?;
        self.view(&tree, node).await
    }

    /// Deletes a category. While products name it: 409, unless `reassign_to` names
    /// another category, which they are moved to first.
    #[tracing::instrument(name = "categories.delete", skip(self))]
    pub async fn delete(&self, id: CategoryId, reassign_to: Option<&str>) -> Result<u64> {
        let tree = self.stores.categories.tree().await?;
        let node = tree.get(id).cloned().ok_or(Error::NotFound("category"))?;
        let target = match reassign_to {
            None => None,
            Some(reference) => match tree.resolve(reference).as_slice() {
                [one] if *one != id => Some(*one),
                [_] => {
                    return Err(Error::invalid(
                        "reassign_to",
                        "must name another category than the one deleted",
                    ))
                }
                [] => {
                    return Err(Error::invalid(
                        "reassign_to",
                        format!("no category `{reference}`"),
                    ))
                }
                _ => {
                    return Err(Error::invalid(
                        "reassign_to",
                        format!("`{reference}` is the slug of several categories; give the id"),
                    ))
                }
            },
        };
        if tree.nodes.iter().any(|n| n.parent_id == Some(id)) {
            return Err(Error::Conflict(format!(
                "category `{}` has subcategories; move or delete them first",
                node.slug
            )));
        }
        let moved = match target {
            Some(to) => self.stores.categories.reassign_products(id, to).await?,
            None => {
                let used = self
                    .stores
                    .categories
                    .product_counts()
                    .await?
                    .into_iter()
                    .find(|(c, _)| *c == id)
                    .map_or(0, |(_, n)| n);
                if used > 0 {
                    return Err(Error::Conflict(format!(
                        "{used} product(s) are in category `{}`; delete with ?reassign_to=<id> to move them",
                        node.slug
                    )));
                }
                0
            }
        };
        self.write(|tree| tree.remove(id)).await?;
        Ok(moved)
    }

    /// The ids of the categories a product's input names (ids or slugs, each naming one
    /// category); 422 under `categories[i]` otherwise.
    pub async fn resolve(&self, references: &[String]) -> Result<Vec<CategoryId>> {
        if references.is_empty() {
            return Ok(Vec::new());
        }
        if references.len() > crate::model::MAX_PRODUCT_CATEGORIES {
            return Err(Error::invalid(
                "categories",
                format!(
                    "at most {} categories",
                    crate::model::MAX_PRODUCT_CATEGORIES
                ),
            ));
        }
        let tree = self.stores.categories.tree().await?;
        tree.resolve_all("categories", references)
    }

    /// Fills in what `?category=` selects when it names categories of the tree: those
    /// categories, their descendants, and primary categories named by their slugs.
    pub async fn scope(&self, query: &mut ProductQuery) -> Result<()> {
        if let Some(reference) = &query.category {
            let tree = self.stores.categories.tree().await?;
            query.category_scope = tree.scope(reference);
        }
        Ok(())
    }
}
