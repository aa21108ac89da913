//! The app's integration tests, in one test binary (one link of the whole dependency tree
//! instead of one per file):
//!
//! - the HTTP cases: each spawns the real app on a random port, talks to it over HTTP, and
//!   checks what a REST consumer would see; every case runs once per backend, `memory::*`
//!   on the memory adapters, `real::*` on PostgreSQL + MongoDB (`cases!` below);
//! - `gateway`: orders paid through the HTTP gateway adapter, against its simulator;
//! - `contract`: the contract suite on the stores exactly as `emporium serve` wires them;
//! - `crash`: the real binary killed with SIGKILL inside each saga step, and SIGTERM drains;
//! - `outage`: one store stopped under load;
//! - `reconcile_cli`: `emporium reconcile` against stores made to disagree;
//! - `stuck`: compensations that keep failing are surfaced, then finished;
//! - `topology`: replica status (a real standby) and the shard routes.

mod backups;
mod carts;
mod categories;
mod contract;
mod crash;
mod customers;
mod dashboard;
mod faults;
mod feed;
mod gateway;
mod helpers;
mod injection;
mod operations;
mod orders;
mod outage;
mod products;
mod reconcile_cli;
mod reports;
mod reviews;
mod search;
mod seed;
mod stuck;
mod suppliers;
#[path = "../support/mod.rs"]
mod support;
mod topology;
mod traces;
mod warehouses;

/// Declares every case once and expands it for each backend module.
macro_rules! cases {
    ($backend:ident => $spawn:path; $($module:ident :: $case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let app = $spawn().await;
                    crate::$module::$case(&app).await;
                }
            )*
        }
    };
}

macro_rules! all_cases {
    ($backend:ident => $spawn:path) => {
        cases!($backend => $spawn;
            products::create_get_update_delete,
            products::invalid_products_are_refused_and_change_nothing,
            products::list_filters_sort_and_page,
            products::bad_query_parameters_are_400,
            suppliers::supplier_crud_and_reference_conflict,
            orders::confirmed_order_moves_stock_and_money,
            orders::declined_payment_compensates,
            orders::insufficient_stock_changes_nothing,
            orders::invalid_orders_are_422,
            orders::status_moves_and_cancellation,
            orders::list_filters,
            orders::concurrent_orders_never_oversell,
            orders::crossed_baskets_complete,
            orders::deleted_product_keeps_order_snapshot,
            orders::idempotency_key_replays_the_first_response,
            orders::idempotency_key_under_concurrency_places_one_order,
            reports::sales_reports_count_sales_as_they_were_placed,
            reports::low_stock_report_uses_the_threshold_or_each_products_own,
            reports::bad_report_parameters_are_400_naming_them,
            search::search_ranks_filters_and_sorts,
            search::facets_count_the_filtered_products,
            search::bad_search_parameters_are_400,
            feed::feed_pushes_every_kind_of_change,
            feed::feed_topics_filter_and_since_replays,
            feed::feed_bad_requests_are_400_before_the_upgrade,
            feed::feed_supplier_changes_are_opt_in,
            customers::customers_register_update_and_leave_their_orders_behind,
            customers::concurrent_registrations_of_one_email_create_one_customer,
            customers::recommendations_skip_what_was_bought_and_are_served_from_the_customer,
            categories::categories_form_a_tree_that_products_and_reports_follow,
            categories::concurrent_category_writes_keep_the_tree_sound,
            carts::carts_fill_reprice_and_check_out_once,
            carts::concurrent_checkouts_of_a_cart_place_one_order,
            reviews::reviews_rate_products_exactly_under_concurrency,
            reviews::verified_purchases_and_supplier_ratings,
            warehouses::stock_lives_in_warehouses_and_orders_never_oversell_one,
            operations::health_and_openapi,
            operations::errors_are_json,
            operations::openapi_describes_what_the_server_enforces,
            operations::admin_routes_need_the_token,
        );
    };
}

