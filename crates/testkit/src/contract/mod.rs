//! The contract suite: what every adapter set must do, written once against the ports.
//!
//! Run it for an adapter set with one line in a test file:
//!
//! ```ignore
//! emporium_testkit::contract_suite!(async { emporium_testkit::Fixture::new(my_stores().await) });
//! ```
//!
//! Each case becomes its own `#[test]` with a fresh fixture, so cases never share state.
//!
//! The cases live in one file per port or concern, and the builders they share in
//! `support.rs`. Every case and every public builder is re-exported here, so
//! `contract::<name>` names each one; [`contract_suite!`](crate::contract_suite) calls the
//! cases by these paths.

mod admin_audit;
mod carts;
mod catalog;
mod categories;
mod crash;
mod customers;
mod feed;
mod idempotency;
mod inventory;
mod order_queue;
mod orders;
mod payments;
mod recommendations;
mod reconcile;
mod recovery;
mod reports;
mod reviews;
mod saga_log;
mod search;
mod seed;
mod services;
mod suppliers;
mod support;
mod warehouses;

pub use admin_audit::*;
pub use carts::*;
pub use catalog::*;
pub use categories::*;
pub use crash::*;
pub use customers::*;
pub use feed::*;
pub use idempotency::*;
pub use inventory::*;
pub use order_queue::*;
pub use orders::*;
pub use payments::*;
pub use recommendations::*;
pub use reconcile::*;
pub use recovery::*;
pub use reports::*;
pub use reviews::*;
pub use saga_log::*;
pub use search::*;
pub use seed::*;
pub use services::*;
pub use suppliers::*;
pub use support::*;
pub use warehouses::*;

use std::future::Future;

/// Runs an async test body on a multi-threaded runtime (real parallelism for the
/// concurrency cases).
pub fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// Expands to one `#[test]` per contract case, each with a fresh fixture from `$fixture`
/// (an expression of type `impl Future<Output = emporium_testkit::Fixture>`).
#[macro_export]
macro_rules! contract_suite {
    ($fixture:expr) => {
        $crate::contract_suite!(@cases $fixture;
            catalog_round_trips_every_field,
            admin_audit_keeps_entries_newest_first,
            catalog_refuses_duplicate_sku_and_changes_nothing,
            catalog_replaces_and_deletes,
            catalog_filters_like_the_reference,
            catalog_sorts_and_pages,
            catalog_counts_products_per_supplier,
            catalog_knows_its_highest_low_stock_threshold,
            suppliers_crud,
            inventory_create_set_and_remove,
            orders_reserve_then_confirm_moves_stock,
            orders_short_line_changes_nothing,
            orders_fail_releases_reservation_once,
            orders_cancel_pending_and_confirmed,
            orders_refuse_invalid_transitions,
            orders_create_pending_is_idempotent,
            orders_list_filters,
            orders_never_oversell_under_concurrency,
            orders_crossed_baskets_do_not_deadlock,
            payments_record_keeps_first_id,
            saga_log_records_steps,
            idempotency_claims_replays_and_mismatches,
            idempotency_one_of_many_concurrent_claims_proceeds,
            saga_places_confirmed_order,
            saga_declined_payment_restores_stock,
            saga_product_create_and_delete,
            placement_recovers_from_a_crash_after_every_step,
            recovery_of_a_dead_placement_another_run_settled_ends_it,
            compensation_of_a_placement_another_run_sold_keeps_the_sale,
            cancellation_recovers_from_a_crash_after_every_step,
            product_sagas_recover_from_a_crash_after_every_step,
            recovery_drives_paid_orders_forward_and_releases_unpaid_ones,
            recovery_expires_abandoned_reservations,
            reconcile_ports_scan_in_pages_and_repair_atomically,
            reconcile_finds_nothing_in_consistent_stores,
            reconcile_creates_missing_stock_records,
            reconcile_removes_orphan_stock_only_when_unreserved,
            reconcile_releases_leaked_reservations_and_reports_missing_ones,
            reconcile_voids_authorizations_of_closed_orders,
            reconcile_records_lost_authorizations_of_sales_and_reports_unpaid_ones,
            reconcile_defers_what_sagas_and_recovery_own,
            reconcile_repairs_never_erase_live_reservations,
            reports_count_sales_as_placed_and_follow_later_changes,
            reports_list_low_stock_lowest_first,
            feed_publishes_ledger_changes_with_increasing_positions,
            feed_records_catalog_changes_once_each,
            feed_external_records_move_the_cursor_only_from_where_it_was,
            feed_prunes_old_events_and_says_a_reader_missed_them,
            order_queue_claims_oldest_first_and_settles,
            queued_orders_are_placed_in_arrival_order,
            a_queued_order_reads_as_queued_until_placed,
            customers_keep_emails_unique_without_case,
            deleting_a_customer_anonymises_their_orders,
            category_tree_is_written_whole_with_compare_and_set,
            category_service_keeps_sibling_slugs_unique_under_concurrency,
            products_are_counted_moved_and_found_by_category_subtree,
            carts_write_with_compare_and_set_and_expire,
            concurrent_checkouts_of_one_cart_place_one_order,
            reviews_are_one_per_customer_and_ratings_exact,
            reviews_list_sorted_and_products_rank_by_rating,
            bulk_loads_are_ordinary_records_and_refused_whole_on_duplicates,
            a_seeded_shop_is_consistent_and_refuses_a_second_seed,
            purchase_affinity_counts_what_others_bought_with_it,
            recommendations_rank_co_purchases_then_ratings_and_are_cached,
            orders_draw_from_the_fullest_warehouse_and_split,
            concurrent_orders_never_oversell_any_warehouse
        );
    };
    (@cases $fixture:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::contract::run(async {
                    let fixture: $crate::Fixture = $fixture.await;
                    $crate::contract::$case(&fixture.stores).await;
                    drop(fixture);
                });
            }
        )*
    };
}
