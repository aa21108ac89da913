//! `emporium seed` (ADR 0023): the seed generator on the configured stores, with a
//! progress bar per stage on stderr and the report as JSON on stdout.

use crate::backend::Backend;
use emporium_seed::{Progress, SeedPlan, SeedReport, SeedTargets, Stage};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;

/// The seed's ports on a wired backend: bulk loaders straight on the adapters.
pub fn targets(backend: &Backend) -> SeedTargets {
    SeedTargets {
        catalog: backend.stores.catalog_load.clone(),
        ledger: backend.stores.ledger_load.clone(),
        categories: backend.stores.categories.clone(),
        warehouses: backend.stores.warehouses.clone(),
        reports: backend.unbounded_reports.clone(),
    }
}

/// One indicatif bar per stage.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<&'static str, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, stage: Stage) -> Option<ProgressBar> {
        self.bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(stage.label())
            .cloned()
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Progress for Bars {
    fn begin(&self, stage: Stage, total: u64) {
        let bar = if total == 0 {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::new(total)
        };
        let template = if total == 0 {
            "{spinner} [{elapsed_precise}] {pos:>9} {msg}"
        } else {
            "{spinner} [{elapsed_precise}] {bar:30} {pos:>9}/{len:9} {per_sec:>12} {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(stage.label());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let bar = self.multi.add(bar);
        self.bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(stage.label(), bar);
    }

    fn advance(&self, stage: Stage, by: u64) {
        if let Some(bar) = self.bar(stage) {
            bar.inc(by);
        }
    }

    fn end(&self, stage: Stage) {
        if let Some(bar) = self.bar(stage) {
            bar.finish();
        }
    }
}

/// The report as the CLI prints it.
pub fn report_json(plan: &SeedPlan, report: &SeedReport) -> serde_json::Value {
    serde_json::json!({
        "seed": plan.seed,
        "end": plan.end,
        "written": {
            "suppliers": report.suppliers,
            "categories": report.categories,
            "warehouses": report.warehouses,
            "products": report.products,
            "stock_units": report.stock_units,
            "customers": report.customers,
            "orders": report.orders,
            "order_lines": report.order_lines,
            "reviews": report.reviews,
        },
        "stages_seconds": report.stages.iter()
            .map(|(s, d)| (s.label().to_owned(), serde_json::json!((d.as_secs_f64() * 10.0).round() / 10.0)))
            .collect::<serde_json::Map<_, _>>(),
        "elapsed_seconds": (report.elapsed.as_secs_f64() * 10.0).round() / 10.0,
    })
}
