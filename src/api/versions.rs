//! Version discovery: `GET /` (300, every version) and `GET /v1` (200, this version). With
//! microversion 1.0 (no header) the bodies are the legacy `stable` form; with 1.1 they carry
//! `CURRENT` and the min/max microversions python-barbicanclient negotiates with.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::context::{ApiVersion, Microversion};
use super::support::AppState;
use crate::json::json_response;

#[derive(Serialize, ToSchema)]
pub struct Link {
    rel: &'static str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    media_type: Option<&'static str>,
    href: String,
}

#[derive(Serialize, ToSchema)]
pub struct MediaType {
    base: &'static str,
    #[serde(rename = "type")]
    media_type: &'static str,
}

/// One API version.
#[derive(Serialize, ToSchema)]
pub struct VersionInfo {
    id: &'static str,
    /// `stable` (legacy form) or `CURRENT` (microversioned form).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_version: Option<String>,
    links: Vec<Link>,
    #[serde(rename = "media-types", skip_serializing_if = "Option::is_none")]
    media_types: Option<Vec<MediaType>>,
}

fn v1_info(href: &str, microversioned: bool) -> VersionInfo {
    let links = vec![
        Link {
            rel: "self",
            media_type: None,
            href: format!("{href}/v1/"),
        },
        Link {
            rel: "describedby",
            media_type: Some("text/html"),
            href: "https://docs.openstack.org/".to_owned(),
        },
    ];
    if microversioned {
        VersionInfo {
            id: "v1",
            status: "CURRENT",
            min_version: Some(Microversion::MIN.to_string()),
            max_version: Some(Microversion::MAX.to_string()),
            links,
            media_types: None,
        }
    } else {
        VersionInfo {
            id: "v1",
            status: "stable",
            min_version: None,
            max_version: None,
            links,
            media_types: Some(vec![MediaType {
                base: "application/json",
                media_type: "application/vnd.openstack.key-manager-v1+json",
            }]),
        }
    }
}

#[derive(Serialize)]
struct LegacyVersions {
    versions: LegacyValues,
}

#[derive(Serialize)]
struct LegacyValues {
    values: Vec<VersionInfo>,
}

#[derive(Serialize)]
struct CurrentVersions {
    versions: Vec<VersionInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionDoc {
    version: VersionInfo,
}

/// List API versions.
#[utoipa::path(
    get, path = "/", tag = "versions", operation_id = "list_versions",
    security(()),
    params(("OpenStack-API-Version" = Option<String>, Header, description = "`key-manager 1.1` (or later) for the microversioned form, with `min_version` and `max_version`")),
    responses(
        (status = 300, description = "The available versions", body = serde_json::Value,
            example = json!({"versions": {"values": [{"id": "v1", "status": "stable", "links": [{"rel": "self", "href": "http://127.0.0.1:9311/v1/"}, {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}], "media-types": [{"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}]}]}})),
        (status = 406, description = "Unsupported microversion", content_type = "text/plain", body = String,
            example = "406 Not Acceptable\n\nThe resource could not be generated that was acceptable to your browser (content of type */*. \n\n Invalid microversion: Unacceptable version header: 9.9"),
    )
)]
pub async fn root(
    state: web::Data<AppState>,
    req: HttpRequest,
    version: ApiVersion,
) -> HttpResponse {
    let href = state.href(&req);
    if version.0 > Microversion::MIN {
        json_response(
            StatusCode::MULTIPLE_CHOICES,
            &CurrentVersions {
                versions: vec![v1_info(&href, true)],
            },
        )
    } else {
        json_response(
            StatusCode::MULTIPLE_CHOICES,
            &LegacyVersions {
                versions: LegacyValues {
                    values: vec![v1_info(&href, false)],
                },
            },
        )
    }
}

/// Describe API version 1.
#[utoipa::path(
    get, path = "/v1", tag = "versions", operation_id = "get_version_v1",
    params(("OpenStack-API-Version" = Option<String>, Header, description = "`key-manager 1.1` (or later) for the microversioned form, with `min_version` and `max_version`")),
    responses((status = 200, description = "Version 1", body = VersionDoc))
)]
pub async fn v1(state: web::Data<AppState>, req: HttpRequest, version: ApiVersion) -> HttpResponse {
    let href = state.href(&req);
    json_response(
        StatusCode::OK,
        &VersionDoc {
            version: v1_info(&href, version.0 > Microversion::MIN),
        },
    )
}
