//! A year of order history: orders growing busier towards the end, popular products and
//! returning customers, a realistic mix of statuses with their payments, and reviews of
//! what was delivered.

use crate::catalog::ProductSummary;
use crate::people::CustomerSummary;
use crate::random::{id_at, millis, skewed, weighted};
use chrono::Duration;
use emporium_domain::model::{
    Description, Money, Name, Order, OrderId, OrderItem, OrderStatus, Payment, PaymentId,
    PaymentStatus, Quantity, Review, ReviewId, ReviewSubject, Stars, Supplier, Timestamp,
};
use fake::faker::lorem::en::{Paragraph, Sentence};
use fake::Fake;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// Makes orders one after the other, remembering who reviewed what.
pub(crate) struct OrderFactory {
    pub rng: ChaCha8Rng,
    pub end: Timestamp,
    pub products: Vec<ProductSummary>,
    pub customers: Vec<CustomerSummary>,
    /// `(customer, product)` indices already reviewed: one review per customer and product.
    pub reviewed: HashSet<(u32, u32)>,
}

fn later(at: Timestamp, by: Duration, end: Timestamp) -> Timestamp {
    millis((at + by).min(end))
}

fn stars(rng: &mut ChaCha8Rng) -> Stars {
    let n = *weighted(rng, &[(5i64, 45), (4, 30), (3, 12), (2, 6), (1, 7)]);
    Stars::new(n).expect("1 to 5 stars")
}

fn title(rng: &mut ChaCha8Rng) -> Name {
    let mut t: String = Sentence(2..6).fake_with_rng(rng);
    t.truncate(120);
    Name::parse(t.trim_end_matches('.').to_owned()).expect("a generated title is valid")
}

fn body(rng: &mut ChaCha8Rng) -> Description {
    let text: String = Paragraph(1..4).fake_with_rng(rng);
    Description::parse(text.replace(char::is_control, " ")).expect("a generated body is valid")
}

impl OrderFactory {
    /// Order number `n`, and the reviews its delivery brought.
    pub(crate) fn make(&mut self) -> (Order, Vec<Review>) {
        let rng = &mut self.rng;
        // More orders towards the end: days before `end` with density falling linearly.
        let x: f64 = rng.random::<f64>().sqrt();
        let days_ago = 365.0 * (1.0 - x) + 0.001;
        let created = millis(self.end - Duration::milliseconds((days_ago * 86_400_000.0) as i64));
        let customer_index = skewed(rng, self.customers.len(), 1.6);
        let customer = &self.customers[customer_index];
        let lines = *weighted(rng, &[(1usize, 50), (2, 30), (3, 14), (4, 6)]);
        let mut chosen: Vec<usize> = Vec::with_capacity(lines);
        while chosen.len() < lines.min(self.products.len()) {
            let p = skewed(rng, self.products.len(), 2.2);
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }
        let items: Vec<OrderItem> = chosen
            .iter()
            .map(|&p| {
                let product = &self.products[p];
                let quantity = *weighted(rng, &[(1i64, 80), (2, 15), (3, 5)]);
                OrderItem {
                    product_id: product.id,
                    sku: product.sku.clone(),
                    name: product.name.clone(),
                    category: product.category.clone(),
                    supplier_id: product.supplier_id,
                    quantity: Quantity::new(quantity).expect("1 to 3"),
                    unit_price: product.price,
                    line_total: product.price.times(quantity as u32).expect("small totals"),
                }
            })
            .collect();
        let total = items
            .iter()
            .try_fold(Money::zero(items[0].unit_price.currency()), |sum, i| {
                sum.plus(&i.line_total)
            })
            .expect("small totals");

        let age = self.end - created;
        let roll: f64 = rng.random();
        let (status, updated) = if roll < 0.04 {
            (
                OrderStatus::Failed,
                later(created, Duration::seconds(2), self.end),
            )
        } else if roll < 0.10 {
            let after = Duration::minutes(rng.random_range(5..2880));
            (OrderStatus::Cancelled, later(created, after, self.end))
        } else if age < Duration::days(1) {
            (
                OrderStatus::Confirmed,
                later(created, Duration::seconds(1), self.end),
            )
        } else if age < Duration::days(2) || (age < Duration::days(5) && rng.random_bool(0.5)) {
            let after = Duration::hours(rng.random_range(6..30));
            (OrderStatus::Shipped, later(created, after, self.end))
        } else {
            let after = Duration::hours(rng.random_range(40..150));
            (OrderStatus::Delivered, later(created, after, self.end))
        };
        let id = OrderId::from_uuid(id_at(rng, created));
        let payment_status = match status {
            OrderStatus::Failed => PaymentStatus::Declined,
            OrderStatus::Cancelled => PaymentStatus::Voided,
            _ => PaymentStatus::Authorized,
        };
        let declined = payment_status == PaymentStatus::Declined;
        let payment = Payment {
            id: PaymentId::from_uuid(id_at(rng, created)),
            order_id: id,
            status: payment_status,
            amount: total,
            method: "card".to_owned(),
            gateway_ref: (!declined).then(|| format!("seed_{}", id.as_uuid().simple())),
            decline_reason: declined.then(|| "card_declined".to_owned()),
            created_at: created,
            updated_at: if status == OrderStatus::Cancelled {
                updated
            } else {
                created
            },
        };

        let mut reviews = Vec::new();
        if status == OrderStatus::Delivered {
            for &p in &chosen {
                if !self.rng.random_bool(0.08)
                    || !self.reviewed.insert((customer_index as u32, p as u32))
                {
                    continue;
                }
                let rng = &mut self.rng;
                let at = later(updated, Duration::hours(rng.random_range(2..400)), self.end);
                reviews.push(Review {
                    id: ReviewId::from_uuid(id_at(rng, at)),
                    subject: ReviewSubject::Product(self.products[p].id),
                    customer_id: customer.id.clone(),
                    rating: stars(rng),
                    title: Some(title(rng)),
                    body: body(rng),
                    verified_purchase: true,
                    created_at: at,
                });
            }
        }
        let order = Order {
            id,
            customer_id: customer.id.clone(),
            customer_name: Some(customer.name.clone()),
            status,
            items,
            total,
            payment: Some(payment),
            failure_reason: None,
            created_at: created,
            updated_at: updated,
        };
        (order, reviews)
    }
}

/// Partner ratings (seed 003): two to eight reviews of each supplier by customers.
pub(crate) fn supplier_reviews(
    rng: &mut ChaCha8Rng,
    suppliers: &[Supplier],
    customers: &[CustomerSummary],
    end: Timestamp,
) -> Vec<Review> {
    let mut out = Vec::new();
    if customers.is_empty() {
        return out;
    }
    for supplier in suppliers {
        let mut by: HashSet<usize> = HashSet::new();
        for _ in 0..rng.random_range(2..=8) {
            let c = rng.random_range(0..customers.len());
            if !by.insert(c) {
                continue;
            }
            let at = crate::random::before(rng, end, 1.0, 300.0);
            out.push(Review {
                id: ReviewId::from_uuid(id_at(rng, at)),
                subject: ReviewSubject::Supplier(supplier.id),
                customer_id: customers[c].id.clone(),
                rating: stars(rng),
                title: Some(title(rng)),
                body: body(rng),
                verified_purchase: false,
                created_at: at,
            });
        }
    }
    out
}
