//! Every saga's declaration, and the one place that maps a logged saga back to it.

pub mod cancel_order;
pub mod create_product;
pub mod delete_product;
pub mod place_order;

use crate::model::{OrderId, ProductId, SagaKind, SagaRecord};
use crate::ports::Stores;
use crate::saga::{self, Settled};
use crate::Result;

/// Settles an unfinished saga from the log with its own declaration.
pub async fn recover(stores: &Stores, record: SagaRecord) -> Result<Settled> {
    let log = stores.saga_log.as_ref();
    let subject = record.subject;
    match record.kind {
        SagaKind::PlaceOrder => {
            let mut def = place_order::PlaceOrder::recovering(stores, OrderId::from(subject));
            saga::recover(log, &mut def, record).await
        }
        SagaKind::CancelOrder => {
            let mut def = cancel_order::CancelOrder::new(stores, OrderId::from(subject));
            saga::recover(log, &mut def, record).await
        }
        SagaKind::CreateProduct => {
            let mut def =
                create_product::CreateProduct::recovering(stores, ProductId::from(subject));
            saga::recover(log, &mut def, record).await
        }
        SagaKind::DeleteProduct => {
            let mut def = delete_product::DeleteProduct::new(stores, ProductId::from(subject));
            saga::recover(log, &mut def, record).await
        }
    }
}
