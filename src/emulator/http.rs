//! The HTTP front: serves `/api/<name>` and `/pages/server/api/<name>`, in TarsWeb's
//! middleware order: latency, call counting, the ticket check (kind B), body parsing and
//! parameter merging, the fault rules, the handler, then token translation.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::endpoints::{self, Ctx, Route, Upload};
use super::i18n::{self, Locale};
use super::params::Params;
use super::reply::{self, Fail, Rendered};
use super::state::{Shared, uid_for};

/// Upload limit of TarsWeb's multer (100 MB).
const BODY_LIMIT: usize = 100 * 1024 * 1024;
/// multer's `upload.array('suse', 5)`.
const MAX_FILES: usize = 5;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

/// The endpoint name of a path under one of the two API prefixes.
fn endpoint_name(path: &str) -> Option<&str> {
    ["/api/", "/pages/server/api/"]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix))
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    if !shared.settings.latency.is_zero() {
        tokio::time::sleep(shared.settings.latency).await;
    }
    let Some(route) = endpoint_name(request.uri().path()).and_then(endpoints::find) else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    if !route.verb.allows(request.method()) {
        return (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").into_response();
    }
    let cookies = cookies(request.headers());
    let cookie_locale = Locale::from_name(
        cookies
            .iter()
            .find(|(k, _)| k == "locale")
            .map(|(_, v)| v.as_str()),
    );
    let query: Vec<(String, String)> = Query::try_from_uri(request.uri())
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    let ticket = query
        .iter()
        .rev()
        .find(|(k, _)| k == "ticket")
        .or_else(|| cookies.iter().find(|(k, _)| k == "ticket"))
        .map(|(_, v)| v.clone());

    let (uid, faulted, late) = {
        let mut inner = shared.lock();
        let faulted = inner.faults.record_call(route.name);
        let late = inner.faults.late_answer(route.name);
        let uid = if route.public {
            Some(String::new())
        } else {
            uid_for(&shared.settings, &inner, ticket.as_deref())
        };
        (uid, faulted, late)
    };
    let Some(uid) = uid else {
        return respond(reply::no_login(), cookie_locale);
    };

    let mut params = Params::default();
    params.merge(query.into_iter().map(|(k, v)| (k, Value::String(v))));
    let files = match read_body(request, &mut params).await {
        Ok(files) => files,
        Err(rendered) => return respond(rendered, cookie_locale),
    };
    let params = match route.valid_params {
        Some(keys) => params.filtered(keys),
        None => params,
    };
    let locale = match params.opt_text("__locale") {
        Some(name) => Locale::from_name(Some(&name)),
        None => cookie_locale,
    };
    let rendered = reply::render(if faulted {
        Err(Fail::System)
    } else {
        run(&shared, route, params, uid, files)
    });
    if let Some(delay) = late {
        tokio::time::sleep(delay).await;
    }
    respond(rendered, locale)
}

fn run(shared: &Arc<Shared>, route: &Route, params: Params, uid: String, files: Vec<Upload>) -> reply::Reply {
    let mut guard = shared.lock();
    let mut ctx = Ctx {
        inner: &mut guard,
        shared,
        params,
        uid,
        files,
    };
    let reply = (route.handler)(&mut ctx);
    shared.persist_if_dirty(&mut guard);
    reply
}

/// Merges the JSON, form or multipart body into `params`; returns the uploaded files.
async fn read_body(request: Request, params: &mut Params) -> Result<Vec<Upload>, Rendered> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| crash(&e.to_string()))?;
        return read_multipart(multipart, params).await;
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(request, &())
            .await
            .map_err(|e| bad_request(&e.to_string()))?;
        params.merge(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
        return Ok(Vec::new());
    }
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|e| bad_request(&e.to_string()))?;
    let is_json = content_type.starts_with("application/json") || content_type.contains("+json");
    if is_json && !bytes.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => params.merge(map),
            Ok(_) => {}
            Err(_) => return Err(bad_request("invalid JSON, only supports object and array")),
        }
    }
    Ok(Vec::new())
}

async fn read_multipart(mut multipart: Multipart, params: &mut Params) -> Result<Vec<Upload>, Rendered> {
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| crash(&e.to_string()))? {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name() {
            Some(_) => {
                if name != "suse" || files.len() == MAX_FILES {
                    return Err(crash("MulterError: Unexpected field"));
                }
                let bytes = field.bytes().await.map_err(|e| crash(&e.to_string()))?;
                files.push(Upload { bytes });
            }
            None => {
                let text = field.text().await.map_err(|e| crash(&e.to_string()))?;
                params.merge([(name, Value::String(text))]);
            }
        }
    }
    Ok(files)
}

fn crash(reason: &str) -> Rendered {
    reply::render(Err(Fail::Crash(reason.to_string())))
}

fn bad_request(reason: &str) -> Rendered {
    Rendered {
        status: 400,
        json: false,
        body: reason.to_string(),
    }
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn respond(rendered: Rendered, locale: Locale) -> Response {
    let status = StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (body, content_type) = if rendered.json {
        (
            i18n::translate(&rendered.body, locale),
            "application/json; charset=utf-8",
        )
    } else {
        (rendered.body, "text/html; charset=utf-8")
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_prefixes_name_the_endpoint() {
        assert_eq!(super::endpoint_name("/api/server_list"), Some("server_list"));
        assert_eq!(super::endpoint_name("/pages/server/api/ticket"), Some("ticket"));
        assert_eq!(super::endpoint_name("/api/"), None);
        assert_eq!(super::endpoint_name("/api/auth/x"), None);
        assert_eq!(super::endpoint_name("/static/x"), None);
    }
}
