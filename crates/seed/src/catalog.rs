//! The catalog side of a seeded shop: suppliers, the category tree, warehouses, and
//! products with nested attributes, variants and their stock per warehouse.

use crate::random::{before, id_at, millis, weighted};
use emporium_domain::model::{
    parse_attributes, Category, CategoryId, CategoryNode, CategoryTree, Contact, Currency,
    Description, Money, Name, Product, ProductId, Region, Sku, Slug, StockLoad, Supplier,
    SupplierId, Tag, Timestamp, Units, Variant, Warehouse, WarehouseCode, WarehouseId,
};
use fake::faker::address::en::{CityName, StateName};
use fake::faker::company::en::CompanyName;
use fake::faker::lorem::en::Sentence;
use fake::faker::phone_number::en::PhoneNumber;
use fake::Fake;
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// What kind of goods a leaf category holds: it decides names, attributes and variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Computers,
    Audio,
    Apparel,
    Shoes,
    Furniture,
    Kitchen,
    Books,
    Sports,
}

/// A leaf of the tree as written here: name, slug, family.
type LeafSpec = (&'static str, &'static str, Family);

/// The tree: roots (name, slug), each with its leaves and the family of goods they hold.
const TREE: &[(&str, &str, &[LeafSpec])] = &[
    (
        "Electronics",
        "electronics",
        &[
            ("Laptops", "laptops", Family::Computers),
            ("Monitors", "monitors", Family::Computers),
            ("Keyboards and Mice", "keyboards-mice", Family::Computers),
            ("Headphones", "headphones", Family::Audio),
            ("Speakers", "speakers", Family::Audio),
        ],
    ),
    (
        "Fashion",
        "fashion",
        &[
            ("Shirts", "shirts", Family::Apparel),
            ("Jackets", "jackets", Family::Apparel),
            ("Knitwear", "knitwear", Family::Apparel),
            ("Sneakers", "sneakers", Family::Shoes),
            ("Boots", "boots", Family::Shoes),
        ],
    ),
    (
        "Home",
        "home",
        &[
            ("Chairs", "chairs", Family::Furniture),
            ("Tables", "tables", Family::Furniture),
            ("Lighting", "lighting", Family::Furniture),
            ("Cookware", "cookware", Family::Kitchen),
            ("Tableware", "tableware", Family::Kitchen),
        ],
    ),
    (
        "Books",
        "books",
        &[
            ("Fiction", "fiction", Family::Books),
            ("Science", "science", Family::Books),
            ("Cooking", "cooking-books", Family::Books),
            ("Travel", "travel", Family::Books),
        ],
    ),
    (
        "Sports",
        "sports",
        &[
            ("Running", "running", Family::Sports),
            ("Cycling", "cycling", Family::Sports),
            ("Camping", "camping", Family::Sports),
            ("Yoga", "yoga", Family::Sports),
        ],
    ),
];

/// A leaf category products are put in.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub id: CategoryId,
    pub slug: String,
    pub noun: &'static str,
    pub family: Family,
}

/// What an order needs of a product.
#[derive(Debug, Clone)]
pub(crate) struct ProductSummary {
    pub id: ProductId,
    pub sku: Sku,
    pub name: Name,
    pub category: Category,
    pub supplier_id: Option<SupplierId>,
    pub price: Money,
}

const BRANDS: &[&str] = &[
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Contoso",
    "Fabrikam",
    "Tyrell",
    "Soylent",
    "Wonka",
    "Oceanic",
    "Aperture",
];
const COLORS: &[&str] = &[
    "black", "white", "navy", "grey", "olive", "red", "sand", "forest", "charcoal", "blue",
];
const ADJECTIVES: &[&str] = &[
    "Classic",
    "Modern",
    "Compact",
    "Deluxe",
    "Essential",
    "Premium",
    "Lightweight",
    "Rugged",
    "Slim",
    "Everyday",
    "Pro",
    "Vintage",
    "Eco",
    "Ultra",
    "Smart",
];
const REGIONS: &[&str] = &["EU", "NA", "APAC", "LATAM", "UK"];

