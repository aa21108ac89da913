//! The category tree (ADR 0018): categories with a parent, a slug unique among siblings,
//! and no cycles. Products belong to many of them ([`super::Product::categories`]).
//!
//! The whole tree is one value, [`CategoryTree`], read and written as one unit with a
//! version: every rule that spans nodes (sibling slugs, cycles) is checked on a complete,
//! current tree, and a write that raced another one fails its version check instead of
//! breaking a rule. Shops have hundreds to a few thousand categories, so the tree is
//! small enough to hold whole ([`MAX_CATEGORIES`]).

use super::{now, CategoryId, Name, Timestamp};
use crate::error::{Error, Result, Violations};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The most categories one shop may have.
pub const MAX_CATEGORIES: usize = 10_000;
/// The most categories one product may be in.
pub const MAX_PRODUCT_CATEGORIES: usize = 50;
/// The deepest a category may sit (a root is at depth 1).
pub const MAX_DEPTH: usize = 16;

/// A category's URL name: 1-100 characters of lower-case letters, digits and single
/// hyphens between them (`gaming-laptops`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(value: impl Into<String>) -> std::result::Result<Slug, String> {
        let value = value.into();
        let well_formed = !value.is_empty()
            && value.len() <= 100
            && value.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            });
        if well_formed {
            Ok(Slug(value))
        } else {
            Err("must be 1-100 characters of a-z, 0-9 and single hyphens between them".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = String;
    fn try_from(value: String) -> std::result::Result<Slug, String> {
        Slug::parse(value)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One category of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryNode {
    pub id: CategoryId,
    pub name: Name,
    pub slug: Slug,
    /// `None` for a root.
    pub parent_id: Option<CategoryId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Raw category fields as a client sent them. `parent_id`: outer `None` absent,
/// `Some(None)` explicitly null (a root).
#[derive(Debug, Clone, Default)]
pub struct CategoryInput {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub parent_id: Option<Option<String>>,
}

/// The whole tree, as stored, with the version it was read at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryTree {
    /// Moves on by one with every write; a write names the version it started from.
    pub version: u64,
    /// Oldest first.
    pub nodes: Vec<CategoryNode>,
}

/// Which products `?category=` selects: those whose primary `category` is one of `names`,
/// or that belong to one of `ids` (a category and all its descendants).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryScope {
    pub names: Vec<String>,
    pub ids: Vec<CategoryId>,
}

fn parse_parent(v: &mut Violations, raw: Option<String>) -> Option<Option<CategoryId>> {
    match raw {
        None => Some(None),
        Some(text) => match text.parse::<CategoryId>() {
            Ok(id) => Some(Some(id)),
            Err(_) => {
                v.push("parent_id", "must be a category id (UUID) or null");
                None
            }
        },
    }
}

impl CategoryTree {
    pub fn get(&self, id: CategoryId) -> Option<&CategoryNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    fn parents(&self) -> HashMap<CategoryId, Option<CategoryId>> {
        self.nodes.iter().map(|n| (n.id, n.parent_id)).collect()
    }

    /// The ids from the root down to `id` (empty for an unknown id). Stops at a cycle
    /// rather than looping, though the tree's writes never make one.
    pub fn lineage(&self, id: CategoryId) -> Vec<CategoryId> {
        let parents = self.parents();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut current = Some(id);
        while let Some(c) = current {
            if !seen.insert(c) || !parents.contains_key(&c) {
                break;
            }
            out.push(c);
            current = parents[&c];
        }
        out.reverse();
        out
    }

    /// `electronics/computers/laptops`: the slugs from the root down.
    pub fn path(&self, id: CategoryId) -> String {
        self.lineage(id)
            .iter()
            .filter_map(|c| self.get(*c).map(|n| n.slug.as_str()))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// `id` and every category below it.
    pub fn subtree(&self, id: CategoryId) -> Vec<CategoryId> {
        let mut children: HashMap<CategoryId, Vec<CategoryId>> = HashMap::new();
        for n in &self.nodes {
            if let Some(p) = n.parent_id {
                children.entry(p).or_default().push(n.id);
            }
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![id];
        while let Some(c) = stack.pop() {
            if seen.insert(c) && self.get(c).is_some() {
                out.push(c);
                stack.extend(children.get(&c).into_iter().flatten().copied());
            }
        }
        out
    }

    /// The categories a client's reference names: the one with that id, or every one
    /// with that slug (slugs are unique among siblings only).
    pub fn resolve(&self, reference: &str) -> Vec<CategoryId> {
        if let Ok(id) = reference.parse::<CategoryId>() {
            return self.get(id).map(|n| vec![n.id]).unwrap_or_default();
        }
        self.nodes
            .iter()
            .filter(|n| n.slug.as_str() == reference)
            .map(|n| n.id)
            .collect()
    }

    /// The categories of a product as a client named them (ids or slugs), each naming
    /// exactly one category; problems are reported under `field`.
    pub fn resolve_all(&self, field: &str, references: &[String]) -> Result<Vec<CategoryId>> {
        let mut v = Violations::new();
        let mut out: Vec<CategoryId> = Vec::new();
        for (i, reference) in references.iter().enumerate() {
            match self.resolve(reference).as_slice() {
                [] => v.push(
                    format!("{field}[{i}]"),
                    format!("no category `{reference}`"),
                ),
                [one] => {
                    if !out.contains(one) {
                        out.push(*one);
                    }
                }
                many => v.push(
                    format!("{field}[{i}]"),
                    format!(
                        "`{reference}` is the slug of {} categories; give the id",
                        many.len()
                    ),
                ),
            }
        }
        v.finish()?;
        Ok(out)
    }

    /// The category a product's primary `category` stands for: the one category with
    /// that slug, if exactly one has it (a slug shared by categories in different
    /// branches stands for none of them).
    pub fn by_unique_slug(&self, name: &str) -> Option<CategoryId> {
        let mut found = self.nodes.iter().filter(|n| n.slug.as_str() == name);
        match (found.next(), found.next()) {
            (Some(one), None) => Some(one.id),
            _ => None,
        }
    }

    /// What `?category=<reference>` selects: the categories it names and their
    /// descendants, and the primary `category` names equal to the reference or to the
    /// slug of any of them that [`CategoryTree::by_unique_slug`] maps back to it. `None` when the reference names no category (the filter then matches
    /// the primary `category` alone, as before categories were a tree).
    pub fn scope(&self, reference: &str) -> Option<CategoryScope> {
        let named = self.resolve(reference);
        if named.is_empty() {
            return None;
        }
        let mut ids: Vec<CategoryId> = Vec::new();
        for id in named {
            for c in self.subtree(id) {
                if !ids.contains(&c) {
                    ids.push(c);
                }
            }
        }
        let mut names = vec![reference.to_owned()];
        for id in &ids {
            if let Some(n) = self.get(*id) {
                let stands_for_it = self.by_unique_slug(n.slug.as_str()) == Some(n.id);
                if stands_for_it && !names.iter().any(|x| x == n.slug.as_str()) {
                    names.push(n.slug.as_str().to_owned());
                }
            }
        }
        Some(CategoryScope { names, ids })
    }

    fn check_slug_free(
        &self,
        slug: &Slug,
        parent: Option<CategoryId>,
        except: Option<CategoryId>,
    ) -> Result<()> {
        let taken = self
            .nodes
            .iter()
            .any(|n| n.parent_id == parent && &n.slug == slug && Some(n.id) != except);
        if taken {
            return Err(Error::Conflict(format!(
                "a sibling category already has the slug `{slug}`"
            )));
        }
        Ok(())
    }

    fn check_parent(&self, parent: Option<CategoryId>, moving: Option<CategoryId>) -> Result<()> {
        let Some(parent) = parent else { return Ok(()) };
        if self.get(parent).is_none() {
            return Err(Error::invalid(
                "parent_id",
                format!("category {parent} does not exist"),
            ));
        }
        if let Some(moving) = moving {
            if self.lineage(parent).contains(&moving) {
                return Err(Error::invalid(
                    "parent_id",
                    "would make a cycle: the parent is the category itself or one of its descendants",
                ));
            }
        }
        let depth = self.lineage(parent).len() + moving.map_or(1, |m| self.subtree_height(m));
        if depth > MAX_DEPTH {
            return Err(Error::invalid(
                "parent_id",
                format!("the tree may be at most {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    /// Levels from `id` down to its deepest descendant (1 for a leaf).
    fn subtree_height(&self, id: CategoryId) -> usize {
        let base = self.lineage(id).len();
        self.subtree(id)
            .into_iter()
            .map(|c| self.lineage(c).len() + 1 - base)
            .max()
            .unwrap_or(1)
    }

    /// Adds a new category: `name` and `slug` required, `parent_id` optional.
    pub fn add(&mut self, input: CategoryInput) -> Result<CategoryNode> {
        let mut v = Violations::new();
        let name = match input.name {
            Some(n) => v.check("name", Name::parse(n)),
            None => {
                v.push("name", "is required");
                None
            }
        };
        let slug = match input.slug {
            Some(s) => v.check("slug", Slug::parse(s)),
            None => {
                v.push("slug", "is required");
                None
            }
        };
        let parent = parse_parent(&mut v, input.parent_id.flatten());
        let (name, slug, parent_id) = v.finish_with((name, slug, parent))?;
        if self.nodes.len() >= MAX_CATEGORIES {
            return Err(Error::invalid(
                "request",
                format!("a shop may have at most {MAX_CATEGORIES} categories"),
            ));
        }
        self.check_parent(parent_id, None)?;
        self.check_slug_free(&slug, parent_id, None)?;
        let at = now();
        let node = CategoryNode {
            id: CategoryId::new(),
            name,
            slug,
            parent_id,
            created_at: at,
            updated_at: at,
        };
        self.nodes.push(node.clone());
        Ok(node)
    }

    /// Changes the fields given; moving under a descendant (or itself) is 422.
    pub fn update(&mut self, id: CategoryId, input: CategoryInput) -> Result<CategoryNode> {
        let current = self.get(id).cloned().ok_or(Error::NotFound("category"))?;
        let mut v = Violations::new();
        let name = input.name.map(|n| v.check("name", Name::parse(n)));
        let slug = input.slug.map(|s| v.check("slug", Slug::parse(s)));
        let parent = input.parent_id.map(|p| parse_parent(&mut v, p));
        v.finish()?;
        let mut node = current.clone();
        if let Some(Some(name)) = name {
            node.name = name;
        }
        if let Some(Some(slug)) = slug {
            node.slug = slug;
        }
        if let Some(Some(parent)) = parent {
            node.parent_id = parent;
        }
        if node.parent_id != current.parent_id {
            self.check_parent(node.parent_id, Some(id))?;
        }
        self.check_slug_free(&node.slug, node.parent_id, Some(id))?;
        node.updated_at = now();
        if let Some(slot) = self.nodes.iter_mut().find(|n| n.id == id) {
            *slot = node.clone();
        }
        Ok(node)
    }

    /// Removes a category without children (409 while it has some: they would lose
    /// their place in the tree).
    pub fn remove(&mut self, id: CategoryId) -> Result<CategoryNode> {
        let node = self.get(id).cloned().ok_or(Error::NotFound("category"))?;
        if self.nodes.iter().any(|n| n.parent_id == Some(id)) {
            return Err(Error::Conflict(format!(
                "category `{}` has subcategories; move or delete them first",
                node.slug
            )));
        }
        self.nodes.retain(|n| n.id != id);
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, slug: &str, parent: Option<CategoryId>) -> CategoryInput {
        CategoryInput {
            name: Some(name.into()),
            slug: Some(slug.into()),
            parent_id: Some(parent.map(|p| p.to_string())),
        }
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("gaming-laptops-2").is_ok());
        for bad in ["", "Caps", "two--hyphens", "-lead", "trail-", "sp ace", "ü"] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tree_keeps_its_rules() {
        let mut tree = CategoryTree::default();
        let root = tree.add(input("Electronics", "electronics", None)).unwrap();
        let comp = tree
            .add(input("Computers", "computers", Some(root.id)))
            .unwrap();
        let laptops = tree
            .add(input("Laptops", "laptops", Some(comp.id)))
            .unwrap();
        assert_eq!(tree.path(laptops.id), "electronics/computers/laptops");
        // Slugs are unique among siblings only.
        assert!(matches!(
            tree.add(input("C", "computers", Some(root.id))),
            Err(Error::Conflict(_))
        ));
        let other = tree.add(input("Other", "computers", None)).unwrap();
        assert_eq!(tree.resolve("computers").len(), 2);
        // No cycles: not under itself, not under a descendant.
        for parent in [comp.id, laptops.id] {
            let moved = tree.update(
                comp.id,
                CategoryInput {
                    parent_id: Some(Some(parent.to_string())),
                    ..Default::default()
                },
            );
            assert!(matches!(moved, Err(Error::Validation(_))), "{moved:?}");
        }
        // The scope of a category holds its descendants.
        let scope = tree.scope(&root.id.to_string()).unwrap();
        assert_eq!(scope.ids.len(), 3);
        assert!(scope.names.contains(&"laptops".to_owned()));
        assert!(!scope.ids.contains(&other.id));
        assert!(tree.scope("nothing-here").is_none());
        // A category with children cannot go.
        assert!(matches!(tree.remove(comp.id), Err(Error::Conflict(_))));
        tree.remove(laptops.id).unwrap();
        tree.remove(comp.id).unwrap();
    }

    #[test]
    fn depth_is_bounded() {
        let mut tree = CategoryTree::default();
        let mut parent = None;
        for i in 0..MAX_DEPTH {
            parent = Some(tree.add(input("n", &format!("n{i}"), parent)).unwrap().id);
        }
        assert!(matches!(
            tree.add(input("n", "deep", parent)),
            Err(Error::Validation(_))
        ));
    }
}