all_cases!(memory => crate::helpers::spawn_memory);
all_cases!(real => crate::helpers::spawn_real);
cases!(real_only => crate::helpers::spawn_real;
    feed::direct_database_changes_reach_clients,
    search::direct_catalog_edits_reach_search,
    seed::the_seeded_shop_is_served_and_a_second_seed_refuses,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backup_then_restore_brings_the_shop_back() {
    let (app, _) = helpers::spawn_memory_with_backups(std::time::Duration::ZERO).await;
    let backup = backups::backup_then_restore_brings_the_shop_back(&app).await;
    assert!(
        backup["positions"]["memory"]["snapshot"].is_string(),
        "{backup}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bad_backup_requests_are_refused() {
    let (app, dir) = helpers::spawn_memory_with_backups(std::time::Duration::ZERO).await;
    backups::bad_backup_requests_are_refused(&app, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backups_run_one_at_a_time() {
    let (app, _) = helpers::spawn_memory_with_backups(std::time::Duration::from_millis(1500)).await;
    backups::one_job_at_a_time(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_backup_then_restore_brings_both_stores_back() {
    let (app, dir) = helpers::spawn_real_with_backups().await;
    let backup = backups::backup_then_restore_brings_the_shop_back(&app).await;
    let postgres = &backup["positions"]["postgres"];
    assert!(
        postgres["lsn"].is_string() && postgres["backup_label"].is_string(),
        "{backup}"
    );
    assert!(
        backup["positions"]["mongodb"]["optime"]["t"].is_u64(),
        "{backup}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.join("backups")
                .join(helpers::id(&backup))
                .join("manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        manifest["stores"]["postgres"]["tool"]
            .as_str()
            .unwrap()
            .starts_with("pgBackRest"),
        "{manifest}"
    );
    assert!(
        manifest["stores"]["postgres"]["counts"]["orders"].as_u64() == Some(1),
        "{manifest}"
    );
    assert!(
        manifest["stores"]["mongodb"]["counts"]["products"].as_u64() == Some(2),
        "{manifest}"
    );
    backups::writes_get_maintenance_during_a_restore(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_cli_backup_is_restored_by_the_server() {
    let (app, dir) = helpers::spawn_real_with_backups().await;
    backups::the_cli_backs_up_what_the_server_restores(&app, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_pitr_undoes_an_accidental_deletion() {
    let (app, _) = helpers::spawn_real_with_backups().await;
    backups::pitr_undoes_an_accidental_deletion(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_stack_backs_up_and_restores() {
    backups::the_private_stack_backs_up_and_restores().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_stack_comes_back_from_a_snapshot_after_losing_its_data() {
    backups::a_snapshot_brings_the_shop_back_after_its_data_directories_are_lost().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_job_of_a_killed_process_is_marked_failed() {
    let (_app, dir) = helpers::spawn_memory_with_backups(std::time::Duration::ZERO).await;
    backups::a_job_whose_process_is_gone_is_marked_failed(&dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_snapshot_of_the_whole_state() {
    let (app, dir) = helpers::spawn_memory_with_backups(std::time::Duration::ZERO).await;
    backups::the_memory_set_snapshots_its_state(&app, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_pitr_needs_a_log() {
    let (app, _) = helpers::spawn_memory_with_backups(std::time::Duration::ZERO).await;
    backups::pitr_needs_a_log(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bad_backup_requests_are_refused() {
    let (app, dir) = helpers::spawn_real_with_backups().await;
    backups::bad_backup_requests_are_refused(&app, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_are_off_without_tokens() {
    operations::admin_routes_are_off_without_tokens().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_index_is_built_at_start() {
    search::the_index_is_built_at_start().await;
}

fn short_cart_ttl() -> emporium_app::startup::AppOptions {
    emporium_app::startup::AppOptions {
        admin_tokens: helpers::admin_tokens(),
        cart_ttl: std::time::Duration::from_secs(1),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_carts_expire_after_their_last_change() {
    let app = helpers::spawn_with(
        emporium_app::backend::Backend::memory(),
        Vec::new(),
        short_cart_ttl(),
    );
    carts::carts_expire_after_their_last_change(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_carts_expire_after_their_last_change() {
    let (backend, guards) = support::real_backend().await;
    let app = helpers::spawn_with(backend, guards, short_cart_ttl());
    carts::carts_expire_after_their_last_change(&app).await;
}

fn with_admin_tokens() -> emporium_app::startup::AppOptions {
    emporium_app::startup::AppOptions {
        admin_tokens: helpers::admin_tokens(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_shard_routes_refuse_a_catalog_that_is_not_sharded() {
    let app = helpers::spawn_with(
        emporium_app::backend::Backend::memory(),
        Vec::new(),
        with_admin_tokens(),
    );
    topology::shard_routes_refuse_a_catalog_that_is_not_sharded(&app, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_shard_routes_refuse_a_catalog_that_is_not_sharded() {
    let (backend, guards) = support::real_backend().await;
    let app = helpers::spawn_with(backend, guards, with_admin_tokens());
    topology::shard_routes_refuse_a_catalog_that_is_not_sharded(&app, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_stack_standby_is_seen_streaming_then_down() {
    topology::a_real_standby_is_seen_streaming_and_then_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_metrics_count_routes_by_pattern() {
    let app = helpers::spawn_with(
        emporium_app::backend::Backend::memory(),
        Vec::new(),
        with_admin_tokens(),
    );
    topology::metrics_count_routes_by_pattern_and_performance_has_quantiles(&app, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_metrics_count_routes_by_pattern() {
    let (backend, guards) = support::real_backend().await;
    let app = helpers::spawn_with(backend, guards, with_admin_tokens());
    topology::metrics_count_routes_by_pattern_and_performance_has_quantiles(&app, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_one_order_is_one_trace() {
    let (backend, guards) = support::real_backend().await;
    let app = helpers::spawn_with(backend, guards, with_admin_tokens());
    traces::one_order_is_one_trace_with_its_saga_steps_and_store_calls(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_listings_read_the_browse_catalog() {
    topology::listings_read_the_browse_catalog_and_product_pages_the_primary().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_faults_between_the_app_and_postgres() {
    let (backend, guards, proxy) = support::real_backend_behind_a_fault_proxy().await;
    let app = helpers::spawn_with(backend, guards, with_admin_tokens());
    faults::latency_slows_orders_and_cut_connections_give_503_then_recovery(&app, &proxy).await;
    faults::a_black_hole_does_not_wedge_the_pool(&app, &proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_command_puts_latency_in_on_its_schedule() {
    faults::the_chaos_command_puts_latency_in_on_its_schedule().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hostile_input_is_data_or_refused() {
    let app = helpers::spawn_with(
        emporium_app::backend::Backend::memory(),
        Vec::new(),
        with_admin_tokens(),
    );
    injection::operators_and_sql_are_data_and_hostile_bodies_are_refused(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_hostile_input_is_data_or_refused() {
    let (backend, guards) = support::real_backend().await;
    let app = helpers::spawn_with(backend, guards, with_admin_tokens());
    injection::operators_and_sql_are_data_and_hostile_bodies_are_refused(&app).await;
}