fn nouns(slug: &str) -> &'static str {
    match slug {
        "laptops" => "Laptop",
        "monitors" => "Monitor",
        "keyboards-mice" => "Keyboard",
        "headphones" => "Headphones",
        "speakers" => "Speaker",
        "shirts" => "Shirt",
        "jackets" => "Jacket",
        "knitwear" => "Sweater",
        "sneakers" => "Sneaker",
        "boots" => "Boot",
        "chairs" => "Chair",
        "tables" => "Table",
        "lighting" => "Lamp",
        "cookware" => "Pan",
        "tableware" => "Plate Set",
        "fiction" => "Novel",
        "science" => "Handbook",
        "cooking-books" => "Cookbook",
        "travel" => "Guide",
        "running" => "Running Vest",
        "cycling" => "Bike Light",
        "camping" => "Tent",
        _ => "Yoga Mat",
    }
}

fn parse<T>(what: &str, r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("generated {what} is invalid: {e}"))
}

/// The category tree: 5 roots and 23 leaves, created a little before everything else.
pub(crate) fn category_tree(rng: &mut ChaCha8Rng, end: Timestamp) -> (CategoryTree, Vec<Leaf>) {
    let at = before(rng, end, 900.0, 901.0);
    let mut nodes = Vec::new();
    let mut leaves = Vec::new();
    for (name, slug, children) in TREE {
        let root = CategoryId::from_uuid(id_at(rng, at));
        nodes.push(CategoryNode {
            id: root,
            name: parse("category name", Name::parse(*name)),
            slug: parse("slug", Slug::parse(*slug)),
            parent_id: None,
            created_at: at,
            updated_at: at,
        });
        for (name, slug, family) in *children {
            let id = CategoryId::from_uuid(id_at(rng, at));
            nodes.push(CategoryNode {
                id,
                name: parse("category name", Name::parse(*name)),
                slug: parse("slug", Slug::parse(*slug)),
                parent_id: Some(root),
                created_at: at,
                updated_at: at,
            });
            leaves.push(Leaf {
                id,
                slug: (*slug).to_owned(),
                noun: nouns(slug),
                family: *family,
            });
        }
    }
    (CategoryTree { version: 0, nodes }, leaves)
}

/// `n` suppliers with a company name, a contact and a region.
pub(crate) fn suppliers(rng: &mut ChaCha8Rng, n: u32, end: Timestamp) -> Vec<Supplier> {
    (0..n)
        .map(|i| {
            let at = before(rng, end, 850.0, 900.0);
            let company: String = CompanyName().fake_with_rng(rng);
            let domain: String = company
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_lowercase();
            Supplier {
                id: SupplierId::from_uuid(id_at(rng, at)),
                name: parse(
                    "supplier name",
                    Name::parse(format!("{company} #{}", i + 1)),
                ),
                contact: Contact {
                    email: Some(format!("sales@{domain}.example")),
                    phone: Some(PhoneNumber().fake_with_rng(rng)),
                },
                region: parse(
                    "region",
                    Region::parse(*REGIONS.choose(rng).expect("regions")),
                ),
                created_at: at,
                updated_at: at,
            }
        })
        .collect()
}

/// Four regional warehouses besides the built-in default.
pub(crate) fn warehouses(rng: &mut ChaCha8Rng, end: Timestamp) -> Vec<Warehouse> {
    [
        ("north", "EU"),
        ("south", "EU"),
        ("east", "APAC"),
        ("west", "NA"),
    ]
    .iter()
    .map(|(code, region)| {
        let at = before(rng, end, 899.0, 900.0);
        let city: String = CityName().fake_with_rng(rng);
        Warehouse {
            id: WarehouseId::from_uuid(id_at(rng, at)),
            code: parse("warehouse code", WarehouseCode::parse(*code)),
            name: parse(
                "warehouse name",
                Name::parse(format!("{city} fulfilment centre")),
            ),
            region: parse("region", Region::parse(*region)),
            created_at: at,
        }
    })
    .collect()
}

