//! `/api/admin/backup`, `/restore`, `/pitr`, `/snapshot` and `/backup-logs`: backups,
//! recoveries and snapshots of both stores as jobs (ADR 0015, ADR 0024). The write routes answer 202 with the job and its `Location`; the job runs
//! on, one at a time (a second one gets 409 `conflict` naming the running job).

use super::admin::AdminActor;
use super::dto::{BackupBody, ErrorBody, JobPage, JobResponse, PitrBody, RestoreBody};
use super::error::{ApiError, ApiResult};
use super::query;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use emporium_domain::model::{Job, JobId};
use emporium_domain::service::{JobRequest, RestoreRequest};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/backup")
            .route(web::post().to(start_backup))
            .default_service(super::not_allowed("POST")),
    )
    .service(
        web::resource("/restore")
            .route(web::post().to(start_restore))
            .default_service(super::not_allowed("POST")),
    )
    .service(
        web::resource("/pitr")
            .route(web::post().to(start_pitr))
            .default_service(super::not_allowed("POST")),
    )
    .service(
        web::resource("/snapshot")
            .route(web::post().to(start_snapshot))
            .default_service(super::not_allowed("POST")),
    )
    .service(
        web::resource("/backup-logs")
            .route(web::get().to(backup_logs))
            .default_service(super::not_allowed("GET")),
    )
    .service(
        web::resource("/backup-logs/{id}")
            .route(web::get().to(backup_log))
            .default_service(super::not_allowed("GET")),
    );
}

/// An optional JSON object: no body or `null` means every field's default. Syntax errors
/// are 400; anything but an object, or fields of the wrong type, 422, as for every other
/// body.
fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    // No body at all is every default; a body of only spaces is not JSON (400).
    if body.is_empty() {
        return Ok(T::default());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    match value {
        serde_json::Value::Null => Ok(T::default()),
        value @ serde_json::Value::Object(_) => {
            serde_json::from_value(value).map_err(|e| ApiError::BadBody(e.to_string()))
        }
        _ => Err(ApiError::BadBody("the body must be a JSON object".into())),
    }
}

fn actor(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<AdminActor>().map(|a| a.0.clone())
}

fn accepted(job: Job) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((
            header::LOCATION,
            format!("/api/admin/backup-logs/{}", job.id),
        ))
        .json(JobResponse::from(job))
}

/// Starts a backup of both stores to one consistent point (an empty body: full).
#[utoipa::path(post, path = "/api/admin/backup", tag = "operations",
    request_body(content = Option<BackupBody>, content_type = "application/json"),
    responses(
        (status = 202, body = JobResponse, description = "the backup job; `Location` names its log entry",
            headers(("Location" = String, description = "/api/admin/backup-logs/{id}"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "a job is running (`error.job_id`)"),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn start_backup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: BackupBody = optional_body(&body)?;
    let request = JobRequest::Backup(body.backup_type.unwrap_or_default());
    let job = state.backups.start(actor(&req), request).await?;
    Ok(accepted(job))
}

/// Restores both stores to a backup's consistent point (default: the latest successful
/// backup). Writes get 503 `maintenance` while it runs.
#[utoipa::path(post, path = "/api/admin/restore", tag = "operations",
    request_body(content = Option<RestoreBody>, content_type = "application/json"),
    responses(
        (status = 202, body = JobResponse, description = "the restore job; `Location` names its log entry",
            headers(("Location" = String, description = "/api/admin/backup-logs/{id}"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such backup, or none yet"),
        (status = 409, body = ErrorBody, description = "a job is running (`error.job_id`), or sagas are in flight"),
        (status = 422, body = ErrorBody, description = "the backup's files do not match its checksums"),
        (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn start_restore(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: RestoreBody = optional_body(&body)?;
    let request = RestoreRequest {
        backup_id: body.backup_id.map(JobId::from_uuid),
        force: body.force.unwrap_or(false),
    };
    let job = state
        .backups
        .start(actor(&req), JobRequest::Restore(request))
        .await?;
    Ok(accepted(job))
}

/// Recovers both stores to one moment: the newest backup before it, then each store's
/// archived log (WAL, oplog) replayed up to it. Writes get 503 `maintenance` meanwhile.
#[utoipa::path(post, path = "/api/admin/pitr", tag = "operations",
    request_body(content = PitrBody, content_type = "application/json"),
    responses(
        (status = 202, body = JobResponse, description = "the PITR job; `Location` names its log entry",
            headers(("Location" = String, description = "/api/admin/backup-logs/{id}"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "a job is running (`error.job_id`)"),
        (status = 422, body = ErrorBody, description = "`to` is missing, malformed, or outside the recoverable window (`error.window` `{from, to}`)"),
        (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn start_pitr(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: PitrBody = optional_body(&body)?;
    let to = body
        .to
        .ok_or_else(|| emporium_domain::Error::invalid("to", "is required"))?;
    let to = chrono::DateTime::parse_from_rfc3339(&to)
        .map_err(|e| {
            emporium_domain::Error::invalid("to", format!("is not an RFC 3339 time: {e}"))
        })?
        .with_timezone(&chrono::Utc);
    let job = state
        .backups
        .start(actor(&req), JobRequest::Pitr(to))
        .await?;
    Ok(accepted(job))
}

/// Copies the data directory of every store to one consistent point (ADR 0024): a
/// PostgreSQL copy under a backup label with the WAL that reaches the point, and MongoDB's
/// data directory under `fsyncLock` (or the test server's own archive). For stores that
/// run on this host; RUNBOOK.md says how to start from a snapshot.
#[utoipa::path(post, path = "/api/admin/snapshot", tag = "operations",
    responses(
        (status = 202, body = JobResponse, description = "the snapshot job; `Location` names its log entry",
            headers(("Location" = String, description = "/api/admin/backup-logs/{id}"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "a job is running (`error.job_id`), or a store's data directory is not on this host"),
        (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn start_snapshot(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let job = state
        .backups
        .start(actor(&req), JobRequest::Snapshot)
        .await?;
    Ok(accepted(job))
}

/// The backup log: backups, restores, PITRs and snapshots, newest first. It survives
/// every restore.
#[utoipa::path(get, path = "/api/admin/backup-logs", tag = "operations",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn backup_logs(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state.backups.jobs(query::page(&pairs)?).await?;
    Ok(HttpResponse::Ok().json(JobPage {
        total: page.total,
        limit: page.limit,
        offset: page.offset,
        items: page.items.into_iter().map(JobResponse::from).collect(),
    }))
}

/// One entry of the backup log.
#[utoipa::path(get, path = "/api/admin/backup-logs/{id}", tag = "operations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = JobResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn backup_log(
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    let job = state.backups.job(JobId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(JobResponse::from(job)))
}
