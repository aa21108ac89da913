//! Services: the use cases, written against the ports only.

mod catalog;
mod orders;
mod saga;
mod suppliers;

pub use catalog::{CatalogService, ProductView};
pub use orders::OrderService;
pub use saga::SagaRun;
pub use suppliers::{SupplierService, SupplierView};