fn attributes(rng: &mut ChaCha8Rng, family: Family, brand: &str) -> Value {
    match family {
        Family::Computers => json!({
            "brand": brand,
            "cpu": *["i5", "i7", "i9", "Ryzen 5", "Ryzen 7", "M3"].choose(rng).expect("cpus"),
            "ram_gb": *[8, 16, 32, 64].choose(rng).expect("ram"),
            "display": {
                "size_in": *[13.3, 14.0, 15.6, 24.0, 27.0].choose(rng).expect("sizes"),
                "resolution": *["1920x1080", "2560x1440", "3840x2160"].choose(rng).expect("res"),
            },
            "warranty_years": rng.random_range(1..4),
        }),
        Family::Audio => json!({
            "brand": brand,
            "wireless": rng.random_bool(0.7),
            "battery_hours": rng.random_range(8..60),
            "drivers": {"size_mm": *[6, 10, 40, 50].choose(rng).expect("drivers"), "count": rng.random_range(1..3)},
        }),
        Family::Apparel => json!({
            "brand": brand,
            "material": *["cotton", "wool", "linen", "polyester", "merino"].choose(rng).expect("materials"),
            "fit": *["slim", "regular", "relaxed"].choose(rng).expect("fits"),
            "care": {"wash_c": *[30, 40, 60].choose(rng).expect("wash"), "tumble_dry": rng.random_bool(0.5)},
        }),
        Family::Shoes => json!({
            "brand": brand,
            "upper": *["leather", "mesh", "suede", "canvas"].choose(rng).expect("uppers"),
            "sole": {"material": *["rubber", "EVA", "vibram"].choose(rng).expect("soles"), "drop_mm": rng.random_range(0..12)},
            "waterproof": rng.random_bool(0.3),
        }),
        Family::Furniture => json!({
            "brand": brand,
            "material": *["oak", "walnut", "steel", "bamboo", "pine"].choose(rng).expect("materials"),
            "dimensions": {
                "width_cm": rng.random_range(30..200),
                "depth_cm": rng.random_range(30..100),
                "height_cm": rng.random_range(40..190),
            },
            "assembly_required": rng.random_bool(0.6),
        }),
        Family::Kitchen => json!({
            "brand": brand,
            "material": *["cast iron", "stainless steel", "ceramic", "porcelain"].choose(rng).expect("materials"),
            "dishwasher_safe": rng.random_bool(0.7),
            "pieces": rng.random_range(1..13),
        }),
        Family::Books => json!({
            "author": format!("{} {}",
                fake::faker::name::en::FirstName().fake_with_rng::<String, _>(rng),
                fake::faker::name::en::LastName().fake_with_rng::<String, _>(rng)),
            "pages": rng.random_range(90..900),
            "language": *["en", "de", "fr", "es"].choose(rng).expect("languages"),
            "publisher": {"name": format!("{brand} Press"), "year": rng.random_range(1990..2027)},
        }),
        Family::Sports => json!({
            "brand": brand,
            "weight_g": rng.random_range(80..4000),
            "level": *["beginner", "intermediate", "pro"].choose(rng).expect("levels"),
        }),
    }
}

fn variants(rng: &mut ChaCha8Rng, family: Family, sku: &str) -> Vec<Variant> {
    let options: Vec<Value> = match family {
        Family::Apparel => ["S", "M", "L", "XL"]
            .iter()
            .map(|s| json!({"size": s}))
            .collect(),
        Family::Shoes => (40..46).map(|s| json!({"size_eu": s})).collect(),
        Family::Computers | Family::Audio if rng.random_bool(0.5) => {
            COLORS[..3].iter().map(|c| json!({"color": c})).collect()
        }
        _ => Vec::new(),
    };
    options
        .into_iter()
        .enumerate()
        .map(|(i, attrs)| Variant {
            sku: parse("variant sku", Sku::parse(format!("{sku}-V{}", i + 1))),
            attributes: parse("variant attributes", parse_attributes(attrs)),
        })
        .collect()
}

/// A price in cents between 4.99 and about 2,000, most of them below 100, most ending in .99.
fn price(rng: &mut ChaCha8Rng, family: Family) -> Money {
    let (low, high): (f64, f64) = match family {
        Family::Computers => (40.0, 2500.0),
        Family::Furniture => (30.0, 1200.0),
        Family::Books => (6.0, 60.0),
        _ => (5.0, 400.0),
    };
    let value = (low.ln() + rng.random::<f64>() * (high.ln() - low.ln())).exp();
    let cents = if rng.random_bool(0.7) {
        (value.floor() as i64) * 100 + 99
    } else {
        (value * 100.0).round() as i64
    };
    parse("price", Money::new(Decimal::new(cents, 2), Currency::USD))
}

/// Everything one generated product brings: the document, its stock split, and what
/// orders need of it.
pub(crate) struct GeneratedProduct {
    pub product: Product,
    pub stock: StockLoad,
    pub summary: ProductSummary,
}

