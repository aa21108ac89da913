//! Step 3 for reservations: a stock record's `reserved` against the units pending orders
//! hold. A leak is released under the stock row's lock; a shortfall is for a human.

use super::{failed, Finding, FindingKind, Mode, ReconciliationService, Resolution};
use crate::error::Result;
use crate::model::Sku;
use crate::ports::Holding;

impl ReconciliationService {
    /// Confirmed with one consistent reading; repaired under the stock row's lock, so an
    /// order placed between this reading and the repair is counted, not erased. A repaired
    /// finding reports the reading taken under the lock, which is the one acted on.
    pub(super) async fn settle_reservation(&self, sku: Sku, mode: Mode) -> Result<Option<Finding>> {
        let Some(holding) = self.stores.audit.holding(&sku).await? else {
            return Ok(None);
        };
        let finding = |holding: &Holding, resolution| {
            let (reserved, held) = (u64::from(holding.level.reserved), holding.held);
            Finding {
                kind: if held > reserved {
                    FindingKind::MissingReservation
                } else {
                    FindingKind::LeakedReservation
                },
                sku: Some(sku.clone()),
                product_id: Some(holding.level.product_id),
                order_id: None,
                expected: format!("reserved {held} (the units pending orders hold)"),
                actual: format!("reserved {reserved}"),
                resolution,
            }
        };
        let (reserved, held) = (u64::from(holding.level.reserved), holding.held);
        if held > reserved {
            return Ok(Some(finding(&holding, missing_reservation())));
        }
        if held == reserved {
            return Ok(None);
        }
        if mode == Mode::Check {
            let action = format!(
                "release {} leaked units (lower reserved to {held})",
                reserved - held
            );
            return Ok(Some(finding(&holding, Resolution::Repairable { action })));
        }
        match self.stores.audit.release_leaked(&sku).await {
            Ok(Some(release)) if release.released() > 0 => {
                tracing::info!(
                    %sku,
                    released = release.released(),
                    "released a leaked reservation"
                );
                let action = format!(
                    "released {} leaked units (reserved {} -> {})",
                    release.released(),
                    release.found.level.reserved,
                    release.level.reserved
                );
                Ok(Some(finding(
                    &release.found,
                    Resolution::Repaired { action },
                )))
            }
            // Pending orders now hold more than is reserved: not for a program to settle.
            Ok(Some(release)) if release.found.held > u64::from(release.found.level.reserved) => {
                Ok(Some(finding(&release.found, missing_reservation())))
            }
            // Orders moved meanwhile and the record agrees with them now, or it is gone.
            Ok(_) => Ok(None),
            Err(e) => {
                let action = "release the leaked units".to_owned();
                Ok(Some(finding(&holding, failed(action, e))))
            }
        }
    }
}

fn missing_reservation() -> Resolution {
    Resolution::NeedsHuman {
        reason: "pending orders hold more units than are reserved, so units may be sold \
                 twice: count the stock and compare it with the pending orders before \
                 changing either"
            .into(),
    }
}