/// Products numbered from `first`, in `leaves`, from `suppliers`, stocked in `warehouses`.
pub(crate) struct ProductFactory {
    pub rng: ChaCha8Rng,
    pub end: Timestamp,
    pub leaves: Vec<Leaf>,
    pub suppliers: Vec<SupplierId>,
    /// The default warehouse first.
    pub warehouses: Vec<WarehouseId>,
}

impl ProductFactory {
    pub(crate) fn make(&mut self, n: u32) -> GeneratedProduct {
        let rng = &mut self.rng;
        let at = before(rng, self.end, 400.0, 850.0);
        let leaf = self.leaves.choose(rng).expect("leaves").clone();
        let brand = *BRANDS.choose(rng).expect("brands");
        let adjective = *ADJECTIVES.choose(rng).expect("adjectives");
        let color = *COLORS.choose(rng).expect("colors");
        let sku = format!("SKU-{:07}", n + 1);
        let name = format!("{brand} {adjective} {} {}", leaf.noun, n + 1);
        let sentence: String = Sentence(6..14).fake_with_rng(rng);
        let description = format!(
            "The {} {} from {brand}, in {color}. {sentence}",
            adjective.to_lowercase(),
            leaf.noun.to_lowercase()
        );
        let supplier = self.suppliers.choose(rng).copied();
        let mut categories = vec![leaf.id];
        if rng.random_bool(0.15) {
            let other = self.leaves.choose(rng).expect("leaves");
            if other.id != leaf.id {
                categories.push(other.id);
            }
        }
        let id = ProductId::from_uuid(id_at(rng, at));
        let price = price(rng, leaf.family);
        let attributes = parse(
            "attributes",
            parse_attributes(attributes(rng, leaf.family, brand)),
        );
        let variants = variants(rng, leaf.family, &sku);
        let tags = [leaf.slug.as_str(), brand, color]
            .iter()
            .map(|t| parse("tag", Tag::parse(t.to_lowercase())))
            .collect();
        let sku = parse("sku", Sku::parse(sku));
        let name = parse("name", Name::parse(name));
        let category = parse("category", Category::parse(leaf.slug.clone()));
        let stock = stock(rng, &self.warehouses, &sku, id);
        let updated = millis(at);
        let product = Product {
            id,
            sku: sku.clone(),
            name: name.clone(),
            description: parse("description", Description::parse(description)),
            category: category.clone(),
            price,
            low_stock_threshold: parse("threshold", Units::new(rng.random_range(3..15))),
            supplier_id: supplier,
            categories,
            tags,
            attributes,
            variants,
            created_at: at,
            updated_at: updated,
        };
        GeneratedProduct {
            summary: ProductSummary {
                id,
                sku,
                name,
                category,
                supplier_id: supplier,
                price,
            },
            product,
            stock,
        }
    }
}

/// Units on hand: most products well stocked, some low, a few sold out; spread over the
/// default warehouse and one to three others.
fn stock(rng: &mut ChaCha8Rng, warehouses: &[WarehouseId], sku: &Sku, id: ProductId) -> StockLoad {
    let total: u32 = *weighted(rng, &[(0u32, 3), (3, 7), (40, 40), (150, 35), (600, 15)]);
    let total = if total == 0 {
        0
    } else {
        rng.random_range(total / 2..=total * 2)
    };
    let mut split = vec![(WarehouseId::DEFAULT, 0u32)];
    let others = rng.random_range(0..warehouses.len().min(4));
    for w in warehouses.iter().skip(1).take(others) {
        split.push((*w, 0));
    }
    let weights: Vec<u32> = split.iter().map(|_| rng.random_range(1..10)).collect();
    let sum: u32 = weights.iter().sum();
    let mut given = 0;
    for (slot, weight) in split.iter_mut().zip(&weights).skip(1) {
        slot.1 = total * weight / sum;
        given += slot.1;
    }
    split[0].1 = total - given;
    StockLoad {
        sku: sku.clone(),
        product_id: id,
        warehouses: split
            .into_iter()
            .map(|(w, n)| (w, parse("units", Units::new(n))))
            .collect(),
    }
}

/// Region names for addresses.
pub(crate) fn state(rng: &mut ChaCha8Rng) -> String {
    StateName().fake_with_rng(rng)
}
